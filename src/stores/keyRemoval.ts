import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { headers } from '@nats-io/nats-core';
import { settlesWithin } from '../base/timing.js';
import { isWrongLastSequence } from '../nats/retry.js';
import { mapLimit } from '../nats/streamReads.js';

const EMPTY = new Uint8Array(0);

/** What {@link removeKeyAt} did. */
export type KeyRemoval =
  /** Nothing of the key is left in the bucket's stream (with `later`: once its delete runs). */
  | 'removed'
  /** The key is gone, but its marker stays (the marker's delete was refused). */
  | 'marker-left'
  /** The key's last revision is no longer the one given: nothing was written. */
  | 'changed';

/**
 * Removes KV key `key` of `bucket` if its last revision is still `revision` (whatever it is
 * when `revision` is undefined), leaving nothing in the bucket's stream: a marker, then that
 * marker deleted by the sequence its publish acknowledged. A value put since is another
 * message, and is kept.
 *
 * `history`: how many values per key the bucket keeps, when the caller knows it (see
 * {@link BucketHistory}). With 1 (the runtime's buckets, unless an operator raised it) the
 * marker is a plain delete, which the bucket's limit of one message per key makes replace the
 * value. Otherwise it is a purge, which rolls up every older value of the key; but nats-server
 * before 2.9.12 (nats-io/nats-server#3838; Debian's is 2.9.10) applies a rollup to every
 * consumer of the stream as a subject purge, moving a consumer to the marker's sequence past
 * every message it had not yet sent, of any key. A KV watch then never hears of those: on
 * 2.9.10, of 1,000 keys removed at once, a watch in another connection heard 44 rollups, and
 * every delete marker. The runtime's interrupts bucket is watched by every worker (deadlines,
 * and which paused workflows' finished actors may shrink) and by the inbox's list.
 *
 * `later`: deletes the marker a moment later rather than at once (see {@link MarkerDeletes}).
 *
 * Not a stream purge filtered on the key: nats-server before 2.9.18 replays one, on a node that
 * restarts and recovers it from its raft log, as a purge of the whole stream up to that point
 * (nats-io/nats-server#4196), and every other key would be lost on that node.
 *
 * @example
 * await removeKeyAt(js, jsm, 'hitl_interrupts', 'wf-1', 42); // 'removed'
 */
export async function removeKeyAt(
  js: JetStreamClient,
  jsm: JetStreamManager,
  bucket: string,
  key: string,
  revision: number | undefined,
  history?: number,
  later?: MarkerDeletes,
): Promise<KeyRemoval> {
  const h = headers();
  if (history === 1) {
    h.set('KV-Operation', 'DEL');
  } else {
    h.set('KV-Operation', 'PURGE');
    h.set('Nats-Rollup', 'sub');
  }
  if (revision !== undefined) h.set('Nats-Expected-Last-Subject-Sequence', String(revision));
  // With a revision the marker gets a message id of its own: a publish the runtime's
  // JetStream client sends again after a timeout (a leader election) then returns the first
  // copy's acknowledgement, with its sequence, rather than failing as changed.
  const msgID = revision === undefined ? undefined : `purge.${key}.${revision}`;
  let seq: number;
  try {
    seq = (
      await js.publish(`$KV.${bucket}.${key}`, EMPTY, {
        headers: h,
        ...(msgID === undefined ? {} : { msgID }),
      })
    ).seq;
  } catch (err) {
    if (isWrongLastSequence(err)) return 'changed';
    throw err;
  }
  if (later) {
    later.add(`KV_${bucket}`, seq);
    return 'removed';
  }
  try {
    return (await jsm.streams.deleteMessage(`KV_${bucket}`, seq, false))
      ? 'removed'
      : 'marker-left';
  } catch {
    // Refused (the role may not delete) or cut off: the key is gone either way; a marker
    // left costs listing time only.
    return 'marker-left';
  }
}

/** How long a {@link BucketHistory} trusts what it read. */
const HISTORY_MAX_AGE_MS = 10_000;

/**
 * How many values per key a KV bucket keeps, as {@link removeKeyAt} needs it: read when a
 * worker starts, and again in the background once it is 10 s old, so that an operator who
 * raises it on a running system is heeded within seconds (a delete marker in a bucket that
 * keeps more than one value leaves the value it was to remove readable once the marker goes).
 * Raise it with the workers stopped to leave no such window. A failed read keeps the last value.
 */
export class BucketHistory {
  private value: number | undefined;
  private readAt = 0;
  private reading: Promise<void> | undefined;

  constructor(
    private readonly kv: Pick<KV, 'status'>,
    private readonly maxAgeMs = HISTORY_MAX_AGE_MS,
  ) {}

  /** Reads it now; throws when the read fails. */
  async read(): Promise<this> {
    this.value = (await this.kv.status()).history;
    this.readAt = Date.now();
    return this;
  }

  /** The value last read; starts a read in the background once it is 10 s old. */
  get(): number | undefined {
    if (this.reading === undefined && Date.now() - this.readAt > this.maxAgeMs) {
      this.reading = this.read()
        .then(
          () => undefined,
          () => undefined,
        )
        .finally(() => {
          this.reading = undefined;
        });
    }
    return this.value;
  }
}

/** How long a marker stays before {@link MarkerDeletes} deletes it. */
const MARKER_DELAY_MS = 2_000;

/** Markers deleted at once, at most, by a {@link MarkerDeletes}. */
const MARKER_CONCURRENCY = 16;

/**
 * Deletes KV markers two seconds after their publish instead of at once. A watch is told of a
 * removal by its marker, and a watch the server has not yet sent the marker to when it is
 * deleted is never told: with the marker deleted one round trip after its publish, in a full
 * test run on 2 cores a watch missed 1 of 1,000 removals and each of two workers' deadline
 * watches 2 of 150. Each marker is still deleted, by one request as before; a worker that dies
 * first leaves the last two seconds' markers, which cost listing time only (in a bucket that
 * keeps one value per key, a next value of the key replaces its marker). A create of a key whose
 * marker goes meanwhile can fail as if the key were live: {@link InterruptStore.putIfAbsent}
 * reads it again. {@link flush} deletes what waits, at once (a worker stopping).
 */
export class MarkerDeletes {
  /** Stream and sequence of each marker to delete, with when it is due, in due order. */
  private readonly queue: { stream: string; seq: number; due: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly delayMs = MARKER_DELAY_MS,
  ) {}

  /** Markers waiting to be deleted. */
  get size(): number {
    return this.queue.length;
  }

  /** Deletes the message at `seq` of `stream` once the delay has passed. */
  add(stream: string, seq: number): void {
    this.queue.push({ stream, seq, due: performance.now() + this.delayMs });
    this.arm();
  }

  /**
   * Deletes every marker waiting, due or not, for at most `timeoutMs` (NATS may be away while a
   * worker stops); what is left then stays, which costs listing time only.
   */
  async flush(timeoutMs = 5_000): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const all = (async () => {
      await this.running;
      await this.run(Infinity);
    })();
    await settlesWithin(all, timeoutMs);
  }

  private arm(): void {
    const head = this.queue[0];
    if (this.timer !== undefined || this.running !== undefined || head === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.running = this.run(performance.now()).finally(() => {
          this.running = undefined;
          this.arm();
        });
      },
      Math.max(0, head.due - performance.now()),
    );
    this.timer.unref();
  }

  private async run(now: number): Promise<void> {
    let due = 0;
    while (due < this.queue.length && (this.queue[due]?.due ?? Infinity) <= now) due += 1;
    const batch = this.queue.splice(0, due);
    await mapLimit(batch, MARKER_CONCURRENCY, ({ stream, seq }) =>
      this.jsm.streams.deleteMessage(stream, seq, false).then(
        () => undefined,
        () => undefined, // refused or cut off: a marker left costs listing time only
      ),
    );
  }
}
