import type { EventEnvelope, InterruptRecord } from '../base/schemas.js';
import type { ParkedWorkflow } from '../stores/snapshotStore.js';

const colours: Record<string, string> = {
  received: '36',
  triaged: '36',
  drafted: '34',
  interrupted: '33',
  resumed: '32',
  approved: '32',
  sent: '32',
  completed: '1;32',
  rejected: '31',
  response_rejected: '31',
  cancel_rejected: '31',
  failed: '1;31',
  expired: '35',
};

// C0 controls and DEL (ESC starts terminal escape sequences), C1 controls (U+009B is a CSI
// on some terminals) and the bidirectional overrides that reorder what a line shows.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const WIDE_UNSAFE = /[\u0080-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  const code = c.charCodeAt(0);
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Text from the wire (a customer's request, a draft, a reviewer's name, a reason) made safe to
 * print on a terminal: whitespace runs become one space, and control characters that could
 * move the cursor, recolour, retitle or reorder the screen are shown escaped (`\x1b`).
 *
 * @example
 * terminalSafe('ana\u001b[2J'); // 'ana\\x1b[2J'
 */
export function terminalSafe(text: string): string {
  return text.replace(/\s+/g, ' ').replace(UNSAFE, escapeChar);
}

/**
 * A line about to be printed, JSON included: the C1 controls and bidirectional overrides that
 * JSON.stringify leaves as they are become `\u` escapes (still valid JSON, inside strings).
 */
export function printable(line: string): string {
  return line.replace(WIDE_UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function paint(text: string, code: string | undefined, colour: boolean): string {
  return colour && code ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function clip(text: string, max = 70): string {
  const flat = terminalSafe(text);
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function text(value: unknown): string {
  if (typeof value === 'string') return terminalSafe(value);
  return value === undefined ? '' : terminalSafe(JSON.stringify(value));
}

/** A model call's cost, when the event carries it: `· gpt-4.1-mini 412 tokens 830 ms`. */
function cost(d: Record<string, unknown>): string {
  const usage = d.usage as { totalTokens?: unknown } | undefined;
  const parts = [
    typeof d.model === 'string' ? d.model : undefined,
    typeof usage?.totalTokens === 'number' ? `${usage.totalTokens} tokens` : undefined,
    typeof d.latencyMs === 'number' ? `${d.latencyMs} ms` : undefined,
    typeof d.attempts === 'number' && d.attempts > 1 ? `${d.attempts} tries` : undefined,
  ].filter((p) => p !== undefined);
  return parts.length > 0 ? ` · ${parts.join(' ')}` : '';
}

/** The key data of an event, in a few words. */
export function summarize(e: EventEnvelope): string {
  const d = e.data;
  switch (e.type) {
    case 'received':
      return `"${clip(text(d.request))}"`;
    case 'triaged':
      return `${text(d.category)} (${text(d.confidence)}, by ${text(d.by)})${cost(d)}`;
    case 'drafted':
      return `${text(d.category)}: "${clip(text(d.draft), 60)}"${cost(d)}`;
    case 'interrupted':
      return `${text(d.type)} ${text(d.interruptId)} [${text(((d.options as string[] | undefined) ?? []).join('|'))}] ${clip(text(d.question), 50)}`;
    case 'resumed':
      return `${text(d.answer)} by ${text(d.reviewer)} (${text(d.interruptId)})`;
    case 'response_rejected':
      return `${d.reviewer ? `${text(d.reviewer)}: ` : ''}${text(d.reason)}`;
    case 'approved':
    case 'rejected':
      return `by ${text(d.reviewer)}`;
    case 'sent':
      return `"${clip(text(d.reply), 60)}"`;
    case 'failed':
      return `${text(d.step)}: ${text(d.reason)}${d.retryable ? ' (retryable: hitl retry)' : ''}`;
    case 'completed':
      // A cancel says who and why (hitl cancel).
      return d.by !== undefined
        ? `${text(d.outcome)} by ${text(d.by)}: ${clip(text(d.reason), 60)}`
        : `${text(d.outcome)}${d.category ? ` (${text(d.category)})` : ''}`;
    case 'cancel_rejected':
      return text(d.reason);
    default:
      return clip(JSON.stringify(d));
  }
}

/** One readable line per event: time, workflow, actor, type, key data. */
export function formatEvent(e: EventEnvelope, colour = false): string {
  const time = terminalSafe(e.at.slice(11, 23));
  return [
    paint(time, '2', colour),
    e.workflowId.padEnd(20),
    terminalSafe(e.actor).padEnd(10),
    paint(terminalSafe(e.type).padEnd(17), colours[e.type], colour),
    summarize(e),
  ].join(' ');
}

/** A duration in its largest whole unit: `42s`, `3m`, `5h`, `2d`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3_600) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3_600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** When an interrupt must be answered: `in 3m`, `overdue 20s`, or `-` without a deadline. */
export function deadline(r: InterruptRecord, now = Date.now()): string {
  if (r.expiresAt === undefined) return '-';
  const left = Date.parse(r.expiresAt) - now;
  return left >= 0 ? `in ${duration(left)}` : `overdue ${duration(-left)}`;
}

/** One line per pending interrupt: workflow, type, id, age, deadline, options, question. */
export function formatPending(r: InterruptRecord, now = Date.now()): string {
  const age = duration(now - Date.parse(r.createdAt));
  const options = r.options ? `[${terminalSafe(r.options.join('|'))}]` : '';
  return `${r.workflowId.padEnd(20)} ${terminalSafe(r.type).padEnd(10)} ${terminalSafe(r.interruptId).padEnd(14)} ${age.padStart(4)}  ${deadline(r, now).padEnd(12)} ${options} ${clip(r.question, 60)}`;
}

/** The header line above {@link formatPending}'s lines. */
export function pendingHeader(): string {
  return `${'WORKFLOW'.padEnd(20)} ${'TYPE'.padEnd(10)} ${'INTERRUPT'.padEnd(14)} ${'AGE'.padStart(4)}  ${'DEADLINE'.padEnd(12)} QUESTION`;
}

/** One line per parked workflow: workflow, actor, step, how long ago it failed, why. */
export function formatParked(p: ParkedWorkflow, now = Date.now()): string {
  const age = duration(now - Date.parse(p.at));
  return `${p.workflowId.padEnd(20)} ${terminalSafe(p.actor).padEnd(12)} ${terminalSafe(p.step).padEnd(12)} ${age.padStart(4)}  ${clip(p.reason, 80)}`;
}

/** The header line above {@link formatParked}'s lines. */
export function parkedHeader(): string {
  return `${'WORKFLOW'.padEnd(20)} ${'ACTOR'.padEnd(12)} ${'STEP'.padEnd(12)} ${'AGE'.padStart(4)}  REASON`;
}
