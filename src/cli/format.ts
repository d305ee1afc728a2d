import type { EventEnvelope, InterruptRecord } from '../schemas.js';

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
  failed: '1;31',
  expired: '35',
};

function paint(text: string, code: string | undefined, colour: boolean): string {
  return colour && code ? `\u001b[${code}m${text}\u001b[0m` : text;
}

function clip(text: string, max = 70): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

function text(value: unknown): string {
  if (typeof value === 'string') return value;
  return value === undefined ? '' : JSON.stringify(value);
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
      return JSON.stringify(clip(text(d.request)));
    case 'triaged':
      return `${text(d.category)} (${text(d.confidence)}, by ${text(d.by)})${cost(d)}`;
    case 'drafted':
      return `${text(d.category)}: ${JSON.stringify(clip(text(d.draft), 60))}${cost(d)}`;
    case 'interrupted':
      return `${text(d.type)} ${text(d.interruptId)} [${((d.options as string[] | undefined) ?? []).join('|')}] ${clip(text(d.question), 50)}`;
    case 'resumed':
      return `${text(d.answer)} by ${text(d.reviewer)} (${text(d.interruptId)})`;
    case 'response_rejected':
      return `${d.reviewer ? `${text(d.reviewer)}: ` : ''}${text(d.reason)}`;
    case 'approved':
    case 'rejected':
      return `by ${text(d.reviewer)}`;
    case 'sent':
      return JSON.stringify(clip(text(d.reply), 60));
    case 'failed':
      return `${text(d.step)}: ${text(d.reason)}${d.retryable ? ' (retryable: hitl retry)' : ''}`;
    case 'completed':
      return `${text(d.outcome)}${d.category ? ` (${text(d.category)})` : ''}`;
    default:
      return clip(JSON.stringify(d));
  }
}

/** One readable line per event: time, workflow, actor, type, key data. */
export function formatEvent(e: EventEnvelope, colour = false): string {
  const time = e.at.slice(11, 23);
  return [
    paint(time, '2', colour),
    e.workflowId.padEnd(20),
    e.actor.padEnd(10),
    paint(e.type.padEnd(17), colours[e.type], colour),
    summarize(e),
  ].join(' ');
}

/** One line per pending interrupt, with its age. */
export function formatPending(r: InterruptRecord, now = Date.now()): string {
  const age = Math.max(0, Math.round((now - Date.parse(r.createdAt)) / 1000));
  const options = r.options ? `[${r.options.join('|')}]` : '';
  return `${r.workflowId.padEnd(20)} ${r.type.padEnd(10)} ${r.interruptId.padEnd(14)} ${`${age}s`.padStart(6)}  ${options} ${clip(r.question, 60)}`;
}
