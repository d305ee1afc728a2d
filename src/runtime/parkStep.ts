import type { ActorDefinition } from './actorDefinition.js';
import { commitStep } from './commit.js';
import { describeError } from '../base/errors.js';
import type { Step, StepContext } from './stepContext.js';
import type { Incoming } from './steps.js';
import type { ParkedMessage, SnapshotEnvelope } from '../base/schemas.js';
import type { StoredSnapshot } from '../stores/snapshotStore.js';

/** The form in which a failed message waits with its parked actor for `hitl retry`. */
export function toParkedMessage(incoming: Incoming): ParkedMessage | undefined {
  switch (incoming.type) {
    case 'message':
      return { type: 'message', id: incoming.id, message: incoming.message };
    case 'response':
      return {
        type: 'response',
        id: incoming.id,
        response: incoming.response,
        responseSeq: incoming.responseSeq,
        ...(incoming.storedAt !== undefined ? { storedAt: incoming.storedAt } : {}),
      };
    case 'expire':
      return { type: 'expire', id: incoming.id, interruptId: incoming.interruptId };
    case 'retry':
    case 'cancel':
      return undefined;
  }
}

/**
 * The message a `hitl retry` applies in place of the one that failed, under the retry's id (the
 * failed one's id is recorded as applied by the parking step).
 */
export function replayOf(parked: ParkedMessage, retry: Incoming): Incoming {
  const common = {
    id: retry.id,
    ...(retry.trace ? { trace: retry.trace } : {}),
    ...(retry.final ? { final: true } : {}),
  };
  switch (parked.type) {
    case 'message':
      return { ...common, type: 'message', message: parked.message };
    case 'response':
      return {
        ...common,
        type: 'response',
        response: parked.response,
        responseSeq: parked.responseSeq,
        ...(parked.storedAt !== undefined ? { storedAt: parked.storedAt } : {}),
      };
    case 'expire':
      return { ...common, type: 'expire', interruptId: parked.interruptId };
  }
}

/**
 * A step that failed for good (after its retries, or at once for an effect it will always emit
 * wrongly): the actor is parked, state kept, and the workflow with it. Its `failed` event says
 * `retryable: true`, `hitl parked` lists it, and `hitl retry` applies the failed message again
 * (kept in the parked mark). A failed first message parks an actor that does not exist yet: its
 * snapshot is a placeholder (no machine snapshot) until the retry starts it. Throws `err` when
 * the message's step was committed after all (its effects are re-published on redelivery).
 */
export async function parkStep(
  ctx: StepContext,
  def: ActorDefinition,
  workflowId: string,
  incoming: Incoming,
  err: unknown,
): Promise<Step> {
  const reason = describeError(err);
  const stored: StoredSnapshot | undefined = await ctx.opts.snapshots.get(def.kind, workflowId);
  const env = stored?.envelope;
  if (env && (env.applied.includes(incoming.id) || env.status !== 'active')) throw err;
  // A failed retry keeps the message it retried; a retry the machine itself takes (a model
  // outage it parked for) keeps none: the next retry goes to the machine again.
  const message = incoming.type === 'retry' ? env?.parked?.message : toParkedMessage(incoming);
  const trace = ctx.stepTrace(def.kind, workflowId);
  const base: SnapshotEnvelope = env ?? {
    format: 1,
    kind: def.kind,
    workflowId,
    version: def.version,
    status: 'active',
    steps: 0,
    snapshot: null,
    applied: [],
    outboxes: [],
    ...(trace ? { trace } : {}),
  };
  const data: Record<string, unknown> = { reason, step: def.kind, retryable: true };
  if (incoming.type === 'response') data.responseSeq = incoming.responseSeq;
  ctx.opts.logger.error('step failed for good; workflow parked until hitl retry', {
    actor: def.kind,
    workflowId,
    message: incoming.id,
    reason,
  });
  await commitStep(
    ctx,
    def,
    base,
    stored?.revision,
    incoming.id,
    { snapshot: base.snapshot, status: 'active', emitted: [] },
    [{ event: 'failed', data }],
    message,
  );
  return { result: 'parked', reason };
}
