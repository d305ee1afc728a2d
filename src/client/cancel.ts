import { nuid } from '@nats-io/transport-node';
import { describeError, WorkflowNotCancelledError } from '../base/errors.js';
import {
  CancelMessageSchema,
  describeZodError,
  type EventEnvelope,
  type InterruptRecord,
  type SnapshotEnvelope,
} from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';
import type { StoredSnapshot } from '../stores/snapshotStore.js';
import type { EventWatch } from './eventWatch.js';

/** What {@link HitlClient.cancel} ended. */
export interface CancelResult {
  workflowId: string;
  /** The actor the cancel went to: the one waiting for a human, or parked at a failed step. */
  actor: string;
  /** What that actor was doing: waiting for a human (`paused`) or for `hitl retry` (`parked`). */
  was: 'paused' | 'parked';
  /** The cancel's message id, which the `completed` event names as `cancelId`. */
  cancelId: string;
  /** Who cancelled, as the event records it. */
  by: string;
  reason: string;
  /** The `completed` event that ended the workflow (`outcome: "cancelled"`). */
  completed: EventEnvelope;
}

/** What a cancel needs of the client that sends it. */
export interface CancelDeps {
  subjects: Subjects;
  snapshots(workflowId: string): Promise<StoredSnapshot[]>;
  interrupt(workflowId: string): Promise<InterruptRecord | undefined>;
  events(workflowId: string): Promise<EventEnvelope[]>;
  /** Live events of the workflow, subscribed to before the cancel is published. */
  watch(workflowId: string): EventWatch;
  publish(subject: string, payload: unknown, msgId: string): Promise<unknown>;
}

/**
 * Sends `hitl.cancel` to the actor of `wf` that waits, and waits for what became of it (see
 * HitlClient.cancel). Throws {@link WorkflowNotCancelledError} saying why it did not end it.
 */
export async function cancelWorkflow(
  deps: CancelDeps,
  wf: string,
  options: { reason: string; by: string; timeoutMs: number },
): Promise<CancelResult> {
  const not = (why: string) =>
    new WorkflowNotCancelledError(`workflow '${wf}' was not cancelled: ${why}`, {
      workflowId: wf,
    });
  const message = CancelMessageSchema.safeParse({
    type: 'hitl.cancel',
    reason: options.reason,
    by: options.by,
  });
  if (!message.success) throw not(describeZodError(message.error));
  const snapshots = await deps.snapshots(wf);
  let target = cancelTarget(snapshots.map((s) => s.envelope));
  if (!target) {
    // The interrupts bucket names the waiting actor too, should its snapshot not say so.
    const pending = await deps.interrupt(wf);
    if (pending) target = { actor: pending.actor, was: 'paused' };
  }
  if (!target) throw not(whyNotCancellable(deps.subjects, await deps.events(wf), snapshots));
  const { actor } = target;
  const cancelId = `cancel.${nuid.next()}`;
  const watch = deps.watch(wf);
  try {
    await deps.publish(deps.subjects.mailbox(actor, wf), message.data, `${wf}.${cancelId}`);
    let outcome: Awaited<ReturnType<typeof awaitCancel>>;
    try {
      outcome = await awaitCancel(watch, cancelId, options.timeoutMs);
    } catch (err) {
      if (!/^timed out/.test(describeError(err))) throw err;
      const after = await deps.snapshots(wf);
      const taken = after.find((s) => s.envelope.kind === actor)?.envelope;
      throw not(
        taken?.applied.includes(cancelId)
          ? `a worker took the cancel without applying it (a worker of a version without hitl cancel, during a rolling upgrade?); the workflow is unchanged: run hitl cancel again once every worker hosting '${actor}' is upgraded`
          : `no worker applied the cancel within ${options.timeoutMs} ms (is a worker hosting '${actor}' running?); it waits in the actor's mailbox and ends the workflow when one runs`,
      );
    }
    if ('refused' in outcome) throw not(outcome.refused);
    return {
      workflowId: wf,
      ...target,
      cancelId,
      by: message.data.by,
      reason: message.data.reason,
      completed: outcome.completed,
    };
  } finally {
    watch.close();
  }
}

/** Why a workflow with no paused or parked actor cannot be cancelled, from its event log. */
function whyNotCancellable(
  subjects: Subjects,
  events: readonly EventEnvelope[],
  snapshots: readonly StoredSnapshot[],
): string {
  const completed = events.find((e) => e.type === 'completed');
  if (completed) {
    const by = completed.data.outcome === 'cancelled' ? ` by ${String(completed.data.by)}` : '';
    return `it has completed (${String(completed.data.outcome)}${by}); there is nothing to cancel`;
  }
  if (events.length === 0 && snapshots.length === 0) {
    return `there is no such workflow (no events and no snapshots under prefix '${subjects.prefix}')`;
  }
  return 'it is neither paused nor parked (a step of it is running): try again once it waits';
}

/**
 * The actor of a workflow that a cancel ends: the active one parked at a failed step (the
 * latest, should two be), else the active one waiting for a human. Undefined when no actor is
 * either (the workflow runs, has ended, or does not exist).
 *
 * @example
 * const target = cancelTarget((await client.snapshots('wf-1')).map((s) => s.envelope));
 */
export function cancelTarget(
  actors: readonly Pick<SnapshotEnvelope, 'kind' | 'status' | 'parked' | 'interrupt'>[],
): { actor: string; was: 'paused' | 'parked' } | undefined {
  const active = actors.filter((a) => a.status === 'active');
  const parked = active
    .filter((a) => a.parked)
    .sort((a, b) => ((a.parked?.at ?? '') < (b.parked?.at ?? '') ? 1 : -1))[0];
  if (parked) return { actor: parked.kind, was: 'parked' };
  const paused = active.find((a) => a.interrupt);
  return paused ? { actor: paused.kind, was: 'paused' } : undefined;
}

/**
 * Waits for what became of cancel `cancelId`: the `completed` it caused, or why it did not end
 * the workflow (a `cancel_rejected` naming it, or a `completed` of another cause).
 */
async function awaitCancel(
  watch: EventWatch,
  cancelId: string,
  timeoutMs: number,
): Promise<{ completed: EventEnvelope } | { refused: string }> {
  return watch.next<{ completed: EventEnvelope } | { refused: string }>(
    (e) => {
      if (e.type === 'completed') {
        if (e.data.cancelId === cancelId) return { completed: e };
        const by = e.data.outcome === 'cancelled' ? ` by ${String(e.data.by)}` : '';
        return { refused: `it completed (${String(e.data.outcome)}${by}) before the cancel` };
      }
      if (e.type === 'cancel_rejected' && e.data.cancelId === cancelId) {
        return { refused: String(e.data.reason) };
      }
      return undefined;
    },
    timeoutMs,
    'the cancel',
  );
}
