import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { describeError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { isTransientNatsError, type Outage, STARTUP_RETRY, withRetry } from '../nats/retry.js';
import type { Subjects } from '../nats/subjects.js';
import type { Handler, Settler } from './settle.js';

/** How long one pull waits for messages; also the longest a stop waits for a pull to end. */
const FETCH_EXPIRES_MS = 1_000;

/** What the pull loops of a worker need. */
export interface PullLoopDeps {
  js: JetStreamClient;
  subjects: Subjects;
  log: Logger;
  outage: Outage;
  concurrency: number;
  settler: Settler;
}

/** A worker's pull loops, one per durable consumer, and the steps they have in flight. */
export class PullLoops {
  readonly inFlight = new Set<Promise<void>>();
  private readonly loops: Promise<void>[] = [];
  private waiters: (() => void)[] = [];
  /** Set by a stop: no loop pulls again. */
  closing = false;

  constructor(private readonly deps: PullLoopDeps) {}

  /** Wakes the loops waiting for free capacity (to pull again, or to see a stop). */
  wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Settles when every loop has ended. */
  ended(): Promise<unknown> {
    return Promise.allSettled(this.loops);
  }

  /**
   * Pulls from a durable consumer in bounded batches (`fetch`), never more than the free
   * capacity. Unlike a continuous `consume()`, a batch ends on its own, so on stop every message
   * the server sent us is either processed or handed back (`nak`) at once: none waits out the
   * ack wait in a buffer that was thrown away.
   */
  async consume(stream: string, role: string, handler: Handler): Promise<void> {
    const { js, subjects, outage, concurrency, settler, log } = this.deps;
    const consumer = await withRetry(
      `opening consumer ${role}`,
      () => js.consumers.get(stream, subjects.consumer(role)),
      outage,
      STARTUP_RETRY,
    );
    this.loops.push(
      (async () => {
        while (!this.closing) {
          while (this.inFlight.size >= concurrency && !this.closing) {
            await new Promise<void>((resolve) => this.waiters.push(resolve));
          }
          if (this.closing) break;
          let batch: AsyncIterable<JsMsg>;
          try {
            batch = await consumer.fetch({
              max_messages: concurrency - this.inFlight.size,
              expires: FETCH_EXPIRES_MS,
            });
            for await (const m of batch) {
              if (this.closing) {
                m.nak();
                continue;
              }
              const task = settler.process(m, role, handler).finally(() => {
                this.inFlight.delete(task);
                for (const wake of this.waiters.splice(0)) wake();
              });
              this.inFlight.add(task);
            }
            outage.recovered();
          } catch (err) {
            if (this.closing) break;
            // The server is away or restarting, or the consumer's leader is being elected: the
            // connection reconnects by itself; logged once per outage.
            if (isTransientNatsError(err)) outage.failed(`pulling ${role}`, err);
            else
              log.warn('pull failed, retrying', {
                consumer: role,
                reason: describeError(err),
              });
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      })(),
    );
  }
}
