import { DeliverPolicy, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { describeError } from '../base/errors.js';
import { EventEnvelopeSchema, type EventEnvelope } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

const decoder = new TextDecoder();

/** Buffers a workflow's live events so a caller can wait for the next one it wants. */
export class EventWatch {
  private readonly seen: EventEnvelope[] = [];
  private wake: (() => void) | undefined;
  private failure: Error | undefined;
  constructor(private readonly sub: Subscription) {
    void (async () => {
      try {
        for await (const m of sub) {
          const parsed = EventEnvelopeSchema.safeParse(safeJson(m.data));
          if (parsed.success) {
            this.seen.push(parsed.data);
            this.wake?.();
          }
        }
      } catch (err) {
        // The server refused the subscription (a role that may not read events, say).
        const reason = describeError(err);
        this.failure = new Error(
          /permissions violation/i.test(reason)
            ? `this NATS user may not subscribe to '${sub.getSubject()}' to follow the workflow (permissions violation: use credentials of a role that may, see deploy/nats-server.conf)`
            : reason,
          { cause: err },
        );
        this.wake?.();
      }
    })();
  }

  async next<T>(
    pick: (e: EventEnvelope) => T | undefined,
    timeoutMs: number,
    what: string,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let index = 0;
    for (;;) {
      for (; index < this.seen.length; index++) {
        const found = pick(this.seen[index] as EventEnvelope);
        if (found !== undefined) return found;
      }
      if (this.failure) throw this.failure;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

/** The last `max` ids seen, to drop a re-published duplicate. */
export class RecentIds {
  private readonly ids = new Set<string>();
  constructor(private readonly max: number) {}
  /** False when `id` was seen; otherwise remembers it (forgetting the oldest past `max`). */
  addIfNew(id: string): boolean {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.max) {
      const oldest = this.ids.values().next();
      if (!oldest.done) this.ids.delete(oldest.value);
    }
    return true;
  }
}

export function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
  } catch {
    return undefined;
  }
}

/** A stream of events that ends when closed. */
export type EventStream = AsyncIterable<EventEnvelope> & { close(): Promise<void> };

/** Events of one workflow (or of all) stored since `since`, then live, from the events stream. */
export async function storedEvents(
  js: JetStreamClient,
  subjects: Subjects,
  workflowId: string | undefined,
  since: Date,
  signal: AbortSignal | undefined,
): Promise<EventStream> {
  const consumer = await js.consumers.get(subjects.streams.events, {
    filter_subjects: subjects.events(workflowId),
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: since.toISOString(),
  });
  const messages = await consumer.consume();
  const close = async (): Promise<void> => {
    await messages.close();
  };
  if (signal?.aborted) await close();
  signal?.addEventListener('abort', () => void close(), { once: true });
  return {
    close,
    async *[Symbol.asyncIterator]() {
      for await (const m of messages) {
        const parsed = EventEnvelopeSchema.safeParse(safeJson(m.data));
        if (parsed.success) yield parsed.data;
      }
    },
  };
}

/**
 * Events of one workflow (or of all) from now on, from the event subjects (subscribe permission
 * is all it needs); a re-publish after a crash is dropped by its `Nats-Msg-Id`.
 */
export async function liveEvents(
  nc: NatsConnection,
  subjects: Subjects,
  workflowId: string | undefined,
  signal: AbortSignal | undefined,
): Promise<EventStream> {
  const sub = nc.subscribe(subjects.events(workflowId));
  await nc.flush();
  const close = async (): Promise<void> => {
    if (!sub.isClosed()) sub.unsubscribe();
    await sub.closed;
  };
  if (signal?.aborted) await close();
  signal?.addEventListener('abort', () => void close(), { once: true });
  return {
    close,
    async *[Symbol.asyncIterator]() {
      const seen = new RecentIds(10_000);
      for await (const m of sub) {
        const id = m.headers?.get('Nats-Msg-Id');
        if (id && seen.addIfNew(id) === false) continue;
        const parsed = EventEnvelopeSchema.safeParse(safeJson(m.data));
        if (parsed.success) yield parsed.data;
      }
    },
  };
}
