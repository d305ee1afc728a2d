import {
  AckPolicy,
  DeliverPolicy,
  RetentionPolicy,
  StorageType,
  jetstreamManager,
  type JetStreamManager,
  type StreamConfig,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { nanos, type NatsConnection } from '@nats-io/transport-node';
import { DUPLICATE_WINDOW_MS } from '../base/config.js';
import type { Subjects } from './subjects.js';

export { DUPLICATE_WINDOW_MS };

/** How long a consumer waits for an ack before redelivering. */
export const ACK_WAIT_MS = 30_000;
/** Deliveries of one message before it is dead-lettered instead of tried again. */
export const MAX_DELIVER = 10;

/** The KV buckets the runtime works with. */
export interface Buckets {
  snapshots: KV;
  interrupts: KV;
}

type NamedStreamConfig = Partial<StreamConfig> & { name: string };

function streamConfigs(
  s: Subjects,
  replicas: number,
  eventsMaxAgeMs: number | undefined,
): NamedStreamConfig[] {
  const common = {
    storage: StorageType.File,
    duplicate_window: nanos(DUPLICATE_WINDOW_MS),
    num_replicas: replicas,
    // Set every time (0: kept forever), so that a worker started without a limit lifts one.
    max_age: 0,
  };
  return [
    { name: s.streams.tickets, subjects: [s.ticketsNew], retention: RetentionPolicy.Limits },
    { name: s.streams.responses, subjects: [s.respondAll], retention: RetentionPolicy.Limits },
    {
      name: s.streams.events,
      subjects: [s.events(), s.humanRequestAll],
      retention: RetentionPolicy.Limits,
      ...(eventsMaxAgeMs !== undefined ? { max_age: nanos(eventsMaxAgeMs) } : {}),
    },
    { name: s.streams.outbound, subjects: [s.outboundAll], retention: RetentionPolicy.Limits },
    { name: s.streams.dlq, subjects: [s.dlqAll], retention: RetentionPolicy.Limits },
    // Mailboxes are work queues: a message is gone once its step is committed and acked.
    { name: s.streams.mailbox, subjects: [s.mailboxAll], retention: RetentionPolicy.Workqueue },
    // Deadlines: a timer message is redelivered (nak with delay) until it is due.
    { name: s.streams.timers, subjects: [s.timerAll], retention: RetentionPolicy.Workqueue },
  ].map((c) => ({ ...common, ...c }));
}

async function ensureStream(jsm: JetStreamManager, config: NamedStreamConfig): Promise<void> {
  const name = config.name;
  try {
    await jsm.streams.info(name);
    await jsm.streams.update(name, config);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      await jsm.streams.add(config);
    } catch (addErr) {
      // Another worker created it between our info and add.
      if (!/already in use/i.test(String(addErr))) throw addErr;
    }
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof Error && /not found/i.test(err.message);
}

/**
 * Creates the contract's streams, KV buckets and the runtime's durable consumers when missing,
 * with the same settings every time. Safe to run from many workers at once.
 *
 * @example
 * const { buckets } = await ensureTopology(nc, new Subjects('hitl'), ['triage', 'gate']);
 */
export async function ensureTopology(
  nc: NatsConnection,
  subjects: Subjects,
  kinds: readonly string[] = [],
  delivery: { ackWaitMs?: number; maxDeliver?: number } = {},
  storage: { replicas?: number; eventsMaxAgeMs?: number } = {},
): Promise<{ jsm: JetStreamManager; buckets: Buckets }> {
  const replicas = storage.replicas ?? 1;
  const jsm = await jetstreamManager(nc);
  for (const config of streamConfigs(subjects, replicas, storage.eventsMaxAgeMs)) {
    await ensureStream(jsm, config);
  }
  const kvm = new Kvm(nc);
  const bucket = async (name: string): Promise<KV> => {
    const kv = await kvm.create(name, {
      storage: StorageType.File,
      history: 1,
      replicas,
      // Replicated, a bucket's direct gets may be answered by a follower that lags: the
      // workers read through the stream leader, so a step never starts from a stale snapshot
      // or misses an interrupt just put (see docs/deploying-cluster.md).
      ...(replicas > 1 ? { allow_direct: false } : {}),
    });
    // An existing bucket is opened as it is: bring its replicas to HITL_REPLICAS (R1 -> R3).
    const stream = `KV_${name}`;
    const info = await jsm.streams.info(stream);
    if (info.config.num_replicas !== replicas) {
      await jsm.streams.update(stream, { ...info.config, num_replicas: replicas });
    }
    return kv;
  };
  const buckets: Buckets = {
    snapshots: await bucket(subjects.buckets.snapshots),
    interrupts: await bucket(subjects.buckets.interrupts),
  };
  const durable = {
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    ack_wait: nanos(delivery.ackWaitMs ?? ACK_WAIT_MS),
    // The worker dead-letters at its limit; the server's, a little higher, is only a backstop.
    max_deliver: (delivery.maxDeliver ?? MAX_DELIVER) + 5,
    max_ack_pending: 10_000,
    num_replicas: replicas,
  };
  const consumers: { stream: string; name: string; filter: string; maxDeliver?: number }[] = [
    {
      stream: subjects.streams.tickets,
      name: subjects.consumer('tickets'),
      filter: subjects.ticketsNew,
    },
    {
      stream: subjects.streams.responses,
      name: subjects.consumer('responses'),
      filter: subjects.respondAll,
    },
    // A timer is nak'ed with a delay until it is due, however many times that takes.
    {
      stream: subjects.streams.timers,
      name: subjects.consumer('timers'),
      filter: subjects.timerAll,
      maxDeliver: -1,
    },
    ...kinds.map((kind) => ({
      stream: subjects.streams.mailbox,
      name: subjects.consumer(`actor-${kind}`),
      filter: subjects.mailboxOf(kind),
    })),
  ];
  for (const { stream, name, filter, maxDeliver } of consumers) {
    const config = {
      ...durable,
      ...(maxDeliver !== undefined ? { max_deliver: maxDeliver } : {}),
      durable_name: name,
      filter_subject: filter,
    };
    try {
      await jsm.consumers.info(stream, name);
      await jsm.consumers.update(stream, name, {
        ack_wait: config.ack_wait,
        max_deliver: config.max_deliver,
        max_ack_pending: config.max_ack_pending,
      });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await jsm.consumers.add(stream, config);
      } catch (addErr) {
        if (!/already (exists|in use)/i.test(String(addErr))) throw addErr;
      }
    }
  }
  return { jsm, buckets };
}
