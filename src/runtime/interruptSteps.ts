import type { ExpireEvent, ResumeEvent } from './effects.js';
import { checkResponse, checkResponseTime, type ResponsePolicy } from './responsePolicy.js';
import type { Publish } from './outbox.js';
import type { EventEnvelope, HumanResponse, SnapshotEnvelope } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';
import type { TraceCarrier } from '../nats/tracing.js';
import { reviewerList, type Prefix } from './stepEffects.js';

/** A human response as the host applies it (see `Incoming` in steps.ts). */
export interface ResponseIn {
  response: HumanResponse;
  responseSeq: number;
  /** When JetStream stored the response: what decides a race with the deadline. */
  storedAt?: string;
  /** The pending interrupt record's id and KV revision, as the worker read it. */
  seen?: { interruptId: string; revision: number };
}

/** What a response does to an actor: resume it with this event, or be rejected, saying why. */
export type ResumePlan =
  | { ok: true; event: ResumeEvent; prefix: Prefix[]; reviewers: string[] }
  | { ok: false; reason: string; interruptId?: string };

/**
 * Judges a response against the actor's pending interrupt (the policy, then when it was
 * stored) and, when accepted, plans the step: withdraw the interrupt record (at the revision
 * the worker read, when it read this one), emit `resumed`, send the machine `hitl.resume`, and
 * add the reviewer to the workflow's audit trail, which goes on to the actors it messages next
 * (so that a later approval knows: HITL_SEPARATE_APPROVER).
 */
export function planResume(
  env: SnapshotEnvelope,
  incoming: ResponseIn,
  policy: ResponsePolicy,
): ResumePlan {
  const pending = env.status === 'active' ? env.interrupt : undefined;
  const verdict = checkResponse(pending, incoming.response, policy);
  if (!verdict.ok || !pending) {
    return {
      ok: false,
      reason: verdict.ok ? 'there is no pending interrupt' : verdict.reason,
      ...(pending ? { interruptId: pending.interruptId } : {}),
    };
  }
  const late = checkResponseTime(pending, incoming.response, incoming.storedAt);
  if (late !== undefined) return { ok: false, reason: late, interruptId: pending.interruptId };
  const r = incoming.response;
  const event: ResumeEvent = {
    type: 'hitl.resume',
    interruptId: pending.interruptId,
    interruptType: pending.type,
    answer: r.answer,
    update: verdict.update,
    reviewer: r.reviewer,
    ...(r.comment !== undefined ? { comment: r.comment } : {}),
  };
  const resumed: Record<string, unknown> = {
    interruptId: pending.interruptId,
    answer: r.answer,
    reviewer: r.reviewer,
    responseSeq: incoming.responseSeq,
  };
  if (r.comment !== undefined) resumed.comment = r.comment;
  const prefix: Prefix[] = [
    {
      op: 'interrupt.delete',
      workflowId: env.workflowId,
      interruptId: pending.interruptId,
      ...(incoming.seen?.interruptId === pending.interruptId
        ? { revision: incoming.seen.revision }
        : {}),
    },
    { event: 'resumed', data: resumed },
  ];
  const reviewers = reviewerList([...(env.reviewers ?? []), r.reviewer]);
  return { ok: true, event, prefix, reviewers };
}

/**
 * The deadline of interrupt `interruptId` passed unanswered: withdraw it, emit `expired`, and
 * let the machine decide what follows (`hitl.expire`). Undefined when that interrupt is no
 * longer pending (answered in the meantime): the timer changes nothing.
 */
export function planExpiry(
  env: SnapshotEnvelope,
  interruptId: string,
): { event: ExpireEvent; prefix: Prefix[] } | undefined {
  const pending = env.interrupt;
  if (env.status !== 'active' || pending?.interruptId !== interruptId) return undefined;
  return {
    event: { type: 'hitl.expire', interruptId, interruptType: pending.type },
    prefix: [
      { op: 'interrupt.delete', workflowId: env.workflowId, interruptId },
      { event: 'expired', data: { interruptId } },
    ],
  };
}

/**
 * The effects of failing a workflow for good (its snapshot fits no machine version here):
 * withdraw its interrupt, give a response that came for it a verdict (its sender waits for
 * `resumed` or `response_rejected`), then `failed` (not retryable) and `completed: failed`.
 */
export function failurePrefix(
  env: SnapshotEnvelope,
  kind: string,
  reason: string,
  response?: { responseSeq: number; reviewer: string },
): Prefix[] {
  const prefix: Prefix[] = [];
  const interruptId = env.interrupt?.interruptId;
  if (interruptId !== undefined) {
    prefix.push({ op: 'interrupt.delete', workflowId: env.workflowId, interruptId });
  }
  if (response) {
    const rejected: Record<string, unknown> = {
      reason: `the workflow cannot resume and has failed: ${reason}`,
      responseSeq: response.responseSeq,
      reviewer: response.reviewer,
    };
    if (interruptId !== undefined) rejected.interruptId = interruptId;
    prefix.push({ event: 'response_rejected', data: rejected });
  }
  prefix.push(
    { event: 'failed', data: { reason, step: kind, retryable: false } },
    { event: 'completed', data: { outcome: 'failed' } },
  );
  return prefix;
}

/**
 * The `response_rejected` event for the response JetStream stored at `responseSeq`, naming the
 * reason a person can act on; one per response (its message id is the sequence's).
 */
export function rejection(
  subjects: Subjects,
  workflowId: string,
  responseSeq: number,
  reason: string,
  about: { reviewer?: string; interruptId?: string; actor?: string },
  trace: TraceCarrier | undefined,
  at: Date,
): Publish {
  const data: Record<string, unknown> = { reason, responseSeq };
  if (about.reviewer !== undefined) data.reviewer = about.reviewer;
  if (about.interruptId !== undefined) data.interruptId = about.interruptId;
  const envelope: EventEnvelope = {
    workflowId,
    type: 'response_rejected',
    actor: about.actor ?? 'runtime',
    at: at.toISOString(),
    data,
  };
  return {
    subject: subjects.event(workflowId, 'response_rejected'),
    msgId: `${workflowId}.rejected.${responseSeq}`,
    data: envelope,
    ...(trace ? { trace } : {}),
  };
}
