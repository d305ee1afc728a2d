import {
  describeZodError,
  ResponseSchema,
  type HumanResponse,
  type ResponsePayload,
} from '../base/schemas.js';

/**
 * Who answered a response: settled, or why the response is refused. `deadLetter` says the
 * response is malformed (it names no reviewer at all) rather than refused by a rule.
 */
export type ReviewerVerdict =
  | { ok: true; response: HumanResponse; fromSubject: boolean }
  | { ok: false; reason: string; deadLetter: boolean; reviewer?: string };

/** Where a response was published, as far as its reviewer goes. */
export interface ResponseOrigin {
  /** The subject it was published on (for the reasons). */
  subject: string;
  /** The reviewer the subject names (`…human.respond.<wf>.<reviewer>`), if any. */
  reviewer?: string;
}

/**
 * Settles who answered (contract v2, "Responses"). The subject's reviewer token wins: NATS
 * permissions can restrict who may publish there, so it is a proven name, which the payload
 * may repeat but not contradict. Without the token, the payload names the reviewer, unless
 * `requireSubject` (`HITL_REVIEWER_FROM_SUBJECT=true`) accepts proven names only.
 *
 * @example
 * resolveReviewer({ answer: 'yes', reviewer: 'bo' }, { subject: 'hitl.human.respond.wf.ana', reviewer: 'ana' }, false);
 * // { ok: false, deadLetter: false, reviewer: 'ana', reason: "the payload names reviewer 'bo' but …" }
 */
export function resolveReviewer(
  payload: ResponsePayload,
  origin: ResponseOrigin,
  requireSubject: boolean,
): ReviewerVerdict {
  const proven = origin.reviewer;
  if (proven !== undefined) {
    if (payload.reviewer !== undefined && payload.reviewer !== proven) {
      return {
        ok: false,
        deadLetter: false,
        reviewer: proven,
        reason: `the payload names reviewer '${payload.reviewer}' but the subject '${origin.subject}' names '${proven}': the subject says who answers (leave reviewer out of the payload, or give the same name)`,
      };
    }
    return { ok: true, fromSubject: true, response: { ...payload, reviewer: proven } };
  }
  if (requireSubject) {
    return {
      ok: false,
      deadLetter: false,
      ...(payload.reviewer !== undefined ? { reviewer: payload.reviewer } : {}),
      reason: `responses must name their reviewer in the subject (HITL_REVIEWER_FROM_SUBJECT=true): publish on '${origin.subject}.<reviewer>', e.g. with HITL_RESPOND_WITH_SUBJECT=true`,
    };
  }
  const parsed = ResponseSchema.safeParse(payload);
  if (!parsed.success) {
    return {
      ok: false,
      deadLetter: true,
      reason: `invalid response: ${describeZodError(parsed.error)} (name the reviewer in the payload, or in the subject: '${origin.subject}.<reviewer>')`,
    };
  }
  return { ok: true, fromSubject: false, response: parsed.data };
}
