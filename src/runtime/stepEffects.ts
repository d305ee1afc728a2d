import type { HitlEmitted } from './effects.js';
import type {
  InterruptRecord,
  MailboxMessage,
  OutboxEntry,
  SnapshotEnvelope,
} from '../base/schemas.js';

/** The field of a message between actors that carries the workflow's reviewers so far. */
export const REVIEWERS_FIELD = 'hitlReviewers';
const MAX_REVIEWERS = 20;

/** Distinct reviewer names, oldest first, at most {@link MAX_REVIEWERS}. */
export function reviewerList(value: unknown): string[] {
  if (!Array.isArray(value)) return [];
  const names = value.filter((v): v is string => typeof v === 'string' && v.length > 0);
  return [...new Set(names)].slice(-MAX_REVIEWERS);
}

/** What the host adds before the machine's own effects: KV changes, and events by name. */
export type Prefix =
  | Extract<OutboxEntry, { op: 'interrupt.delete' }>
  | { event: string; data: Record<string, unknown> };

/** The step whose effects are turned into outbox entries. */
export interface StepContext {
  workflowId: string;
  kind: string;
  /** The step's number: it names the interrupt a step asks (`<kind>-<step>`). */
  step: number;
  now: Date;
  /** The reviewers whose answers led to this actor (passed on to the actors it messages). */
  reviewers: readonly string[] | undefined;
  /** Deadline of an interrupt that names none (`HITL_GATE_TIMEOUT_MS`). */
  defaultTimeoutMs: number | undefined;
}

/** A step's outbox entries, the interrupt it asks (if it asks one), and what it could not read. */
export interface StepEntries {
  entries: OutboxEntry[];
  interrupt: InterruptRecord | undefined;
  /** The types of emitted effects this runtime does not know, left out. */
  unknown: string[];
}

/**
 * Turns a step's effects (the host's `prefix`, then what the machine emitted) into outbox
 * entries: events, messages to actors (carrying the workflow's reviewers), released replies and
 * the interrupt record of a pause, with its deadline.
 */
export function stepEntries(
  ctx: StepContext,
  prefix: readonly Prefix[],
  emitted: readonly HitlEmitted[],
): StepEntries {
  const entries: OutboxEntry[] = [];
  const unknown: string[] = [];
  let interrupt: InterruptRecord | undefined;
  for (const p of prefix) {
    entries.push('op' in p ? p : { op: 'event', type: p.event, data: p.data });
  }
  for (const e of emitted) {
    switch (e.type) {
      case 'hitl.event':
        entries.push({ op: 'event', type: e.event, data: e.data });
        break;
      case 'hitl.send': {
        const data: MailboxMessage = ctx.reviewers?.length
          ? { ...e.message, [REVIEWERS_FIELD]: [...ctx.reviewers] }
          : e.message;
        entries.push({ op: 'send', to: e.to, data });
        break;
      }
      case 'hitl.reply':
        entries.push({ op: 'reply', data: { workflowId: ctx.workflowId, ...e.reply } });
        break;
      case 'hitl.interrupt': {
        const record: InterruptRecord = {
          workflowId: ctx.workflowId,
          interruptId: `${ctx.kind}-${ctx.step}`,
          actor: ctx.kind,
          type: e.interrupt.type,
          question: e.interrupt.question,
          createdAt: ctx.now.toISOString(),
        };
        if (e.interrupt.options) record.options = e.interrupt.options;
        if (e.interrupt.draft !== undefined) record.draft = e.interrupt.draft;
        if (e.interrupt.category !== undefined) record.category = e.interrupt.category;
        if (e.interrupt.details !== undefined) record.details = e.interrupt.details;
        if (ctx.reviewers?.length) record.previousReviewers = [...ctx.reviewers];
        const timeoutMs = e.interrupt.timeoutMs ?? ctx.defaultTimeoutMs;
        if (timeoutMs !== undefined) {
          record.expiresAt = new Date(ctx.now.getTime() + timeoutMs).toISOString();
        }
        interrupt = record;
        entries.push({ op: 'interrupt', record });
        break;
      }
      default:
        unknown.push(String((e as { type?: unknown }).type));
    }
  }
  return { entries, interrupt, unknown };
}

/** Applied message ids kept at least, however old: a redelivery is recognised by them. */
export const MIN_APPLIED = 8;
/** Applied message ids kept at most, however recent. */
export const MAX_APPLIED = 256;

/**
 * The applied message ids (and when each was applied) to keep after applying `messageId`: those
 * applied within `retentionMs`, while their message or a re-publish of it can still come back,
 * and the last {@link MIN_APPLIED} however old; at most {@link MAX_APPLIED}. Ids stored before
 * their times were (an earlier version) count as old.
 */
export function recentlyApplied(
  base: Pick<SnapshotEnvelope, 'applied' | 'appliedAt'>,
  messageId: string,
  now: number,
  retentionMs: number,
): { applied: string[]; appliedAt: number[] } {
  const known = base.appliedAt ?? [];
  const unknown = base.applied.length - known.length;
  const ids = [...base.applied, messageId];
  const at = [...base.applied.map((_, i) => (i < unknown ? 0 : (known[i - unknown] ?? 0))), now];
  const keep = ids.map((_, i) => i >= ids.length - MIN_APPLIED || now - (at[i] ?? 0) < retentionMs);
  return {
    applied: ids.filter((_, i) => keep[i]).slice(-MAX_APPLIED),
    appliedAt: at.filter((_, i) => keep[i]).slice(-MAX_APPLIED),
  };
}

/**
 * Where a step leaves its actor parked: its retryable `failed` event, if it emitted one (the
 * model was down past its retries, say), as the `step`, `reason` and time `hitl retry` names.
 */
export function parkedBy(
  entries: readonly OutboxEntry[],
  kind: string,
  now: Date,
): NonNullable<SnapshotEnvelope['parked']> | undefined {
  const failed = entries.find(
    (e): e is Extract<OutboxEntry, { op: 'event' }> =>
      e.op === 'event' && e.type === 'failed' && e.data.retryable === true,
  );
  if (!failed) return undefined;
  return {
    step: typeof failed.data.step === 'string' ? failed.data.step : kind,
    reason: typeof failed.data.reason === 'string' ? failed.data.reason : 'unknown',
    at: now.toISOString(),
  };
}

/** Whether a step did anything others see: an event (a rejection aside), a message, a pause. */
export function wentOn(entries: readonly OutboxEntry[]): boolean {
  return entries.some((e) =>
    e.op === 'event' ? e.type !== 'response_rejected' : e.op !== 'interrupt.delete',
  );
}
