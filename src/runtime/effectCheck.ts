import { describeError, InvalidEffectError } from '../base/errors.js';
import {
  InterruptRecordSchema,
  MailboxMessageSchema,
  OutboundReplySchema,
  describeZodError,
  type Outbox,
} from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';
import { outboxEffects, type OutboxEffects, type OutboxOwner } from './outbox.js';

const encoder = new TextEncoder();

/** Room left in a message for its subject and headers (`Nats-Msg-Id`, trace context). */
const HEADER_ALLOWANCE_BYTES = 1_024;

/** What an effect is checked against besides its own form. */
export interface EffectLimits {
  /** The server's `max_payload`: no message of the outbox may be larger. */
  maxPayloadBytes: number | undefined;
  /** Whether a message to `kind` would reach a mailbox (a consumer) on the server. */
  hasMailbox(kind: string): Promise<boolean>;
}

/**
 * Checks a step's outbox before it is committed, so that an effect that cannot be carried out
 * fails its step with nothing stored, instead of failing every re-publish after the commit:
 * every subject can be built (event types and actor kinds are legal tokens: a custom machine's
 * own event types are checked for their form, not their name), every message serialises to
 * JSON within the size limit, interrupt records and replies match their schemas, and every
 * message to an actor goes to a kind that has a mailbox. Throws {@link InvalidEffectError}.
 * Returns what the outbox publishes ({@link outboxEffects}), each message already encoded
 * (`payload`), for the commit to carry out without expanding and serialising it again.
 *
 * @example
 * await checkEffects(outbox, { workflowId: 'wf-1', kind: 'gate' }, subjects, limits);
 */
export async function checkEffects(
  outbox: Outbox,
  owner: OutboxOwner,
  subjects: Subjects,
  limits: EffectLimits,
): Promise<OutboxEffects> {
  const invalid = (what: string, deterministic = true): InvalidEffectError =>
    new InvalidEffectError(
      `actor '${owner.kind}' emitted an invalid effect: ${what}`,
      deterministic,
      {
        workflowId: owner.workflowId,
      },
    );
  for (const entry of outbox.entries) {
    if (entry.op === 'interrupt') {
      const record = InterruptRecordSchema.safeParse(entry.record);
      if (!record.success) throw invalid(`interrupt record: ${describeZodError(record.error)}`);
    } else if (entry.op === 'reply') {
      const reply = OutboundReplySchema.safeParse(entry.data);
      if (!reply.success) throw invalid(`reply: ${describeZodError(reply.error)}`);
    } else if (entry.op === 'send') {
      const message = MailboxMessageSchema.safeParse(entry.data);
      if (!message.success)
        throw invalid(`message to '${entry.to}': ${describeZodError(message.error)}`);
    }
  }
  let effects;
  try {
    effects = outboxEffects(outbox, owner, subjects);
  } catch (err) {
    // A subject that cannot be built: an event type or kind that is not a subject token.
    throw invalid(describeError(err));
  }
  for (const p of effects.publishes) {
    let json: string | undefined;
    try {
      json = JSON.stringify(p.data);
    } catch (err) {
      throw invalid(`data for '${p.subject}' does not serialise to JSON: ${describeError(err)}`);
    }
    if (json === undefined) throw invalid(`data for '${p.subject}' is not JSON`);
    const payload = encoder.encode(json);
    if (
      limits.maxPayloadBytes !== undefined &&
      payload.length + HEADER_ALLOWANCE_BYTES > limits.maxPayloadBytes
    ) {
      throw invalid(
        `data for '${p.subject}' is ${payload.length} bytes, over the server's max_payload of ${limits.maxPayloadBytes} bytes`,
      );
    }
    p.payload = payload;
  }
  const kinds = new Set(outbox.entries.flatMap((e) => (e.op === 'send' ? [e.to] : [])));
  for (const kind of kinds) {
    if (!(await limits.hasMailbox(kind))) {
      // A worker hosting it may yet start: retried like any failure, not parked at once.
      throw invalid(
        `a message to actor kind '${kind}', which has no mailbox: no worker hosts it (start one with --actors ${kind})`,
        false,
      );
    }
  }
  return effects;
}
