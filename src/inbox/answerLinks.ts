import { createHmac, timingSafeEqual } from 'node:crypto';
import { assertWorkflowId } from '../nats/subjects.js';
import { REVIEWER_PATTERN } from './reviewerNames.js';

/** What an answer link lets its holder do: answer one interrupt, as one reviewer, until `expires`. */
export interface AnswerGrant {
  workflowId: string;
  interruptId: string;
  reviewer: string;
  /** Milliseconds since the epoch. */
  expires: number;
}

/** Why a link is refused, in words for the person who clicked it. */
export class LinkRefused extends Error {
  override name = 'LinkRefused';
}

function mac(secret: string, body: string): Buffer {
  return createHmac('sha256', secret).update(body).digest();
}

/**
 * Signs an answer link's token: the grant as base64url JSON, a dot, and its HMAC-SHA256 under
 * `HITL_INBOX_SECRET`. Nothing in it is secret; it cannot be changed without the key.
 *
 * @example
 * const token = signGrant(secret, { workflowId: 'wf-1', interruptId: 'i1', reviewer: 'ana', expires: Date.now() + 3_600_000 });
 */
export function signGrant(secret: string, grant: AnswerGrant): string {
  assertWorkflowId(grant.workflowId);
  if (!REVIEWER_PATTERN.test(grant.reviewer)) {
    throw new Error(
      `illegal reviewer name: '${grant.reviewer}' (use letters, digits, '-' and '_')`,
    );
  }
  const body = Buffer.from(
    JSON.stringify({
      w: grant.workflowId,
      i: grant.interruptId,
      r: grant.reviewer,
      e: grant.expires,
    }),
  ).toString('base64url');
  return `${body}.${mac(secret, body).toString('base64url')}`;
}

/**
 * The grant of a token, when its signature holds and its time is not up; throws
 * {@link LinkRefused} otherwise. Whether the interrupt is still pending is the caller's check.
 */
export function verifyGrant(secret: string, token: string, now = Date.now()): AnswerGrant {
  const [body, signature, extra] = token.split('.');
  if (!body || !signature || extra !== undefined) throw new LinkRefused('this link is malformed');
  const expected = mac(secret, body);
  const given = Buffer.from(signature, 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new LinkRefused('this link is not valid (its signature does not match)');
  }
  let claims: { w?: unknown; i?: unknown; r?: unknown; e?: unknown };
  try {
    claims = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as typeof claims;
  } catch {
    throw new LinkRefused('this link is malformed');
  }
  const { w, i, r, e } = claims;
  if (
    typeof w !== 'string' ||
    typeof i !== 'string' ||
    typeof r !== 'string' ||
    typeof e !== 'number'
  ) {
    throw new LinkRefused('this link is malformed');
  }
  if (e <= now) throw new LinkRefused('this link has expired; ask for a new one');
  return { workflowId: w, interruptId: i, reviewer: r, expires: e };
}

/** Parses `--ttl` values such as `90s`, `15m`, `1h`, `2d` (or plain milliseconds). */
export function parseTtl(value: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!m) throw new Error(`--ttl must look like 90s, 15m, 1h or 2d, got '${value}'`);
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] ?? 'ms'] ?? 1;
  const ms = n * unit;
  if (ms <= 0) throw new Error(`--ttl must be positive, got '${value}'`);
  return ms;
}
