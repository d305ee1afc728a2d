import { jetstream, type JetStreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorDefinition } from '../runtime/actorDefinition.js';
import { ActorHost } from '../runtime/actorHost.js';
import {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_STEP_TIMEOUT_MS,
  type HitlConfig,
} from '../base/config.js';
import { settlesWithin } from '../base/timing.js';
import { connectNats } from '../nats/connection.js';
import { Mailboxes } from '../runtime/mailboxes.js';
import { FinishedPurge } from './finishedPurge.js';
import { Inbound } from './inbound.js';
import { serveEndpoints, type WorkerEndpoints } from './httpEndpoints.js';
import { WorkerMetrics } from './metrics.js';
import { InterruptStore } from '../stores/interruptStore.js';
import { BucketHistory, MarkerDeletes } from '../stores/keyRemoval.js';
import { createLogger, type Logger } from '../base/logger.js';
import { KvSnapshotStore } from '../stores/snapshotStore.js';
import { DoneActorShrinker } from '../stores/doneActorShrinker.js';
import { Subjects } from '../nats/subjects.js';
import { TimerScheduler } from './timerScheduler.js';
import { ensureTopology, MAX_DELIVER } from '../nats/topology.js';
import { checkReplicas, explainReplicaError } from '../nats/replicas.js';
import { Outage, retryingJetStream, retryingKv, STARTUP_RETRY, withRetry } from '../nats/retry.js';
import { PullLoops } from './pullLoop.js';
import { Settler, type Delivery } from './settle.js';

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

const RETRY_BACKOFF_MS = 100;

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
  private readonly settler: Settler;
  private readonly pulls: PullLoops;
  private stopping: Promise<void> | undefined;
  /** Publishes each pending interrupt's deadline when it is due. */
  private scheduler: TimerScheduler | undefined;
  /** Shrinks finished actors of paused workflows (see DoneActorShrinker). */
  private shrinker: DoneActorShrinker | undefined;
  private markerDeletes: MarkerDeletes | undefined;
  private endpoints: WorkerEndpoints | undefined;

  private constructor(
    readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    js: JetStreamClient,
    readonly subjects: Subjects,
    readonly host: ActorHost,
    private readonly inbound: Inbound,
    private readonly log: Logger,
    concurrency: number,
    private readonly delivery: Delivery,
    outage: Outage,
    /** Steps, failures, redeliveries and latency: served on `HITL_METRICS_PORT`. */
    readonly metrics: WorkerMetrics,
  ) {
    this.settler = new Settler({
      js,
      subjects,
      host,
      log,
      concurrency,
      delivery,
      outage,
      metrics,
    });
    this.pulls = new PullLoops({ js, subjects, log, outage, concurrency, settler: this.settler });
  }

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
            ...(options.config.streamLimits ? { limits: options.config.streamLimits } : {}),
            ...(options.config.finishedRetentionMs !== undefined
              ? { finishedRetentionMs: options.config.finishedRetentionMs }
              : {}),
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
      // How many values per key each bucket keeps, which decides how a key is removed
      // (removeKeyAt): read now, before any loop starts, and again as it ages.
      const [interruptsHistory, snapshotsHistory] = await Promise.all(
        [
          { kv: buckets.interrupts, name: subjects.buckets.interrupts },
          { kv: buckets.snapshots, name: subjects.buckets.snapshots },
        ].map(({ kv, name }) =>
          withRetry(
            `reading the settings of bucket '${name}'`,
            () => new BucketHistory(kv).read(),
            outage,
            STARTUP_RETRY,
          ),
        ),
      );
      const markerDeletes = new MarkerDeletes(jsm);
      const interrupts = new InterruptStore(retryingKv(buckets.interrupts, outage), subjects, {
        js,
        jsm,
        history: interruptsHistory,
        later: markerDeletes,
      });
      const mailboxes = new Mailboxes(jsm, subjects, nc);
      const snapshotsKv = retryingKv(buckets.snapshots, outage);
      // Applied ids and outboxes are kept for four ack waits (the retention of commit.ts).
      const format = options.config.storageFormat ?? 2;
      const shrinker = new DoneActorShrinker(snapshotsKv, subjects, {
        afterMs: 4 * delivery.ackWaitMs,
        format,
        pendingQuestion: (wf) => interrupts.get(wf),
        logger: log,
      });
      const snapshots = new KvSnapshotStore(snapshotsKv, subjects, {
        maxBytes: await withRetry(
          'reading the snapshots bucket',
          () => maxSnapshotBytes(nc, jsm, subjects),
          outage,
          STARTUP_RETRY,
        ),
        format,
        shrinker,
      });
      const host = new ActorHost({
        js,
        subjects,
        snapshots,
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
        mailboxKinds: () => mailboxes.kinds(),
        ...(options.config.finishedRetentionMs !== undefined
          ? { finishedRetentionMs: options.config.finishedRetentionMs }
          : {}),
        ...(options.config.gateTimeoutMs !== undefined
          ? { defaultTimeoutMs: options.config.gateTimeoutMs }
          : {}),
      });
      const worker = new Worker(
        nc,
        options.connection === undefined,
        js,
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
      worker.shrinker = shrinker;
      worker.markerDeletes = markerDeletes;
      if (options.intake) {
        if (!host.hosts(options.intake.actor)) {
          throw new Error(`intake actor '${options.intake.actor}' is not among the hosted kinds`);
        }
        const intake = options.intake.actor;
        await worker.pulls.consume(subjects.streams.tickets, 'tickets', (m, final) =>
          worker.inbound.ticket(m, intake, final),
        );
      }
      await worker.pulls.consume(subjects.streams.responses, 'responses', (m, final) =>
        worker.inbound.response(m, final),
      );
      await worker.pulls.consume(subjects.streams.timers, 'timers', (m, final) =>
        worker.inbound.timer(m, final),
      );
      const retentionMs = options.config.finishedRetentionMs;
      if (retentionMs !== undefined) {
        const purge = new FinishedPurge({
          subjects,
          js,
          jsm,
          snapshots,
          interrupts,
          mailboxes,
          hosted: kinds,
          retentionMs,
          log,
          snapshotsHistory,
        });
        await worker.pulls.consume(subjects.finishedStream, 'finished', (m) => purge.handle(m));
      }
      worker.scheduler = new TimerScheduler(buckets.interrupts, js, subjects, log, (wf, change) =>
        change === 'asked' ? shrinker.asked(wf) : shrinker.resolved(wf),
      );
      // Like every start-up request, the deadline watch's consumer waits through an election.
      const scheduler = worker.scheduler;
      await withRetry('watching deadlines', () => scheduler.start(), outage, STARTUP_RETRY);
      for (const kind of kinds) {
        await worker.pulls.consume(subjects.streams.mailbox, `actor-${kind}`, (m, final) =>
          worker.inbound.mailbox(m, kind, final),
        );
      }
      worker.endpoints = await serveEndpoints(
        {
          nc,
          metrics,
          log,
          closing: () => worker.pulls.closing,
          stepsInFlight: () => worker.pulls.inFlight.size,
        },
        options.config,
        buckets.interrupts,
      );
      log.info('worker started', { actors: kinds, intake: options.intake?.actor ?? null });
      return worker;
    } catch (err) {
      if (options.connection === undefined) await nc.close();
      throw err;
    }
  }

  /** Stops taking messages, lets in-flight steps finish (bounded), closes its connection. */
  stop(timeoutMs = 10_000): Promise<void> {
    this.pulls.closing = true;
    this.host.drain();
    this.pulls.wake();
    this.stopping ??= (async () => {
      await this.scheduler?.stop();
      this.shrinker?.stop();
      // Pull loops end within one fetch expiry; whatever they still receive is handed back.
      await this.pulls.ended();
      if (!(await settlesWithin(Promise.all([...this.pulls.inFlight]), timeoutMs))) {
        // A step still running at the bound (a hung model call, say) is handed back at once
        // for another worker, not left to wait out the ack wait. Should it still commit, the
        // snapshot's compare-and-set lets one of the two commit, and the other is a redelivery.
        for (const m of this.settler.held) m.nak();
        this.log.warn('steps still running at the drain bound were handed back', {
          steps: this.settler.held.size,
          timeoutMs,
        });
      }
      // The markers of the interrupts its steps resolved: deleted now rather than left behind
      // (a step handed back at the bound that still commits may leave one, as may an outage).
      await this.markerDeletes?.flush();
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

  /** Steps running now; after a {@link stop} that hit its bound, the ones it handed back. */
  get stepsInFlight(): number {
    return this.pulls.inFlight.size;
  }
}
