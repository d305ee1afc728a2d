import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { DeadLetterSchema, type DeadLetter } from '../base/schemas.js';
import { storedMessages } from '../nats/streamReads.js';
import type { Subjects } from '../nats/subjects.js';

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A dead letter as stored: its sequence in `HITL_DLQ` (what `hitl dlq retry` takes) and body. */
export interface StoredDeadLetter extends DeadLetter {
  seq: number;
  /** When it was dead-lettered, ISO-8601. */
  at: string;
}

/**
 * Every dead letter of the prefix, oldest first (`hitl dlq`).
 *
 * @example
 * for (const d of await listDeadLetters(nc, new Subjects('hitl'))) console.log(d.seq, d.reason);
 */
export async function listDeadLetters(
  nc: NatsConnection,
  subjects: Subjects,
): Promise<StoredDeadLetter[]> {
  const jsm = await jetstreamManager(nc);
  const letters: StoredDeadLetter[] = [];
  for await (const m of storedMessages(jsm, subjects.streams.dlq, subjects.dlqAll)) {
    const letter = parse(m.data);
    if (letter) letters.push({ seq: m.seq, at: m.time.toISOString(), ...letter });
  }
  return letters;
}

function parse(data: Uint8Array): DeadLetter | undefined {
  try {
    const parsed = DeadLetterSchema.safeParse(JSON.parse(decoder.decode(data)));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sends dead letter `seq` again, once its cause is fixed (`hitl dlq retry <seq>`): its original
 * bytes go back to the subject they came from, and the dead letter is removed. Only subjects of
 * this prefix are sent to; a repeated retry within the duplicate window is dropped by JetStream.
 *
 * @example
 * const { subject } = await retryDeadLetter(nc, new Subjects('hitl'), 42);
 */
export async function retryDeadLetter(
  nc: NatsConnection,
  subjects: Subjects,
  seq: number,
): Promise<{ subject: string; duplicate: boolean }> {
  const jsm = await jetstreamManager(nc);
  const m = await jsm.streams.getMessage(subjects.streams.dlq, { seq });
  const letter = m ? parse(m.data) : undefined;
  if (!m || !letter) {
    throw new Error(`no dead letter ${seq} in ${subjects.streams.dlq} (hitl dlq lists them)`);
  }
  const ours = letter.subject.startsWith(`${subjects.prefix}.`);
  if (!ours || letter.subject.startsWith(`${subjects.prefix}.dlq.`)) {
    throw new Error(
      `dead letter ${seq} came from '${letter.subject}', which is not a subject of prefix '${subjects.prefix}' to send to`,
    );
  }
  const ack = await jetstream(nc).publish(letter.subject, encoder.encode(letter.raw), {
    msgID: `dlq-retry.${seq}`,
  });
  await jsm.streams.deleteMessage(subjects.streams.dlq, seq);
  return { subject: letter.subject, duplicate: ack.duplicate };
}
