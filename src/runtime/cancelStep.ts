import type { ActorDefinition } from './actorDefinition.js';
import { commitStep } from './commit.js';
import type { EventEnvelope, SnapshotEnvelope } from '../base/schemas.js';
import type { MachineStep } from './machineRunner.js';
import type { Prefix } from './stepEffects.js';
import type { Step, StepContext } from './stepContext.js';
import type { Incoming } from './steps.js';
import type { StoredSnapshot } from '../stores/snapshotStore.js';

type Cancel = Extract<Incoming, { type: 'cancel' }>;

/** The event type that says a `hitl cancel` reached an actor that had ended already. */
const CANCEL_REJECTED = 'cancel_rejected';

/**
 * `hitl cancel`: the operator ends the workflow at this actor, paused or parked. One committed
 * step like any other (compare-and-set, outbox, redelivery): the pending interrupt is withdrawn
 * (so `hitl pending` no longer lists it, its deadline finds nothing, and a later answer is
 * rejected), the parked mark goes, and the actor ends with `completed` (`outcome:
 * "cancelled"`, the reason, who, and the cancel's id). The machine is not run: any machine can be
 * cancelled, and its snapshot stays as it was, under the envelope's `done`. An actor that
 * ended already (answered, expired, cancelled) changes nothing and says so with a
 * `cancel_rejected` event, so that exactly one `completed` ends the workflow.
 */
export async function cancelStep(
  ctx: StepContext,
  def: ActorDefinition,
  wf: string,
  stored: StoredSnapshot | undefined,
  incoming: Cancel,
): Promise<Step> {
  const env = stored?.envelope;
  if (!stored || env?.status !== 'active') {
    const reason = env
      ? `actor '${def.kind}' of '${wf}' has ended (${env.status === 'done' ? 'completed' : env.status}) before the cancel reached it`
      : `actor '${def.kind}' of '${wf}' does not exist`;
    await publishCancelRejection(ctx, def.kind, wf, incoming.id, reason);
    return { result: 'ignored', reason };
  }
  const prefix: Prefix[] = [];
  if (env.interrupt) {
    prefix.push({
      op: 'interrupt.delete',
      workflowId: wf,
      interruptId: env.interrupt.interruptId,
    });
  }
  const data: Record<string, unknown> = {
    outcome: 'cancelled',
    reason: incoming.reason,
    by: incoming.by,
    cancelId: incoming.id,
  };
  if (env.interrupt) data.interruptId = env.interrupt.interruptId;
  if (env.parked) data.parkedStep = env.parked.step;
  prefix.push({ event: 'completed', data });
  ctx.opts.logger.info('workflow cancelled by an operator', {
    actor: def.kind,
    workflowId: wf,
    by: incoming.by,
    reason: incoming.reason,
  });
  const ended: SnapshotEnvelope = { ...env };
  delete ended.interrupt;
  const step: MachineStep = { snapshot: env.snapshot, status: 'done', emitted: [] };
  return commitStep(ctx, def, ended, stored.revision, incoming.id, step, prefix);
}

/** Publishes `cancel_rejected` for the cancel `cancelId`: once per cancel (its message id). */
async function publishCancelRejection(
  ctx: StepContext,
  kind: string,
  workflowId: string,
  cancelId: string,
  reason: string,
): Promise<void> {
  const envelope: EventEnvelope = {
    workflowId,
    type: CANCEL_REJECTED,
    actor: kind,
    at: new Date().toISOString(),
    data: { reason, cancelId },
  };
  const trace = ctx.stepTrace(kind, workflowId);
  await ctx.publish([
    {
      subject: ctx.opts.subjects.event(workflowId, CANCEL_REJECTED),
      msgId: `${workflowId}.${CANCEL_REJECTED}.${cancelId}`,
      data: envelope,
      ...(trace ? { trace } : {}),
    },
  ]);
}
