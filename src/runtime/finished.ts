import type { FinishedMessage, OutboxEntry } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

/**
 * The removal schedule of a workflow this step completes (its entries publish `completed`),
 * as an outbox entry: `<prefix>.finished.<wf>`, for the workers' `finished` consumer to remove
 * the workflow's snapshots once `HITL_FINISHED_RETENTION_MS` has passed. Kept in the outbox, it
 * is written with the snapshot in one compare-and-set: a worker that dies before publishing it
 * leaves the step's message to be redelivered, which publishes it then. Its message id names
 * the completion's time, so a workflow started again under the same id after a removal gets a
 * schedule of its own rather than a duplicate.
 *
 * @example
 * finishedEntry([{ op: 'event', type: 'completed', data: {} }], 'wf-1', 'gate', subjects, now);
 */
export function finishedEntry(
  entries: readonly OutboxEntry[],
  workflowId: string,
  actor: string,
  subjects: Subjects,
  now: Date,
): OutboxEntry | undefined {
  if (!entries.some((e) => e.op === 'event' && e.type === 'completed')) return undefined;
  const data: FinishedMessage = { workflowId, actor, completedAt: now.getTime() };
  return {
    op: 'publish',
    subject: subjects.finished(workflowId),
    msgId: `${workflowId}.finished.${data.completedAt}`,
    data,
  };
}
