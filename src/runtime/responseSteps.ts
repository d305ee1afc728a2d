import { failurePrefix, planExpiry, planResume, rejection } from './interruptSteps.js';
import type { ActorDefinition } from './actorDefinition.js';
import { commitStep } from './commit.js';
import type { IncompatibleSnapshotError } from '../base/errors.js';
import type { MachineStep } from './machineRunner.js';
import type { Step, StepContext } from './stepContext.js';
import type { Incoming } from './steps.js';
import type { SnapshotEnvelope } from '../base/schemas.js';
import type { StoredSnapshot } from '../stores/snapshotStore.js';
import type { Prefix } from './stepEffects.js';

type Response = Extract<Incoming, { type: 'response' }>;

/** Runs one machine step from a stored snapshot (see stepLoop.ts): how a plan goes on. */
export type RunStep = (
  def: ActorDefinition,
  stored: StoredSnapshot,
  messageId: string,
  event: { type: string },
  prefix: Prefix[],
  response?: Response,
  resolvesInterrupt?: boolean,
) => Promise<Step>;

/** A human response to a stored actor: applied when the policy accepts it, else rejected. */
export async function resumeStep(
  ctx: StepContext,
  runStep: RunStep,
  def: ActorDefinition,
  stored: StoredSnapshot,
  incoming: Response,
): Promise<Step> {
  const env = stored.envelope;
  const plan = planResume(env, incoming, {
    updates: def.updates,
    ...(ctx.opts.approvers ? { approvers: ctx.opts.approvers } : {}),
    ...(ctx.opts.separateApprover ? { separateApprover: true } : {}),
  });
  if (!plan.ok) {
    return rejectResponse(ctx, def.kind, env.workflowId, incoming, plan.reason, plan.interruptId);
  }
  const withReviewer = { ...stored, envelope: { ...env, reviewers: plan.reviewers } };
  return runStep(def, withReviewer, incoming.id, plan.event, plan.prefix, incoming);
}

/** An interrupt's deadline passed: the actor goes on as its machine says, if still pending. */
export async function expireStep(
  runStep: RunStep,
  def: ActorDefinition,
  stored: StoredSnapshot,
  incoming: Extract<Incoming, { type: 'expire' }>,
): Promise<Step> {
  const plan = planExpiry(stored.envelope, incoming.interruptId);
  if (!plan) {
    return { result: 'ignored', reason: `interrupt '${incoming.interruptId}' is not pending` };
  }
  return runStep(def, stored, incoming.id, plan.event, plan.prefix, undefined, true);
}

/** Publishes `response_rejected`; the actor's state is untouched. */
export async function rejectResponse(
  ctx: StepContext,
  kind: string,
  workflowId: string,
  incoming: Response,
  reason: string,
  interruptId?: string,
): Promise<Step> {
  const asked = incoming.response.interruptId ?? interruptId;
  await publishRejection(ctx, workflowId, incoming.responseSeq, reason, {
    reviewer: incoming.response.reviewer,
    ...(asked !== undefined ? { interruptId: asked } : {}),
    actor: kind,
  });
  return { result: 'rejected', reason };
}

/**
 * Publishes a `response_rejected` event for the response stored at `responseSeq`, naming the
 * reason a person can act on.
 */
export async function publishRejection(
  ctx: StepContext,
  workflowId: string,
  responseSeq: number,
  reason: string,
  about: { reviewer?: string; interruptId?: string; actor?: string },
): Promise<void> {
  const trace = about.actor !== undefined ? ctx.stepTrace(about.actor, workflowId) : undefined;
  await ctx.publish([
    rejection(ctx.opts.subjects, workflowId, responseSeq, reason, about, trace, new Date()),
  ]);
}

/**
 * The actor's snapshot cannot be restored by any worker (an older version with no migration, a
 * state the machine lacks): the workflow fails for good, its interrupt withdrawn, rather than
 * resume wrongly. A newer version is not this: it waits for a worker that hosts it.
 */
export async function failWorkflow(
  ctx: StepContext,
  def: ActorDefinition,
  stored: StoredSnapshot,
  messageId: string,
  err: IncompatibleSnapshotError,
  response?: Response,
): Promise<Step> {
  const env = stored.envelope;
  ctx.opts.logger.error('workflow failed: incompatible snapshot', {
    actor: def.kind,
    workflowId: env.workflowId,
    reason: err.message,
  });
  const failed: SnapshotEnvelope = { ...env, status: 'failed' };
  delete failed.interrupt;
  const prefix = failurePrefix(
    env,
    def.kind,
    err.message,
    response && { responseSeq: response.responseSeq, reviewer: response.response.reviewer },
  );
  const step: MachineStep = { snapshot: env.snapshot, status: 'active', emitted: [] };
  await commitStep(ctx, def, failed, stored.revision, messageId, step, prefix);
  return { result: 'failed', reason: err.message };
}
