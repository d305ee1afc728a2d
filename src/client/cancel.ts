import type { EventEnvelope, SnapshotEnvelope } from '../base/schemas.js';
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
export async function awaitCancel(
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
