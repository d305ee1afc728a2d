import type { z } from 'zod';
import { describeZodError, type HumanResponse, type InterruptRecord } from '../base/schemas.js';

/** The verdict on a human response: accepted with its validated update, or why not. */
export type ResponseVerdict =
  { ok: true; update: Record<string, unknown> } | { ok: false; reason: string };

/** What decides whether a response is accepted, besides the interrupt itself. */
export interface ResponsePolicy {
  /** Per interrupt type, the `update` a response may carry. */
  updates: Readonly<Record<string, z.ZodType<Record<string, unknown>>>>;
  /** Who may answer an interrupt of type 'approval'; anyone when unset. */
  approvers?: readonly string[];
  /**
   * `HITL_SEPARATE_APPROVER`: an approval may not be answered by a reviewer who already
   * answered an earlier interrupt of the same workflow (its escalation): four eyes, not two.
   */
  separateApprover?: boolean;
}

/**
 * Checks a response against the pending interrupt: that there is one, that the response names
 * it (when it names any), that the answer is an option, that the reviewer may answer (the
 * approvers list, and with `separateApprover` none who answered an earlier interrupt), and that
 * the update carries only the keys this interrupt type accepts.
 *
 * @example
 * checkResponse(record, { answer: 'maybe', reviewer: 'ana' }, { updates: {} });
 * // { ok: false, reason: "answer 'maybe' is not an option; expected one of: yes, no" }
 */
export function checkResponse(
  pending: InterruptRecord | undefined,
  response: HumanResponse,
  policy: ResponsePolicy,
): ResponseVerdict {
  if (!pending) {
    return {
      ok: false,
      reason: 'there is no pending interrupt: it was already answered or cancelled, or never asked',
    };
  }
  if (response.interruptId !== undefined && response.interruptId !== pending.interruptId) {
    return {
      ok: false,
      reason: `interrupt '${response.interruptId}' is not pending (already answered or replaced); the pending one is '${pending.interruptId}'`,
    };
  }
  if (pending.options && !pending.options.includes(response.answer)) {
    return {
      ok: false,
      reason: `answer '${response.answer}' is not an option; expected one of: ${pending.options.join(', ')}`,
    };
  }
  if (
    pending.type === 'approval' &&
    policy.approvers &&
    !policy.approvers.includes(response.reviewer)
  ) {
    return {
      ok: false,
      reason: `reviewer '${response.reviewer}' may not answer approvals (HITL_APPROVERS allows: ${policy.approvers.join(', ')})`,
    };
  }
  if (
    pending.type === 'approval' &&
    policy.separateApprover &&
    pending.previousReviewers?.includes(response.reviewer)
  ) {
    return {
      ok: false,
      reason: `reviewer '${response.reviewer}' answered an earlier interrupt of this workflow and may not also answer its approval (HITL_SEPARATE_APPROVER: another reviewer must approve)`,
    };
  }
  const update = response.update ?? {};
  const schema = policy.updates[pending.type];
  if (!schema) {
    const keys = Object.keys(update);
    if (keys.length > 0) {
      return {
        ok: false,
        reason: `update key '${keys[0]}' is not accepted by ${article(pending.type)} interrupt (it accepts none)`,
      };
    }
    return { ok: true, update: {} };
  }
  const parsed = schema.safeParse(update);
  if (!parsed.success) {
    return {
      ok: false,
      reason: `update rejected for ${article(pending.type)} interrupt: ${describeZodError(parsed.error)}`,
    };
  }
  return { ok: true, update: parsed.data };
}

function article(word: string): string {
  return `${/^[aeiou]/i.test(word) ? 'an' : 'a'} ${word}`;
}

/**
 * How far ahead of JetStream's clock (which stamps when a response was stored) a worker's clock
 * (which stamps when an interrupt was asked) may be before a response is judged older than its
 * question.
 */
export const CLOCK_SKEW_MS = 2_000;

/**
 * Checks when a response was stored against the interrupt it would answer: not after the
 * deadline (what decides a race with it is the time JetStream stored the response, however
 * late a worker reads it), and not before the question was asked (a response to an earlier
 * question, read late, must not answer the next one), unless it names this interrupt, which
 * says which question it answers whatever the clocks say. Undefined when the time is fine.
 */
export function checkResponseTime(
  pending: InterruptRecord,
  response: Pick<HumanResponse, 'interruptId'>,
  storedAt: string | undefined,
): string | undefined {
  if (storedAt === undefined) return undefined;
  const stored = Date.parse(storedAt);
  if (pending.expiresAt !== undefined && stored > Date.parse(pending.expiresAt)) {
    return `the deadline of interrupt '${pending.interruptId}' passed at ${pending.expiresAt}; this response was stored at ${storedAt}`;
  }
  if (
    response.interruptId !== pending.interruptId &&
    stored < Date.parse(pending.createdAt) - CLOCK_SKEW_MS
  ) {
    return `this response was stored at ${storedAt}, before interrupt '${pending.interruptId}' was asked at ${pending.createdAt}: it answers an earlier question; answer again`;
  }
  return undefined;
}
