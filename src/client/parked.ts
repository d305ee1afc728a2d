import type { EventEnvelope, InterruptRecord, SnapshotEnvelope } from '../base/schemas.js';
import type { ParkedStep } from '../stores/snapshotStore.js';

/**
 * Finds where a workflow is parked, from its event timeline and its actors' snapshot statuses:
 * the last retryable `failed` event, when the workflow has not completed, its actor has emitted
 * nothing since (a retry that went on would have) and its snapshot is still active. Otherwise
 * says, in words a person can act on, why there is nothing to retry.
 *
 * @example
 * const found = findParkedStep('wf-1', events, [{ kind: 'triage', status: 'active' }]);
 * if ('notParked' in found) throw new Error(found.notParked);
 */
export function findParkedStep(
  workflowId: string,
  events: readonly EventEnvelope[],
  actors: readonly { kind: string; status: string }[],
  pending?: InterruptRecord,
): { parked: ParkedStep } | { notParked: string } {
  const not = (why: string) => ({ notParked: `workflow '${workflowId}' is not parked: ${why}` });
  if (events.length === 0 && actors.length === 0) {
    return { notParked: `no workflow '${workflowId}' (no events and no snapshots)` };
  }
  const completed = events.find((e) => e.type === 'completed');
  if (completed) {
    return not(`it has completed (${String(completed.data.outcome)}); there is nothing to retry`);
  }
  let index = -1;
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e?.type === 'failed' && e.data.retryable === true) {
      index = i;
      break;
    }
  }
  const waiting = pending
    ? `; it waits for a human (${pending.type} ${pending.interruptId}): answer it with hitl respond`
    : '';
  const failed = events[index];
  if (!failed) return not(`no step of it has failed${waiting}`);
  const later = events
    .slice(index + 1)
    .find((e) => e.actor === failed.actor && e.type !== 'response_rejected');
  if (later) {
    return not(
      `'${failed.actor}' went on after its failure (${later.type} at ${later.at})${waiting}`,
    );
  }
  const actor = actors.find((a) => a.kind === failed.actor);
  if (actor?.status !== 'active') {
    return not(`its '${failed.actor}' actor is ${actor ? actor.status : 'gone'}`);
  }
  return {
    parked: {
      actor: failed.actor,
      step: typeof failed.data.step === 'string' ? failed.data.step : failed.actor,
      reason: typeof failed.data.reason === 'string' ? failed.data.reason : 'unknown',
      at: failed.at,
    },
  };
}

/**
 * Where a workflow is parked, from its actors' snapshots alone: the active actor whose
 * envelope carries the parked mark (the latest, should two), as `hitl parked` lists it. The
 * event log is not needed, so a log that `HITL_EVENTS_MAX_AGE_MS` trimmed does not matter.
 * Undefined when no actor is marked.
 *
 * @example
 * const parked = parkedStepOf((await client.snapshots('wf-1')).map((s) => s.envelope));
 */
export function parkedStepOf(
  actors: readonly Pick<SnapshotEnvelope, 'kind' | 'status' | 'parked'>[],
): ParkedStep | undefined {
  let found: ParkedStep | undefined;
  for (const a of actors) {
    if (a.status !== 'active' || !a.parked) continue;
    if (found && found.at >= a.parked.at) continue;
    found = { actor: a.kind, ...a.parked };
  }
  return found;
}
