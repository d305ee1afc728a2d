import type { Subscription } from '@nats-io/transport-node';
import { describeError } from './errors.js';
import { EventEnvelopeSchema, type EventEnvelope } from './schemas.js';

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
