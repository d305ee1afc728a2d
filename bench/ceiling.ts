import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import type { BenchConfig } from './config.js';
import { progress, round } from './util.js';

/** Section 5: what the server itself allows, from one Node client on the same machine. */
export interface CeilingResult {
  /** Acknowledged publishes per second to a file-storage stream, pipelined. */
  publishesPerSecond: number;
  /** The same with a `Nats-Msg-Id` on each (the runtime's publishes carry one). */
  publishesWithMsgIdPerSecond: number;
  /** KV compare-and-set updates per second (`kv.update(key, value, revision)`), pipelined. */
  kvUpdatesPerSecond: number;
  /** Acknowledged publishes per second, one at a time (a round trip each). */
  serialPublishesPerSecond: number;
  /**
   * Pipelined publishes with the client's default options, as the runtime connects: nats.js
   * then builds an Error (a stack trace) for every request, which costs the client CPU.
   */
  publishesDefaultClientPerSecond: number;
  inFlight: number;
  payloadBytes: number;
}

const PAYLOAD_BYTES = 300;

export async function runCeiling(url: string, cfg: BenchConfig): Promise<CeilingResult> {
  // One Node client drives the server; without async traces it spends half the CPU per request.
  const nc = await connect({ servers: url, name: 'bench-ceiling', noAsyncTraces: true });
  const plain = await connect({ servers: url, name: 'bench-ceiling-default' });
  try {
    const jsm = await jetstreamManager(nc);
    await jsm.streams.add({
      name: 'BENCH_RAW',
      subjects: ['bench.raw.>'],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      num_replicas: 1,
    });
    const js = jetstream(nc, { timeout: 30_000 });
    const payload = new Uint8Array(PAYLOAD_BYTES).fill(120);
    const inFlight = cfg.ceilingInFlight;
    const seconds = cfg.ceilingS;

    progress(`ceiling: pipelined JetStream publishes, ${inFlight} in flight, ${seconds} s`);
    const publishes = await pipelined(inFlight, seconds, async (lane) => {
      await js.publish(`bench.raw.${lane}`, payload);
    });
    progress(`ceiling: ${round(publishes)} acked publishes/s`);
    const withId = await pipelined(inFlight, seconds, async (lane, i) => {
      await js.publish(`bench.raw.${lane}`, payload, { msgID: `m${lane}.${i}` });
    });
    progress(`ceiling: ${round(withId)} acked publishes/s with Nats-Msg-Id`);
    const serial = await pipelined(1, Math.min(seconds, 2), async (lane) => {
      await js.publish(`bench.raw.${lane}`, payload);
    });
    progress(`ceiling: ${round(serial)} acked publishes/s one at a time`);
    const jsPlain = jetstream(plain, { timeout: 30_000 });
    const defaultClient = await pipelined(inFlight, seconds, async (lane) => {
      await jsPlain.publish(`bench.raw.${lane}`, payload);
    });
    progress(`ceiling: ${round(defaultClient)} acked publishes/s with default client options`);

    const kv = await new Kvm(nc).create('bench_raw_kv', {
      storage: StorageType.File,
      history: 1,
    });
    const revisions: number[] = [];
    for (let lane = 0; lane < inFlight; lane++) revisions[lane] = await kv.put(`k${lane}`, payload);
    progress(
      `ceiling: pipelined KV compare-and-set updates, ${inFlight} keys in flight, ${seconds} s`,
    );
    const updates = await pipelined(inFlight, seconds, async (lane) => {
      revisions[lane] = await kv.update(`k${lane}`, payload, revisions[lane] ?? 0);
    });
    progress(`ceiling: ${round(updates)} KV CAS updates/s`);
    await jsm.streams.delete('BENCH_RAW');
    await kv.destroy();
    return {
      publishesPerSecond: round(publishes),
      publishesWithMsgIdPerSecond: round(withId),
      kvUpdatesPerSecond: round(updates),
      serialPublishesPerSecond: round(serial),
      publishesDefaultClientPerSecond: round(defaultClient),
      inFlight,
      payloadBytes: PAYLOAD_BYTES,
    };
  } finally {
    await nc.close();
    await plain.close();
  }
}

/** Runs `lanes` loops of `op` side by side for `seconds`; returns completed ops per second. */
async function pipelined(
  lanes: number,
  seconds: number,
  op: (lane: number, i: number) => Promise<void>,
): Promise<number> {
  let done = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let i = 0; performance.now() < end; i++) {
        await op(lane, i);
        done++;
      }
    }),
  );
  return done / ((performance.now() - t0) / 1000);
}
