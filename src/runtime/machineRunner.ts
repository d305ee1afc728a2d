import { createActor, type AnyActorRef, type AnyMachineSnapshot } from 'xstate';
import type { ActorDefinition } from './actorDefinition.js';
import { IncompatibleSnapshotError, StepTimeoutError } from '../base/errors.js';
import type { HitlEmitted } from './effects.js';

/** What one step of a machine produced. */
export interface MachineStep {
  /** The persisted snapshot to store (plain JSON). */
  snapshot: unknown;
  status: 'active' | 'done';
  emitted: HitlEmitted[];
}

function isSettled(snapshot: AnyMachineSnapshot): boolean {
  // A machine is settled when it is final, or waits for a message with no invoked work running.
  return snapshot.status !== 'active' || Object.keys(snapshot.children as object).length === 0;
}

/**
 * Restores (or creates) an actor, sends it `event`, runs its invoked work until it settles,
 * and returns the new persisted snapshot with the effects it emitted.
 * Throws {@link IncompatibleSnapshotError} when the snapshot does not fit the machine, and
 * {@link StepTimeoutError} when its work has not settled after `timeoutMs` (the actor is
 * stopped; a promise that never answers is left behind, its answer ignored).
 */
export async function runMachine(
  def: ActorDefinition,
  from: { snapshot: unknown } | { input: Record<string, unknown> },
  event: { type: string } | undefined,
  workflowId: string,
  timeoutMs?: number,
): Promise<MachineStep> {
  const emitted: HitlEmitted[] = [];
  let failure: unknown;
  const actor: AnyActorRef =
    'snapshot' in from
      ? createActor(def.machine, { snapshot: from.snapshot as AnyMachineSnapshot, input: {} })
      : createActor(def.machine, { input: from.input });
  // Set only while this step waits: a restored actor that is already settled notifies on start,
  // and that must not count as the end of the work the event below sets off.
  let wake: (() => void) | undefined;
  actor.subscribe({
    next: (s: AnyMachineSnapshot) => {
      if (isSettled(s)) wake?.();
    },
    error: (err: unknown) => {
      failure = err;
      wake?.();
    },
  });
  actor.on('*', (e: HitlEmitted) => emitted.push(e));
  actor.start();
  const restoredStatus = (actor.getSnapshot() as AnyMachineSnapshot).status;
  if (failure !== undefined || restoredStatus === 'error') {
    actor.stop();
    const err = failure ?? (actor.getSnapshot() as AnyMachineSnapshot).error;
    const reason = err instanceof Error ? err.message : String(err);
    // A new actor that fails as it starts (an entry action threw) has no snapshot to blame: a
    // failed step, redelivered up to the limit, not a workflow to fail at once.
    if (!('snapshot' in from))
      throw new Error(`machine '${def.kind}' failed: ${reason}`, { cause: err });
    throw new IncompatibleSnapshotError(
      `snapshot of '${def.kind}' does not fit machine version ${def.version}: ${reason}`,
      { workflowId },
    );
  }
  if (event) actor.send(event);
  // Nothing to wait for when settled now; the subscription may not fire for a no-op event.
  if (failure === undefined && !isSettled(actor.getSnapshot() as AnyMachineSnapshot)) {
    let timer: NodeJS.Timeout | undefined;
    const settled = await new Promise<boolean>((resolve) => {
      wake = () => resolve(true);
      if (timeoutMs !== undefined) timer = setTimeout(() => resolve(false), timeoutMs);
    });
    clearTimeout(timer);
    if (!settled) {
      actor.stop();
      throw new StepTimeoutError(
        `step of '${def.kind}' did not settle within ${timeoutMs} ms (HITL_STEP_TIMEOUT_MS): an invoked promise never answered`,
        { workflowId },
      );
    }
  }
  const snap = actor.getSnapshot() as AnyMachineSnapshot;
  const persisted = actor.getPersistedSnapshot();
  actor.stop();
  if (failure !== undefined || snap.status === 'error') {
    const err = failure ?? snap.error;
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`machine '${def.kind}' failed: ${reason}`, { cause: err });
  }
  return { snapshot: persisted, status: snap.status === 'done' ? 'done' : 'active', emitted };
}
