import { jetstreamManager, type JetStreamManager, type MsgRequest } from '@nats-io/jetstream';
import type { KV, KvEntry } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';

// Reads that need no consumer: a role that may create consumers can have the server deliver a
// stream's messages to any subject of its account (a push consumer's deliver subject), which is
// a write in disguise. Reviewers therefore read with stream info and message gets only (see
// deploy/nats-server.conf).

/** A JetStream manager that makes no request of its own (no `$JS.API.INFO` check). */
export function readOnlyManager(nc: NatsConnection): Promise<JetStreamManager> {
  return jetstreamManager(nc, { checkAPI: false });
}

/**
 * The keys of a KV bucket matching `filter` (`>` for all), from the bucket stream's subject
 * counts: deleted keys are listed too (their delete marker is a message), so callers `get` each.
 *
 * @example
 * const keys = await kvKeys(jsm, 'hitl_snapshots', '*.wf-1'); // ['triage.wf-1', 'gate.wf-1']
 */
export async function kvKeys(
  jsm: JetStreamManager,
  bucket: string,
  filter = '>',
): Promise<string[]> {
  const head = `$KV.${bucket}.`;
  const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `${head}${filter}` });
  return Object.keys(info.state.subjects ?? {})
    .filter((s) => s.startsWith(head))
    .map((s) => s.slice(head.length));
}

/**
 * Every message of `stream` on subjects matching `filter`, oldest first, fetched one by one
 * (`next_by_subj`) with the stream API, which the stream's leader answers (a direct get may be
 * answered by a replica that lags behind it). `msgId`: its `Nats-Msg-Id` header, if any.
 *
 * @example
 * for await (const m of storedMessages(jsm, 'HITL_EVENTS', 'hitl.events.wf-1.>')) console.log(m.subject);
 */
export async function* storedMessages(
  jsm: JetStreamManager,
  stream: string,
  filter: string,
): AsyncGenerator<{
  seq: number;
  subject: string;
  data: Uint8Array;
  time: Date;
  msgId?: string;
}> {
  for (let seq = 1; ;) {
    // nats-server 2.9 takes `next_by_subj` in a stream message get; the client types it for
    // direct gets only.
    const request = { seq, next_by_subj: filter } as unknown as MsgRequest;
    const m = await jsm.streams.getMessage(stream, request);
    if (!m) return;
    const msgId = m.header?.get('Nats-Msg-Id');
    yield {
      seq: m.seq,
      subject: m.subject,
      data: m.data,
      time: m.time,
      ...(msgId ? { msgId } : {}),
    };
    seq = m.seq + 1;
  }
}

/**
 * The `Nats-Msg-Id`s of every message `stream` holds on `subject` (see {@link storedMessages}):
 * one request per message, plus one.
 *
 * @example
 * const ids = await storedMsgIds(jsm, 'HITL_EVENTS', 'hitl.human.request.wf-1');
 * ids.has('wf-1.gate.1.0'); // asked already
 */
export async function storedMsgIds(
  jsm: JetStreamManager,
  stream: string,
  subject: string,
): Promise<Set<string>> {
  const ids = new Set<string>();
  for await (const m of storedMessages(jsm, stream, subject)) {
    if (m.msgId !== undefined) ids.add(m.msgId);
  }
  return ids;
}

/**
 * `fn` over `items` (and their index) with at most `limit` calls in flight, results in order: a listing of
 * 100,000 keys must not fire 100,000 requests at once (they would time out together).
 *
 * @example
 * const records = await mapLimit(keys, 256, (k) => interrupts.get(k));
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return results;
}

/** A listing watch that delivers nothing for this long is given up (see {@link lastValues}). */
const WATCH_STALL_MS = 5_000;

/**
 * Every key's last value in a KV bucket, live ones only, read with one watch (an ordered
 * consumer): much faster than a get per key, but it needs a consumer, which a read-only role may
 * not create (the permissions violation is thrown). Undefined when the watch stalls (the bucket
 * emptied as it started, say): the caller reads key by key instead.
 */
async function lastValues(kv: KV): Promise<KvEntry[] | undefined> {
  // The watch delivers each key's last value, then waits for updates: it is done when the
  // server says none is pending. An empty bucket delivers nothing at all.
  if ((await kv.status()).values === 0) return [];
  const watch = await kv.watch();
  const entries: KvEntry[] = [];
  let stalled = false;
  let timer: NodeJS.Timeout | undefined;
  const expectMore = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      stalled = true;
      watch.stop();
    }, WATCH_STALL_MS);
  };
  try {
    expectMore();
    for await (const entry of watch) {
      expectMore();
      if (entry.operation === 'PUT') entries.push(entry);
      if (entry.delta === 0) break;
    }
  } finally {
    clearTimeout(timer);
    watch.stop();
  }
  return stalled ? undefined : entries;
}

/** Whether `err` is the server refusing this user something (its permissions). */
function isPermissionViolation(err: unknown): boolean {
  return /permissions violation/i.test(String(err));
}

/** Reads a KV entry's value: JSON unless the bucket's store says otherwise (it may throw). */
export type ValueDecoder = (entry: KvEntry) => unknown;

const jsonValue: ValueDecoder = (entry) => entry.json();

/**
 * Reads every live value of one KV bucket, decoded (undefined for a value that does not decode): with one
 * watch, about 8× faster than a get per key; or, for a user who may not create consumers (the
 * reviewer role of deploy/nats-server.conf, remembered after the first refusal) and when the
 * watch stalls, with a get of each key `keys()` lists.
 */
export class BucketReader {
  private watchRefused = false;

  /** @param decode a value's JSON; a value it throws on reads as undefined. */
  constructor(
    private readonly kv: KV,
    private readonly decode: ValueDecoder = jsonValue,
  ) {}

  private valueOf(entry: KvEntry): unknown {
    try {
      return this.decode(entry);
    } catch {
      return undefined;
    }
  }

  async values(keys: () => Promise<string[]>, concurrency = 256): Promise<unknown[]> {
    if (!this.watchRefused) {
      try {
        const entries = await lastValues(this.kv);
        if (entries) return entries.map((e) => this.valueOf(e));
      } catch (err) {
        if (!isPermissionViolation(err)) throw err;
        this.watchRefused = true;
      }
    }
    return mapLimit(await keys(), concurrency, async (key) => {
      const entry = await this.kv.get(key);
      return entry?.operation === 'PUT' ? this.valueOf(entry) : undefined;
    });
  }
}
