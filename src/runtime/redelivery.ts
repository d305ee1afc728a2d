import { outboxEffects, publishOutbox, type InterruptOp, type Publish } from './outbox.js';
import type { StepContext } from './stepContext.js';
import type { Incoming } from './steps.js';
import type { Outbox, SnapshotEnvelope } from '../base/schemas.js';
import { storedMsgIds } from '../nats/streamReads.js';

/**
 * Whether `incoming` is the very copy of its message whose step wrote `outbox`, come back
 * because its worker died before the ack: the same stream and sequence; for a message handed
 * over in-process, the copy its sender re-sends through the mailbox (no other copy carries its
 * id). Any other copy (a ticket re-sent with the same `id`, say) changes and publishes nothing.
 * An outbox of an earlier version, which did not record its copy, takes any copy.
 *
 * @example
 * isRedelivery({ for: 'ticket', at: 0, entries: [], source: { stream: 'T', seq: 4 } },
 *   { id: 'ticket', type: 'retry', source: { stream: 'T', seq: 9 } }); // false
 */
export function isRedelivery(outbox: Outbox, incoming: Incoming): boolean {
  const recorded = outbox.source;
  if (recorded === undefined || 'local' in recorded) return true;
  const source = incoming.source;
  return (
    source !== undefined &&
    'stream' in source &&
    source.stream === recorded.stream &&
    source.seq === recorded.seq
  );
}

/**
 * The redelivery path: publishes again, under the same `Nats-Msg-Id`s, those of a committed
 * step's effects that may be missing, and nothing else, since a duplicate that JetStream drops
 * from its stream still reaches every core subscriber of the subject:
 * - an effect on a public subject (event, human request, reply) only when its stream does not
 *   hold its message id (read from the stream leader, `next_by_subj`, per subject);
 * - nothing of an interrupt that is no longer pending (the actor's snapshot or the interrupts
 *   bucket says it was answered, expired or replaced): no KV record, no request, no
 *   `interrupted`, no timer;
 * - messages to actors (internal) always: the stream drops a copy it holds, and the receiver
 *   recognises a copy it applied, re-publishing in turn only what is missing of its own step.
 * Returns how many messages it published.
 */
export async function republish(
  ctx: StepContext,
  kind: string,
  env: SnapshotEnvelope,
  outbox: Outbox,
): Promise<number> {
  const { opts } = ctx;
  const wf = env.workflowId;
  const effects = outboxEffects(outbox, env, opts.subjects);
  const asked = effects.interrupts.flatMap((op) => (op.op === 'put' ? [op.record] : []));
  const gone = new Set<string>();
  if (asked.length > 0) {
    const record = await opts.interrupts.get(wf);
    for (const a of asked) {
      const pending = env.status === 'active' && env.interrupt?.interruptId === a.interruptId;
      const replaced = record !== undefined && record.interruptId !== a.interruptId;
      if (!pending || replaced) gone.add(a.interruptId);
    }
  }
  // Only an interrupt still pending is put back, and only where no record is: a newer step,
  // of this actor or another, may have asked the workflow's next question meanwhile.
  const interrupts: InterruptOp[] = effects.interrupts
    .filter((op) => op.op !== 'put' || !gone.has(op.record.interruptId))
    .map((op) => (op.op === 'put' ? { ...op, ifAbsent: true } : op));
  await publishOutbox(opts.js, opts.interrupts, { interrupts, publishes: [] });
  const put = interrupts.find((op) => op.op === 'put');
  if (put?.op === 'put') {
    // Answered while this ran: withdraw the record, if it is still this one, and ask nobody.
    const now = await opts.snapshots.get(kind, wf);
    if (now?.envelope.interrupt?.interruptId !== put.record.interruptId) {
      await opts.interrupts.resolve(wf, put.record.interruptId);
      gone.add(put.record.interruptId);
    }
  }
  const candidates = effects.publishes.filter(
    (p) => p.interruptId === undefined || !gone.has(p.interruptId),
  );
  const missing = await notStored(ctx, candidates);
  await publishOutbox(opts.js, opts.interrupts, { interrupts: [], publishes: missing });
  opts.logger.debug('redelivery: re-published what the streams lacked', {
    workflowId: wf,
    actor: kind,
    message: outbox.for,
    published: missing.length,
    of: effects.publishes.length,
  });
  return missing.length;
}

/**
 * The publishes whose message the streams do not hold: those on public subjects are looked up
 * (each subject's stored message ids read once); internal ones are kept.
 */
async function notStored(ctx: StepContext, publishes: readonly Publish[]): Promise<Publish[]> {
  const lookups = new Map<string, Promise<Set<string>>>();
  const stored = (stream: string, subject: string): Promise<Set<string>> => {
    const key = `${stream} ${subject}`;
    let ids = lookups.get(key);
    if (!ids) {
      ids = ctx.streams().then((jsm) => storedMsgIds(jsm, stream, subject));
      lookups.set(key, ids);
    }
    return ids;
  };
  const held = await Promise.all(
    publishes.map(async (p) =>
      p.stream === undefined ? false : (await stored(p.stream, p.subject)).has(p.msgId),
    ),
  );
  return publishes.filter((_, i) => !held[i]);
}
