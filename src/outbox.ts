import type { JetStreamClient } from '@nats-io/jetstream';
import type { InterruptStore } from './interruptStore.js';
import type { OutboxEntry } from './schemas.js';
import { traceHeaders } from './tracing.js';

const encoder = new TextEncoder();

/**
 * Carries out a step's effects: the KV interrupt changes in order first, then every publish
 * pipelined on one connection (so they are stored in order), each with its `Nats-Msg-Id` so
 * that a re-publish after a crash is dropped by JetStream as a duplicate. An entry's trace
 * context goes in the `traceparent` / `tracestate` headers.
 */
export async function publishOutbox(
  js: JetStreamClient,
  interrupts: InterruptStore,
  entries: readonly OutboxEntry[],
): Promise<void> {
  for (const entry of entries) {
    if (entry.op === 'interrupt.put') await interrupts.put(entry.record);
    else if (entry.op === 'interrupt.delete')
      await interrupts.resolve(entry.workflowId, entry.interruptId, entry.revision);
  }
  const publishes: Promise<unknown>[] = [];
  for (const entry of entries) {
    if (entry.op !== 'publish') continue;
    const headers = traceHeaders(
      entry.traceparent !== undefined
        ? {
            traceparent: entry.traceparent,
            ...(entry.tracestate !== undefined ? { tracestate: entry.tracestate } : {}),
          }
        : undefined,
    );
    publishes.push(
      js.publish(entry.subject, encoder.encode(JSON.stringify(entry.data)), {
        msgID: entry.msgId,
        ...(headers ? { headers } : {}),
      }),
    );
  }
  await Promise.all(publishes);
}
