import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { describeError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { InterruptRecordSchema, type TimerMessage } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

const encoder = new TextEncoder();

/** Node's timers hold at most ~24.8 days; a later deadline is re-armed after a day. */
const MAX_ARM_MS = 24 * 3_600_000;

/** A due timer that could not be published is tried again after this long. */
const RETRY_MS = 1_000;

interface Armed {
  interruptId: string;
  handle: NodeJS.Timeout;
}

/**
 * Deadlines read by due time. Every pending interrupt with an `expiresAt` is in KV
 * `hitl_interrupts`; each worker watches that bucket and keeps one in-process timer per
 * deadline. When one is due it publishes the timer message on the timers stream, where the
 * timers consumer expires the interrupt (after any response stored before the deadline). So a
 * waiting deadline holds no ack-pending slot of the timers consumer and costs nothing once
 * answered (its key is deleted), however many wait: 10,000 week-long deadlines do not delay one
 * of three seconds. Every worker publishes the same due message under one `Nats-Msg-Id`, so the
 * stream keeps one; a worker started after a deadline passed publishes it at once.
 */
export class TimerScheduler {
  private readonly armed = new Map<string, Armed>();
  private watch: AsyncIterable<KvWatchEntry> & { stop(): void } = {
    stop: () => undefined,
    async *[Symbol.asyncIterator]() {},
  };
  private stopped = false;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly subjects: Subjects,
    private readonly log: Logger,
    /** Told of each interrupt the watch sees put (`asked`) or resolved (its key deleted). */
    private readonly onChange?: (workflowId: string, change: 'asked' | 'resolved') => void,
  ) {}

  /** Starts watching the pending interrupts (their last values first, then every change). */
  async start(): Promise<void> {
    this.watch = await this.kv.watch();
    this.loop = (async () => {
      try {
        for await (const entry of this.watch) this.seen(entry);
      } catch (err) {
        if (!this.stopped) this.log.error('deadline watch ended', { reason: describeError(err) });
      }
    })();
  }

  /** Deadlines this worker waits for now. */
  get waiting(): number {
    return this.armed.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch.stop();
    for (const { handle } of this.armed.values()) clearTimeout(handle);
    this.armed.clear();
    await this.loop;
  }

  private seen(entry: KvWatchEntry): void {
    const wf = entry.key;
    const previous = this.armed.get(wf);
    if (previous) clearTimeout(previous.handle);
    this.armed.delete(wf);
    if (entry.operation !== 'PUT') {
      this.onChange?.(wf, 'resolved');
      return;
    }
    this.onChange?.(wf, 'asked');
    let value: unknown;
    try {
      value = entry.json();
    } catch {
      return;
    }
    // Most interrupts have no deadline (no HITL_GATE_TIMEOUT_MS, no ticket timeoutMs): such a
    // record, which every worker sees, is not validated in full only to be dropped.
    if (typeof (value as { expiresAt?: unknown } | null)?.expiresAt !== 'string') return;
    const parsed = InterruptRecordSchema.safeParse(value);
    if (!parsed.success || parsed.data.expiresAt === undefined) return;
    const { interruptId, actor, expiresAt } = parsed.data;
    this.arm({ workflowId: parsed.data.workflowId, interruptId, actor, expiresAt });
  }

  private arm(timer: TimerMessage): void {
    const wait = Math.max(0, Date.parse(timer.expiresAt) - Date.now());
    const handle = setTimeout(
      () => {
        if (wait > MAX_ARM_MS) this.arm(timer);
        else void this.fire(timer);
      },
      Math.min(wait, MAX_ARM_MS),
    );
    // A worker waiting only for deadlines still exits when asked to.
    handle.unref();
    this.armed.set(timer.workflowId, { interruptId: timer.interruptId, handle });
  }

  private async fire(timer: TimerMessage): Promise<void> {
    if (this.stopped || this.armed.get(timer.workflowId)?.interruptId !== timer.interruptId) {
      return;
    }
    try {
      await this.js.publish(
        this.subjects.timer(timer.workflowId),
        encoder.encode(JSON.stringify(timer)),
        { msgID: `${timer.workflowId}.timer.${timer.interruptId}.due` },
      );
      this.armed.delete(timer.workflowId);
    } catch (err) {
      if (this.stopped) return;
      this.log.warn('could not publish a due deadline; trying again', {
        workflowId: timer.workflowId,
        reason: describeError(err),
      });
      const handle = setTimeout(() => void this.fire(timer), RETRY_MS);
      handle.unref();
      this.armed.set(timer.workflowId, { interruptId: timer.interruptId, handle });
    }
  }
}
