import type { JetStreamClient, JsMsg } from '@nats-io/jetstream';
import { describeError, NewerSnapshotError, TerminalError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { isTransientNatsError, type Outage } from '../nats/retry.js';
import type { Subjects } from '../nats/subjects.js';
import type { ActorHost } from '../runtime/actorHost.js';
import { deadLetter } from '../runtime/deadLetter.js';
import { PayloadTooLarge, type Settle } from './inbound.js';
import type { WorkerMetrics } from './metrics.js';
import { Slots } from './slots.js';

/** How messages come back: `HITL_ACK_WAIT_MS`, `HITL_MAX_DELIVER`, `HITL_RETRY_BACKOFF_MS`. */
export interface Delivery {
  /** The longest ack wait of the worker's consumers. */
  ackWaitMs: number;
  /** Each consumer's ack wait, by role. */
  ackWaits: Record<string, number>;
  maxDeliver: number;
  /** A failed step comes back after `min(30 s, backoffMs × 2^deliveries)`. */
  backoffMs: number;
}

/** A consumer's handler: `final` says that this try is the message's last. */
export type Handler = (m: JsMsg, final: boolean) => Promise<Settle>;

/** What a {@link Settler} needs of its worker. */
export interface SettlerDeps {
  js: JetStreamClient;
  subjects: Subjects;
  host: ActorHost;
  log: Logger;
  concurrency: number;
  delivery: Delivery;
  outage: Outage;
  metrics: WorkerMetrics;
}

/** The longest a message waits before it is offered again during a rolling upgrade. */
const MAX_UPGRADE_WAIT_MS = 5_000;
/** Messages whose failed tries are counted at most (the oldest count is forgotten first). */
const MAX_COUNTED = 10_000;

/**
 * Runs each pulled message's handler in a slot of the worker's concurrency and settles the
 * message: ack, redelivery with backoff, or dead letter.
 */
export class Settler {
  /** Failed tries of the messages that failed here and came back (`<role> <stream seq>`). */
  private readonly failures = new Map<string, number>();
  /** The messages of the steps in flight, to hand back if a stop's bound passes. */
  readonly held = new Set<JsMsg>();
  private readonly slots: Slots;

  constructor(private readonly deps: SettlerDeps) {
    this.slots = new Slots(deps.concurrency);
  }

  /**
   * Runs a handler, then acks; dead-letters bad input; redelivers a failure, and tells the
   * handler when a try is the last (`final`: its step then parks its workflow). Failed tries are
   * counted here, not by the server's delivery count, so that waiting (for an upgrade) costs
   * none; what still fails on its last try (outside any step) is dead-lettered.
   */
  async process(m: JsMsg, role: string, handler: Handler): Promise<void> {
    const { delivery } = this.deps;
    const ackWait = delivery.ackWaits[role] ?? delivery.ackWaitMs;
    const heartbeat = setInterval(() => m.working(), ackWait / 3);
    this.held.add(m);
    const source = role.startsWith('actor-') ? 'mailbox' : role;
    const key = `${role} ${m.info.streamSequence}`;
    const failed = this.failures.get(key) ?? 0;
    await this.slots.take();
    const started = performance.now();
    try {
      const settle = await handler(m, failed + 1 >= delivery.maxDeliver);
      this.failures.delete(key);
      if (settle && 'nakMs' in settle) m.nak(settle.nakMs);
      else m.ack();
      this.deps.metrics.observe(role, performance.now() - started, 'ok', m.info.redelivered);
    } catch (err) {
      this.deps.metrics.observe(role, performance.now() - started, 'failed', m.info.redelivered);
      const reason = describeError(err);
      const dedupe = `${source}.${m.info.streamSequence}`;
      const failures = failed + 1;
      try {
        if (err instanceof NewerSnapshotError) {
          this.awaitUpgrade(m, role, err);
        } else if (err instanceof TerminalError) {
          this.failures.delete(key);
          await deadLetter(
            this.deps.js,
            this.deps.subjects,
            {
              source,
              subject: m.subject,
              reason,
              data: err instanceof PayloadTooLarge ? m.data.subarray(0, err.limit) : m.data,
            },
            dedupe,
          );
          m.ack();
        } else if (isTransientNatsError(err)) {
          // NATS failed the step (a leader election outlasting the step's retries), not the
          // message: it comes back however many deliveries that takes, never dead-lettered.
          this.deps.outage.failed(`step of ${m.subject}`, err);
          m.nak(Math.min(5_000, delivery.backoffMs * 2 ** Math.min(m.info.deliveryCount, 6)));
        } else if (failures >= delivery.maxDeliver) {
          this.failures.delete(key);
          const why = `gave up after ${failures} failed tries: ${reason}`;
          this.deps.log.error('message dead-lettered', { ...this.about(m, role), reason: why });
          await deadLetter(
            this.deps.js,
            this.deps.subjects,
            { source, subject: m.subject, reason: why, data: m.data },
            dedupe,
          );
          // Its reviewer waits for a verdict; the interrupt stays pending for another answer.
          const wf =
            source === 'responses' ? this.deps.subjects.workflowOfResponse(m.subject) : undefined;
          if (wf !== undefined)
            await this.deps.host.publishRejection(wf, m.info.streamSequence, why, {});
          m.ack();
        } else {
          this.countFailure(key, failures);
          this.deps.log.warn('step failed, will be redelivered', {
            ...this.about(m, role),
            failures,
            delivery: m.info.deliveryCount,
            reason,
          });
          m.nak(Math.min(30_000, delivery.backoffMs * 2 ** failures));
        }
      } catch (dlqErr) {
        this.deps.log.error('could not settle message; it will be redelivered', {
          ...this.about(m, role),
          reason: describeError(dlqErr),
        });
        m.nak(1_000);
      }
    } finally {
      this.slots.release();
      clearInterval(heartbeat);
      this.held.delete(m);
    }
  }

  private countFailure(key: string, failures: number): void {
    this.failures.set(key, failures);
    if (this.failures.size > MAX_COUNTED) {
      const oldest = this.failures.keys().next();
      if (!oldest.done) this.failures.delete(oldest.value);
    }
  }

  /**
   * A snapshot of a newer machine version than this worker hosts (a rolling upgrade under way):
   * the message goes back, for a worker that hosts that version, without counting as a failure.
   */
  private awaitUpgrade(m: JsMsg, role: string, err: NewerSnapshotError): void {
    const waitMs = Math.min(MAX_UPGRADE_WAIT_MS, 50 * this.deps.delivery.backoffMs);
    this.deps.log.warn('snapshot of a newer machine version; left for a worker that hosts it', {
      ...this.about(m, role),
      version: err.version,
      hosted: err.hosted,
      delivery: m.info.deliveryCount,
      retryInMs: waitMs,
    });
    m.nak(waitMs);
  }

  /** The log fields of a message: its subject, and the workflow and actor it is for. */
  private about(m: JsMsg, role: string): Record<string, unknown> {
    const fields: Record<string, unknown> = { subject: m.subject, consumer: role };
    const kind = role.startsWith('actor-') ? role.slice('actor-'.length) : undefined;
    const wf =
      kind !== undefined
        ? this.deps.subjects.workflowOfMailbox(kind, m.subject)
        : this.deps.subjects.workflowOfResponse(m.subject);
    if (kind !== undefined) fields.actor = kind;
    if (wf !== undefined) fields.workflowId = wf;
    return fields;
  }
}
