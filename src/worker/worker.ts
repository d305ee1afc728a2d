import {
  jetstream,
  type JetStreamManager,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorDefinition } from '../runtime/actorDefinition.js';
import { ActorHost } from '../runtime/actorHost.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_STEP_TIMEOUT_MS,
  type HitlConfig,
} from '../base/config.js';
import { connectNats } from '../nats/connection.js';
import { deadLetter } from '../runtime/deadLetter.js';
import { describeError, NewerSnapshotError, TerminalError } from '../base/errors.js';
import { Mailboxes } from '../runtime/mailboxes.js';
import { Inbound, PayloadTooLarge, type Settle } from './inbound.js';
import { serveWorkerEndpoints, type WorkerEndpoints } from './httpEndpoints.js';
import { PendingCount, WorkerMetrics } from './metrics.js';
import { InterruptStore } from '../stores/interruptStore.js';
import { createLogger, type Logger } from '../base/logger.js';
import { KvSnapshotStore } from '../stores/snapshotStore.js';
import { Subjects } from '../nats/subjects.js';
import { TimerScheduler } from './timerScheduler.js';
import { ensureTopology, MAX_DELIVER } from '../nats/topology.js';
import { checkReplicas, explainReplicaError } from '../nats/replicas.js';
import {
  isTransientNatsError,
  Outage,
  retryingJetStream,
  retryingKv,
  STARTUP_RETRY,
  withRetry,
} from '../nats/retry.js';

/** Where tickets from `hitl.tickets.new` go: the actor kind that starts a workflow. */
export interface TicketIntake {
  actor: string;
}

/** What {@link Worker.start} hosts, and how. */
export interface WorkerOptions {
  config: HitlConfig;
  definitions: readonly ActorDefinition[];
  /** Consume `hitl.tickets.new` and start this actor for each ticket. */
  intake?: TicketIntake;
  /** Steps run at once by this worker, in total across its pull loops (default 32). */
  concurrency?: number;
  /** An existing connection; otherwise the worker connects and closes its own. */
  connection?: NatsConnection;
  logger?: Logger;
}

/** How messages come back: `HITL_ACK_WAIT_MS`, `HITL_MAX_DELIVER`, `HITL_RETRY_BACKOFF_MS`. */
interface Delivery {
  /** The longest ack wait of the worker's consumers. */
  ackWaitMs: number;
  /** Each consumer's ack wait, by role. */
  ackWaits: Record<string, number>;
  maxDeliver: number;
  /** A failed step comes back after `min(30 s, backoffMs × 2^deliveries)`. */
  backoffMs: number;
}

const RETRY_BACKOFF_MS = 100;
/** The longest a message waits before it is offered again during a rolling upgrade. */
const MAX_UPGRADE_WAIT_MS = 5_000;
/** Messages whose failed tries are counted at most (the oldest count is forgotten first). */
const MAX_COUNTED = 10_000;

/** A consumer's handler: `final` says that this try is the message's last. */
type Handler = (m: JsMsg, final: boolean) => Promise<Settle>;

/** Room left in a message for the headers of a KV write. */
const HEADER_ROOM_BYTES = 1_024;

/** The largest snapshot the server stores: its max_payload, and the bucket's max_msg_size if set. */
async function maxSnapshotBytes(
  nc: NatsConnection,
  jsm: JetStreamManager,
  subjects: Subjects,
): Promise<number> {
  const payload = (nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM_BYTES;
  const bucket = await jsm.streams.info(`KV_${subjects.buckets.snapshots}`);
  const perMessage = bucket.config.max_msg_size;
  return perMessage !== undefined && perMessage > 0 ? Math.min(payload, perMessage) : payload;
}

/** How long one pull waits for messages; also the longest a stop waits for a pull to end. */
const FETCH_EXPIRES_MS = 1_000;

/**
 * Hosts actor kinds on NATS: one durable consumer per hosted kind's mailbox, one for human
 * responses and, with an intake, one for tickets. Any number of workers may run side by side;
 * they share the consumers.
 *
 * @example
 * const worker = await Worker.start({ config: loadConfig(), definitions, intake: { actor: 'triage' } });
 * process.once('SIGTERM', () => void worker.stop());
 */
export class Worker {
  private readonly inFlight = new Set<Promise<void>>();
  /** Failed tries of the messages that failed here and came back (`<role> <stream seq>`). */
  private readonly failures = new Map<string, number>();
  /** The messages of the steps in flight, to hand back if a stop's bound passes. */
  private readonly held = new Set<JsMsg>();
  private readonly loops: Promise<void>[] = [];
  private waiters: (() => void)[] = [];
  /** Steps running now, across every pull loop: at most `concurrency`. */
  private running = 0;
  /** Messages pulled while every slot was taken, first come first served. */
  private readonly slotQueue: (() => void)[] = [];
  private stopping: Promise<void> | undefined;
  /** Publishes each pending interrupt's deadline when it is due. */
  private scheduler: TimerScheduler | undefined;
  private closing = false;
  /** False from a disconnect until the connection is back (readiness). */
  private connected = true;
  private endpoints: WorkerEndpoints | undefined;

  private constructor(
    readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly subjects: Subjects,
    readonly host: ActorHost,
    private readonly inbound: Inbound,
    private readonly log: Logger,
    private readonly concurrency: number,
    private readonly delivery: Delivery,
    private readonly outage: Outage,
    /** Steps, failures, redeliveries and latency: served on `HITL_METRICS_PORT`. */
    readonly metrics: WorkerMetrics,
  ) {}

  static async start(options: WorkerOptions): Promise<Worker> {
    const log = options.logger ?? createLogger({ component: 'worker' });
    const nc = options.connection ?? (await connectNats(options.config.nats, 'hitl-worker'));
    try {
      const subjects = new Subjects(options.config.prefix);
      const kinds = options.definitions.map((d) => d.kind);
      const replicas = options.config.replicas ?? 1;
      checkReplicas(nc, replicas);
      // Every NATS request of the worker is retried through a leader election (logged once
      // per outage), never turned into an exit or a dead letter.
      const metrics = new WorkerMetrics();
      const outage = new Outage(log, () => metrics.outage());
      const ensure = () =>
        ensureTopology(
          nc,
          subjects,
          kinds,
          {
            ...(options.config.ackWaitMs !== undefined
              ? { ackWaitMs: options.config.ackWaitMs }
              : {}),
            ...(options.config.maxDeliver !== undefined
              ? { maxDeliver: options.config.maxDeliver }
              : {}),
          },
          {
            ...(options.config.replicas !== undefined ? { replicas: options.config.replicas } : {}),
            ...(options.config.eventsMaxAgeMs !== undefined
              ? { eventsMaxAgeMs: options.config.eventsMaxAgeMs }
              : {}),
            ...(options.config.streamMaxAgeMs !== undefined
              ? { streamMaxAgeMs: options.config.streamMaxAgeMs }
              : {}),
            ...(options.config.streamLimits ? { limits: options.config.streamLimits } : {}),
            maxPayloadBytes: options.config.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
          },
          log,
        );
      const { jsm, buckets, ackWaitMs } = await withRetry(
        'creating streams and buckets',
        ensure,
        outage,
        STARTUP_RETRY,
      ).catch((err: unknown) => {
        throw explainReplicaError(err, replicas, nc);
      });
      // The consumers' own ack waits, which an operator may have set longer than the variable:
      // applied ids are kept for four of the longest, so a late redelivery is still recognised.
      const delivery: Delivery = {
        ackWaitMs: Math.max(...Object.values(ackWaitMs)),
        ackWaits: ackWaitMs,
        maxDeliver: options.config.maxDeliver ?? MAX_DELIVER,
        backoffMs: options.config.retryBackoffMs ?? RETRY_BACKOFF_MS,
      };
      const js = retryingJetStream(jetstream(nc), outage);
      const interrupts = new InterruptStore(retryingKv(buckets.interrupts, outage), subjects, jsm);
      const mailboxes = new Mailboxes(jsm, subjects);
      const host = new ActorHost({
        js,
        subjects,
        snapshots: new KvSnapshotStore(
          retryingKv(buckets.snapshots, outage),
          subjects,
          await maxSnapshotBytes(nc, jsm, subjects),
        ),
        interrupts,
        definitions: options.definitions,
        logger: log,
        ...(options.config.approvers ? { approvers: options.config.approvers } : {}),
        ...(options.config.separateApprover ? { separateApprover: true } : {}),
        ...(options.config.localDelivery === false ? { localDelivery: false } : {}),
        ackWaitMs: delivery.ackWaitMs,
        stepTimeoutMs: options.config.stepTimeoutMs ?? DEFAULT_STEP_TIMEOUT_MS,
        ...(nc.info?.max_payload ? { maxPayloadBytes: nc.info.max_payload } : {}),
        hasMailbox: (kind) => mailboxes.has(kind),
        ...(options.config.gateTimeoutMs !== undefined
          ? { defaultTimeoutMs: options.config.gateTimeoutMs }
          : {}),
      });
      const worker = new Worker(
        nc,
        options.connection === undefined,
        js,
        jsm,
        subjects,
        host,
        new Inbound({
          host,
          js,
          jsm,
          subjects,
          interrupts,
          maxPayloadBytes: options.config.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES,
          ...(options.config.reviewerFromSubject ? { reviewerFromSubject: true } : {}),
        }),
        log,
        options.concurrency ?? 32,
        delivery,
        outage,
        metrics,
      );
      if (options.intake) {
        if (!host.hosts(options.intake.actor)) {
          throw new Error(`intake actor '${options.intake.actor}' is not among the hosted kinds`);
        }
        const intake = options.intake.actor;
        await worker.consume(subjects.streams.tickets, 'tickets', (m, final) =>
          worker.inbound.ticket(m, intake, final),
        );
      }
      await worker.consume(subjects.streams.responses, 'responses', (m, final) =>
        worker.inbound.response(m, final),
      );
      await worker.consume(subjects.streams.timers, 'timers', (m, final) =>
        worker.inbound.timer(m, final),
      );
      worker.scheduler = new TimerScheduler(buckets.interrupts, js, subjects, log);
      await worker.scheduler.start();
      for (const kind of kinds) {
        await worker.consume(subjects.streams.mailbox, `actor-${kind}`, (m, final) =>
          worker.inbound.mailbox(m, kind, final),
        );
      }
      await worker.serveEndpoints(options.config, buckets.interrupts);
      log.info('worker started', { actors: kinds, intake: options.intake?.actor ?? null });
      return worker;
    } catch (err) {
      if (options.connection === undefined) await nc.close();
      throw err;
    }
  }

  /** Stops taking messages, lets in-flight steps finish (bounded), closes its connection. */
  stop(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    this.host.drain();
    for (const wake of this.waiters.splice(0)) wake();
    this.stopping ??= (async () => {
      await this.scheduler?.stop();
      // Pull loops end within one fetch expiry; whatever they still receive is handed back.
      await Promise.allSettled(this.loops);
      const drained = Promise.all([...this.inFlight]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      const finished = await Promise.race([drained.then(() => true), timeout.then(() => false)]);
      clearTimeout(timer);
      if (!finished) {
        // A step still running at the bound (a hung model call, say) is handed back at once
        // for another worker, not left to wait out the ack wait. Should it still commit, the
        // snapshot's compare-and-set lets one of the two commit, and the other is a redelivery.
        for (const m of this.held) m.nak();
        this.log.warn('steps still running at the drain bound were handed back', {
          steps: this.held.size,
          timeoutMs,
        });
      }
      if (this.ownsConnection) await this.nc.drain();
      await this.endpoints?.close();
      this.log.info('worker stopped');
    })();
    return this.stopping;
  }

  /**
   * The longest ack wait of this worker's consumers, as the server has it (an operator may have
   * set one that no variable names): applied ids are kept for four of them.
   */
  get ackWaitMs(): number {
    return this.delivery.ackWaitMs;
  }

  /** Deadlines of pending interrupts this worker waits for, to publish each when it is due. */
  get deadlinesWaiting(): number {
    return this.scheduler?.waiting ?? 0;
  }

  /** The port of `/healthz`, `/readyz` and `/metrics` (`HITL_METRICS_PORT`), when served. */
  get endpointsPort(): number | undefined {
    return this.endpoints?.port;
  }

  /** Health, readiness and metrics on `HITL_METRICS_PORT`, when set. */
  private async serveEndpoints(config: HitlConfig, interrupts: KV): Promise<void> {
    void (async () => {
      for await (const s of this.nc.status()) {
        if (s.type === 'disconnect') this.connected = false;
        if (s.type === 'reconnect') this.connected = true;
      }
    })();
    if (config.metrics === undefined) return;
    const pending = new PendingCount(interrupts);
    this.endpoints = await serveWorkerEndpoints(
      {
        metrics: this.metrics,
        ready: () =>
          this.closing
            ? { ready: false, reason: 'stopping' }
            : !this.connected || this.nc.isClosed()
              ? { ready: false, reason: 'no NATS server reachable (reconnecting)' }
              : { ready: true },
        gauges: async () => ({
          hitl_pending_interrupts: await pending.get(),
          hitl_steps_in_flight: this.inFlight.size,
          hitl_nats_connected: this.connected ? 1 : 0,
        }),
      },
      config.metrics.port,
      config.metrics.host,
    );
    this.log.info('health and metrics served', { port: this.endpoints.port });
  }

  /** Steps running now; after a {@link stop} that hit its bound, the ones it handed back. */
  get stepsInFlight(): number {
    return this.inFlight.size;
  }

  /**
   * Pulls from a durable consumer in bounded batches (`fetch`), never more than the free
   * capacity. Unlike a continuous `consume()`, a batch ends on its own, so on stop every message
   * the server sent us is either processed or handed back (`nak`) at once: none waits out the
   * ack wait in a buffer that was thrown away.
   */
  private async consume(stream: string, role: string, handler: Handler): Promise<void> {
    const consumer = await withRetry(
      `opening consumer ${role}`,
      () => this.js.consumers.get(stream, this.subjects.consumer(role)),
      this.outage,
      STARTUP_RETRY,
    );
    this.loops.push(
      (async () => {
        while (!this.closing) {
          while (this.inFlight.size >= this.concurrency && !this.closing) {
            await new Promise<void>((resolve) => this.waiters.push(resolve));
          }
          if (this.closing) break;
          let batch: AsyncIterable<JsMsg>;
          try {
            batch = await consumer.fetch({
              max_messages: this.concurrency - this.inFlight.size,
              expires: FETCH_EXPIRES_MS,
            });
            for await (const m of batch) {
              if (this.closing) {
                m.nak();
                continue;
              }
              const task = this.process(m, role, handler).finally(() => {
                this.inFlight.delete(task);
                for (const wake of this.waiters.splice(0)) wake();
              });
              this.inFlight.add(task);
            }
            this.outage.recovered();
          } catch (err) {
            if (this.closing) break;
            // The server is away or restarting, or the consumer's leader is being elected: the
            // connection reconnects by itself; logged once per outage.
            if (isTransientNatsError(err)) this.outage.failed(`pulling ${role}`, err);
            else
              this.log.warn('pull failed, retrying', {
                consumer: role,
                reason: describeError(err),
              });
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      })(),
    );
  }

  /**
   * Runs a handler, then acks; dead-letters bad input; redelivers a failure, and tells the
   * handler when a try is the last (`final`: its step then parks its workflow). Failed tries are
   * counted here, not by the server's delivery count, so that waiting (for an upgrade) costs
   * none; what still fails on its last try (outside any step) is dead-lettered.
   */
  private async process(m: JsMsg, role: string, handler: Handler): Promise<void> {
    const ackWait = this.delivery.ackWaits[role] ?? this.delivery.ackWaitMs;
    const heartbeat = setInterval(() => m.working(), ackWait / 3);
    this.held.add(m);
    const source = role.startsWith('actor-') ? 'mailbox' : role;
    const key = `${role} ${m.info.streamSequence}`;
    const failed = this.failures.get(key) ?? 0;
    await this.takeSlot();
    const started = performance.now();
    try {
      const settle = await handler(m, failed + 1 >= this.delivery.maxDeliver);
      this.failures.delete(key);
      if (settle && 'nakMs' in settle) m.nak(settle.nakMs);
      else m.ack();
      this.metrics.observe(role, performance.now() - started, 'ok', m.info.redelivered);
    } catch (err) {
      this.metrics.observe(role, performance.now() - started, 'failed', m.info.redelivered);
      const reason = describeError(err);
      const dedupe = `${source}.${m.info.streamSequence}`;
      const failures = failed + 1;
      try {
        if (err instanceof NewerSnapshotError) {
          this.awaitUpgrade(m, role, err);
        } else if (err instanceof TerminalError) {
          this.failures.delete(key);
          await deadLetter(
            this.js,
            this.subjects,
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
          this.outage.failed(`step of ${m.subject}`, err);
          m.nak(Math.min(5_000, this.delivery.backoffMs * 2 ** Math.min(m.info.deliveryCount, 6)));
        } else if (failures >= this.delivery.maxDeliver) {
          this.failures.delete(key);
          const why = `gave up after ${failures} failed tries: ${reason}`;
          this.log.error('message dead-lettered', { ...this.about(m, role), reason: why });
          await deadLetter(
            this.js,
            this.subjects,
            { source, subject: m.subject, reason: why, data: m.data },
            dedupe,
          );
          // Its reviewer waits for a verdict; the interrupt stays pending for another answer.
          const wf =
            source === 'responses' ? this.subjects.workflowOfResponse(m.subject) : undefined;
          if (wf !== undefined)
            await this.host.publishRejection(wf, m.info.streamSequence, why, {});
          m.ack();
        } else {
          this.countFailure(key, failures);
          this.log.warn('step failed, will be redelivered', {
            ...this.about(m, role),
            failures,
            delivery: m.info.deliveryCount,
            reason,
          });
          m.nak(Math.min(30_000, this.delivery.backoffMs * 2 ** failures));
        }
      } catch (dlqErr) {
        this.log.error('could not settle message; it will be redelivered', {
          ...this.about(m, role),
          reason: describeError(dlqErr),
        });
        m.nak(1_000);
      }
    } finally {
      this.releaseSlot();
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
    const waitMs = Math.min(MAX_UPGRADE_WAIT_MS, 50 * this.delivery.backoffMs);
    this.log.warn('snapshot of a newer machine version; left for a worker that hosts it', {
      ...this.about(m, role),
      version: err.version,
      hosted: err.hosted,
      delivery: m.info.deliveryCount,
      retryInMs: waitMs,
    });
    m.nak(waitMs);
  }

  /**
   * `--concurrency` bounds the steps of the whole worker. Each pull loop sizes its batch by the
   * free capacity it sees, but two loops may see the same free slots at once: a message pulled
   * beyond the bound waits here (kept alive by its heartbeat) until a step ends.
   */
  private async takeSlot(): Promise<void> {
    if (this.running < this.concurrency) {
      this.running += 1;
      return;
    }
    // The slot is handed over by releaseSlot, already counted.
    await new Promise<void>((resolve) => this.slotQueue.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.slotQueue.shift();
    if (next) next();
    else this.running -= 1;
  }

  /** The log fields of a message: its subject, and the workflow and actor it is for. */
  private about(m: JsMsg, role: string): Record<string, unknown> {
    const fields: Record<string, unknown> = { subject: m.subject, consumer: role };
    const kind = role.startsWith('actor-') ? role.slice('actor-'.length) : undefined;
    const wf =
      kind !== undefined
        ? this.subjects.workflowOfMailbox(kind, m.subject)
        : this.subjects.workflowOfResponse(m.subject);
    if (kind !== undefined) fields.actor = kind;
    if (wf !== undefined) fields.workflowId = wf;
    return fields;
  }
}
