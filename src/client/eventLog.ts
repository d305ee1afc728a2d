import type { NatsConnection } from '@nats-io/transport-node';
import { EventEnvelopeSchema, type EventEnvelope } from '../base/schemas.js';
import { readOnlyManager, storedMessages } from '../nats/streamReads.js';
import type { Subjects } from '../nats/subjects.js';

const decoder = new TextDecoder();

/**
 * A workflow's stored event timeline, read from the events stream in order (what a tap would
 * have printed). Reads message by message, without a consumer, so a reviewer who may only read
 * can run it.
 *
 * @example
 * const timeline = await readWorkflowEvents(nc, new Subjects(), 'wf-1');
 */
export async function readWorkflowEvents(
  nc: NatsConnection,
  subjects: Subjects,
  workflowId: string,
): Promise<EventEnvelope[]> {
  const jsm = await readOnlyManager(nc);
  const events: EventEnvelope[] = [];
  for await (const m of storedMessages(jsm, subjects.streams.events, subjects.events(workflowId))) {
    try {
      const parsed = EventEnvelopeSchema.safeParse(JSON.parse(decoder.decode(m.data)));
      if (parsed.success) events.push(parsed.data);
    } catch {
      // Not an event envelope: someone else published on the subject; a timeline skips it.
    }
  }
  return events;
}
