import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type ConsumerConfig,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { millis, nanos, type NatsConnection } from '@nats-io/transport-node';
import { DUPLICATE_WINDOW_MS, type StreamLimitSettings } from '../base/config.js';
import { PrefixClashError } from '../base/errors.js';
import { createLogger, type Logger } from '../base/logger.js';
import { settingsToApply } from './settingsRule.js';
import { RUNTIME_MAX_MSG_BYTES, streamLimits } from './streamLimits.js';
import type { Subjects } from './subjects.js';

export { DUPLICATE_WINDOW_MS };

/** How long a consumer waits for an ack before redelivering. */
export const ACK_WAIT_MS = 30_000;
/** Deliveries of one message before it is dead-lettered instead of tried again. */
export const MAX_DELIVER = 10;
/** Completed workflows waiting for their removal that the `finished` consumer holds at most. */
const FINISHED_MAX_ACK_PENDING = 1_000;

/** The KV buckets the runtime works with. */
export interface Buckets {
  snapshots: KV;
  interrupts: KV;
}

type NamedStreamConfig = Partial<StreamConfig> & { name: string; subjects: string[] };

/** A stream the runtime wants: its identity, then its settings split by the storage rule. */
interface WantedStream {
  name: string;
  subjects: string[];
  retention: RetentionPolicy;
  /** This stream's own defaults (its limits: streamLimits.ts): set on creation, else warned of. */
  defaults?: Partial<StreamConfig>;
  /** Named by a variable: applied to an existing stream. */
  explicit?: Partial<StreamConfig>;
}

function streamDefaults(replicas: number): Partial<StreamConfig> {
  return {
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: replicas,
  };
}

function wantedStreams(s: Subjects, storage: StorageSettings): WantedStream[] {
  const replicas = storage.replicas !== undefined ? { num_replicas: storage.replicas } : {};
  const age = (ms: number | undefined) => (ms !== undefined ? { max_age: nanos(ms) } : {});
  const bytes = (n: number | undefined) => (n !== undefined ? { max_bytes: n } : {});
  const set = storage.limits ?? {};
  // Each stream's size and age limits when no variable names them (streamLimits.ts).
  const limitsOf = streamLimits(s, {}, storage.maxPayloadBytes);
  const limits = RetentionPolicy.Limits;
  return [
    {
      name: s.streams.tickets,
      subjects: [s.ticketsNew],
      retention: limits,
      explicit: { ...bytes(set.ticketsMaxBytes), ...age(set.ticketsMaxAgeMs) },
    },
    {
      name: s.streams.responses,
      subjects: [s.respondAll],
      retention: limits,
      explicit: { ...bytes(set.responsesMaxBytes), ...age(set.responsesMaxAgeMs) },
    },
    {
      name: s.streams.events,
      subjects: [s.events(), s.humanRequestAll],
      retention: limits,
      explicit: { ...bytes(set.eventsMaxBytes), ...age(set.eventsMaxAgeMs) },
    },
    {
      name: s.streams.outbound,
      subjects: [s.outboundAll],
      retention: limits,
      explicit: age(set.outboundMaxAgeMs),
    },
    {
      name: s.streams.dlq,
      subjects: [s.dlqAll],
      retention: limits,
      explicit: { ...bytes(set.dlqMaxBytes), ...age(set.dlqMaxAgeMs) },
    },
    // Mailboxes are work queues: a message is gone once its step is committed and acked.
    { name: s.streams.mailbox, subjects: [s.mailboxAll], retention: RetentionPolicy.Workqueue },
    // Deadlines: a due timer, published by the workers' deadline scheduler (and the pause's
    // own, put back until due when it is near).
    { name: s.streams.timers, subjects: [s.timerAll], retention: RetentionPolicy.Workqueue },
    // With HITL_FINISHED_RETENTION_MS, the completed workflows to remove, in the order they
    // completed. A stream of its own, which workers of earlier versions leave alone.
    ...(storage.finishedRetentionMs !== undefined
      ? [
          {
            name: s.finishedStream,
            subjects: [s.finishedAll],
            retention: RetentionPolicy.Workqueue,
          },
        ]
      : []),
  ].map((w: WantedStream) => ({
    ...w,
    defaults: limitsOf[w.name] ?? {},
    explicit: { ...replicas, ...(w.explicit ?? {}) },
  }));
}

/**
 * Refuses a prefix whose streams already belong to another prefix (`team-a` and `team_a` both
 * map to `TEAM_A_*`): updating them would take that deployment's subjects away, and its
 * tickets would stop being stored. Checked before anything is created or changed.
 */
async function checkPrefix(
  jsm: JetStreamManager,
  prefix: string,
  streams: WantedStream[],
): Promise<void> {
  for (const wanted of streams) {
    let subjects: string[];
    try {
      subjects = (await jsm.streams.info(wanted.name)).config.subjects ?? [];
    } catch (err) {
      if (isNotFound(err)) continue;
      throw err;
    }
    const foreign = subjects.find((subject) => !subject.startsWith(`${prefix}.`));
    if (foreign === undefined) continue;
    // The other prefix is what stands before one of our subjects' tails.
    const tail = wanted.subjects
      .map((ours) => ours.slice(prefix.length))
      .find((t) => foreign.endsWith(t));
    const other = tail !== undefined ? foreign.slice(0, -tail.length) : foreign;
    throw new PrefixClashError(prefix, wanted.name, other);
  }
}

async function ensureStream(
  jsm: JetStreamManager,
  wanted: WantedStream,
  defaults: Partial<StreamConfig>,
  log: Logger,
): Promise<void> {
  const { name, subjects, retention } = wanted;
  const explicit = wanted.explicit ?? {};
  const own = { ...defaults, ...(wanted.defaults ?? {}) };
  const config: NamedStreamConfig = { ...own, ...explicit, name, subjects, retention };
  let current: StreamConfig;
  try {
    current = (await jsm.streams.info(name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      // Another worker created it between our info and add.
      if (!/already in use/i.test(String(addErr))) throw addErr;
    }
    return;
  }
  const changes = settingsToApply(
    current,
    { what: `stream '${name}'`, explicit, defaults: { ...own, retention } },
    log,
  );
  const missing = subjects.filter((subject) => !(current.subjects ?? []).includes(subject));
  if (missing.length > 0) {
    changes.subjects = [...(current.subjects ?? []), ...missing];
    log.info('subjects added to stream', { stream: name, subjects: missing });
  }
  if (Object.keys(changes).length > 0) {
    await jsm.streams.update(name, { ...current, ...changes });
  }
}

/** Brings an existing bucket's stream (`KV_<bucket>`) under the storage rule. */
async function ensureBucketSettings(
  jsm: JetStreamManager,
  bucket: string,
  storage: StorageSettings,
  log: Logger,
): Promise<void> {
  const stream = `KV_${bucket}`;
  const info = await jsm.streams.info(stream);
  const changes = settingsToApply(
    info.config,
    {
      what: `bucket '${bucket}'`,
      explicit: {
        ...(storage.replicas !== undefined ? { num_replicas: storage.replicas } : {}),
        ...((storage.replicas ?? 1) > 1 ? { allow_direct: false } : {}),
      },
      defaults: { num_replicas: 1, storage: StorageType.File, max_msgs_per_subject: 1 },
    },
    log,
  );
  if (Object.keys(changes).length > 0) {
    await jsm.streams.update(stream, { ...info.config, ...changes });
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

/** Storage settings the variables name (`HITL_REPLICAS`, `HITL_EVENTS_MAX_AGE_MS`); unset: not named. */
export interface StorageSettings {
  replicas?: number;
  /** Size and age limits named by variables (`HITL_TICKETS_MAX_AGE_MS` and the like). */
  limits?: StreamLimitSettings;
  /** `HITL_MAX_PAYLOAD_BYTES`: the inbound streams take messages of twice this at most. */
  maxPayloadBytes?: number;
  /**
   * `HITL_FINISHED_RETENTION_MS`: when set, the completed workflows to remove have a stream
   * (`<PREFIX>_FINISHED`) and the `finished` consumer reads them.
   */
  finishedRetentionMs?: number;
}

/** Delivery settings the variables name (`HITL_ACK_WAIT_MS`, `HITL_MAX_DELIVER`); unset: not named. */
export interface DeliverySettings {
  ackWaitMs?: number;
  maxDeliver?: number;
}

/** What {@link ensureTopology} leaves the worker with. */
export interface Topology {
  jsm: JetStreamManager;
  buckets: Buckets;
  /**
   * The ack wait each consumer really has (by role: `tickets`, `responses`, `timers`,
   * `actor-<kind>`), which an operator may have set and no variable names.
   */
  ackWaitMs: Record<string, number>;
}

/**
 * Creates the contract's streams, KV buckets and the runtime's durable consumers when missing.
 * On what exists it follows the storage rule (see {@link settingsToApply}): what a variable
 * names is applied and logged, the rest is left as the operator set it. Refuses a prefix whose
 * streams another prefix already uses ({@link PrefixClashError}). Safe to run from many workers
 * at once.
 *
 * @example
 * const { buckets } = await ensureTopology(nc, new Subjects('hitl'), ['triage', 'gate']);
 */
export async function ensureTopology(
  nc: NatsConnection,
  subjects: Subjects,
  kinds: readonly string[] = [],
  delivery: DeliverySettings = {},
  storage: StorageSettings = {},
  log: Logger = createLogger({ component: 'topology' }),
): Promise<Topology> {
  const jsm = await jetstreamManager(nc);
  const streams = wantedStreams(subjects, storage);
  await checkPrefix(jsm, subjects.prefix, streams);
  const defaults = streamDefaults(storage.replicas ?? 1);
  for (const wanted of streams) await ensureStream(jsm, wanted, defaults, log);
  const kvm = new Kvm(nc);
  const bucket = async (name: string): Promise<KV> => {
    const kv = await kvm.create(name, {
      storage: StorageType.File,
      history: 1,
      replicas: storage.replicas ?? 1,
      maxValueSize: RUNTIME_MAX_MSG_BYTES,
      // Replicated, a bucket's direct gets may be answered by a follower that lags: the
      // workers read through the stream leader, so a step never starts from a stale snapshot
      // or misses an interrupt just put (see docs/deploying-cluster.md).
      ...((storage.replicas ?? 1) > 1 ? { allow_direct: false } : {}),
    });
    // kvm.create opens an existing bucket as it is.
    await ensureBucketSettings(jsm, name, storage, log);
    return kv;
  };
  const buckets: Buckets = {
    snapshots: await bucket(subjects.buckets.snapshots),
    interrupts: await bucket(subjects.buckets.interrupts),
  };
  const ackWaitMs: Record<string, number> = {};
  const finished = storage.finishedRetentionMs !== undefined;
  for (const consumer of wantedConsumers(subjects, kinds, finished)) {
    ackWaitMs[consumer.role] = await ensureConsumer(
      jsm,
      subjects,
      consumer,
      delivery,
      log,
      storage.replicas,
    );
  }
  return { jsm, buckets, ackWaitMs };
}

interface WantedConsumer {
  stream: string;
  role: string;
  filter: string;
  /** Its `max_ack_pending` on creation (10,000 unless named). */
  maxAckPending?: number;
}

function wantedConsumers(
  subjects: Subjects,
  kinds: readonly string[],
  finished: boolean,
): WantedConsumer[] {
  return [
    { stream: subjects.streams.tickets, role: 'tickets', filter: subjects.ticketsNew },
    { stream: subjects.streams.responses, role: 'responses', filter: subjects.respondAll },
    // A due timer is put back while a response stored before it is not yet applied.
    { stream: subjects.streams.timers, role: 'timers', filter: subjects.timerAll },
    // Completed workflows, in the order they completed: one not yet due is put back until it
    // is, so those held wait for the earliest due times, and at most this many are held.
    ...(finished
      ? [
          {
            stream: subjects.finishedStream,
            role: 'finished',
            filter: subjects.finishedAll,
            maxAckPending: FINISHED_MAX_ACK_PENDING,
          },
        ]
      : []),
    ...kinds.map((kind) => ({
      stream: subjects.streams.mailbox,
      role: `actor-${kind}`,
      filter: subjects.mailboxOf(kind),
    })),
  ];
}

/** Creates or brings under the storage rule one durable consumer; returns its real ack wait. */
async function ensureConsumer(
  jsm: JetStreamManager,
  subjects: Subjects,
  wanted: WantedConsumer,
  delivery: DeliverySettings,
  log: Logger,
  replicas: number | undefined,
): Promise<number> {
  const name = subjects.consumer(wanted.role);
  const defaults: Partial<ConsumerConfig> = {
    ack_wait: nanos(ACK_WAIT_MS),
    max_ack_pending: wanted.maxAckPending ?? 10_000,
  };
  const explicit: Partial<ConsumerConfig> = {
    ...(delivery.ackWaitMs !== undefined ? { ack_wait: nanos(delivery.ackWaitMs) } : {}),
    // HITL_REPLICAS for consumers too, so a durable survives losing a node: on existing ones as
    // well, since the streams are brought to it, and a consumer made before (R1) would be lost
    // with its one node.
    ...(replicas !== undefined ? { num_replicas: replicas } : {}),
    // Unlimited on the server, which would otherwise stop delivering without a word: the worker
    // counts a message's failed tries itself (HITL_MAX_DELIVER) and parks or dead-letters it,
    // while a message it puts back to wait (a deadline not due, a snapshot of a newer machine
    // version in a rolling upgrade) uses up nothing. Needed for correctness, so always applied,
    // on existing consumers too.
    max_deliver: -1,
  };
  const config: Partial<ConsumerConfig> = {
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ...defaults,
    ...explicit,
    durable_name: name,
    filter_subject: wanted.filter,
  };
  let current: ConsumerConfig;
  try {
    current = (await jsm.consumers.info(wanted.stream, name)).config;
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      return ackWaitOf((await jsm.consumers.add(wanted.stream, config)).config);
    } catch (addErr) {
      if (!/already (exists|in use)/i.test(String(addErr))) throw addErr;
      current = (await jsm.consumers.info(wanted.stream, name)).config;
    }
  }
  const changes = settingsToApply(current, { what: `consumer '${name}'`, explicit, defaults }, log);
  if (Object.keys(changes).length === 0) return ackWaitOf(current);
  const updated = await jsm.consumers.update(wanted.stream, name, changes);
  return ackWaitOf(updated.config);
}

function ackWaitOf(config: Partial<ConsumerConfig>): number {
  return config.ack_wait !== undefined ? millis(config.ack_wait) : ACK_WAIT_MS;
}
