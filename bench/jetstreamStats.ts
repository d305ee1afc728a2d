import type { JetStreamManager } from '@nats-io/jetstream';
import { Subjects } from '../src/nats/subjects.js';

/** One stream's (or KV bucket's) counters. */
export interface StreamCounters {
  /** Sequence of its last stored message: every write (publish, KV put / update / delete). */
  lastSeq: number;
  messages: number;
  bytes: number;
}

/** The counters of every stream and KV bucket of one prefix, by stream name. */
export type StoreCounters = Record<string, StreamCounters>;

/** The stream names that belong to `prefix`: its streams and its KV buckets (`KV_<bucket>`). */
export function ownsStream(prefix: string, name: string): boolean {
  const s = new Subjects(prefix);
  return (
    Object.values(s.streams).includes(name) ||
    Object.values(s.buckets).some((b) => name === `KV_${b}`)
  );
}

export async function storeCounters(jsm: JetStreamManager, prefix: string): Promise<StoreCounters> {
  const out: StoreCounters = {};
  for await (const info of jsm.streams.list()) {
    if (!ownsStream(prefix, info.config.name)) continue;
    out[info.config.name] = {
      lastSeq: info.state.last_seq,
      messages: info.state.messages,
      bytes: info.state.bytes,
    };
  }
  return out;
}

/** Writes between two readings, per stream and in total. */
export function writesBetween(
  before: StoreCounters,
  after: StoreCounters,
): { total: number; byStream: Record<string, number> } {
  const byStream: Record<string, number> = {};
  let total = 0;
  for (const [name, a] of Object.entries(after)) {
    const d = a.lastSeq - (before[name]?.lastSeq ?? 0);
    byStream[name] = d;
    total += d;
  }
  return { total, byStream };
}

/** Stored bytes, per stream and in total. */
export function bytesOf(counters: StoreCounters): {
  total: number;
  byStream: Record<string, number>;
} {
  const byStream: Record<string, number> = {};
  let total = 0;
  for (const [name, c] of Object.entries(counters)) {
    byStream[name] = c.bytes;
    total += c.bytes;
  }
  return { total, byStream };
}
