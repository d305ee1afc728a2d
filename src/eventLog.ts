import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { EventEnvelopeSchema, type EventEnvelope } from './schemas.js';
import type { Subjects } from './subjects.js';

const decoder = new TextDecoder();

/**
 * A workflow's stored event timeline, read from the events stream in order (what a tap would
 * have printed).
 *
 * @example
 * const timeline = await readWorkflowEvents(nc, new Subjects(), 'wf-1');
 */
export async function readWorkflowEvents(
  nc: NatsConnection,
  subjects: Subjects,
  workflowId: string,
): Promise<EventEnvelope[]> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(subjects.streams.events, {
    filter_subjects: subjects.events(workflowId),
    deliver_policy: DeliverPolicy.All,
  });
  const events: EventEnvelope[] = [];
  if ((await consumer.info(true)).num_pending === 0) return events;
  const messages = await consumer.consume();
  for await (const m of messages) {
    try {
      const parsed = EventEnvelopeSchema.safeParse(JSON.parse(decoder.decode(m.data)));
      if (parsed.success) events.push(parsed.data);
    } catch {
      // Not an event envelope: someone else published on the subject; a timeline skips it.
    }
    if (m.info.pending === 0) break;
  }
  await messages.close();
  return events;
}
