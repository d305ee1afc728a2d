import type { JetStreamClient } from '@nats-io/jetstream';
import type { DeadLetter } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** The original bytes as a UTF-8 string, or base64 when they are not UTF-8. */
export function rawText(data: Uint8Array): string {
  try {
    return strictUtf8.decode(data);
  } catch {
    return Buffer.from(data).toString('base64');
  }
}

/**
 * Publishes input the runtime cannot accept to `hitl.dlq.<source>`, with the reason.
 * `dedupeId` (stream and sequence of the original) keeps a redelivery from dead-lettering twice.
 *
 * @example
 * await deadLetter(js, subjects, { source: 'tickets', subject, reason: 'not JSON', data }, 'tickets.42');
 */
export async function deadLetter(
  js: JetStreamClient,
  subjects: Subjects,
  letter: { source: string; subject: string; reason: string; data: Uint8Array },
  dedupeId: string,
): Promise<void> {
  const payload: DeadLetter = {
    source: letter.source,
    subject: letter.subject,
    reason: letter.reason,
    raw: rawText(letter.data),
  };
  await js.publish(subjects.dlq(letter.source), encoder.encode(JSON.stringify(payload)), {
    msgID: `dlq.${dedupeId}`,
  });
}
