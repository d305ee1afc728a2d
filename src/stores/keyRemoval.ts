import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/nats-core';
import { isWrongLastSequence } from '../nats/retry.js';

const EMPTY = new Uint8Array(0);

/** What {@link removeKeyAt} did. */
export type KeyRemoval =
  /** Nothing of the key is left in the bucket's stream. */
  | 'removed'
  /** The key is gone, but its purge marker stays (the marker's delete was refused). */
  | 'marker-left'
  /** The key's last revision is no longer the one given: nothing was written. */
  | 'changed';

/**
 * Removes KV key `key` of `bucket` if its last revision is still `revision` (whatever it is
 * when `revision` is undefined), leaving nothing in
 * the bucket's stream: a purge marker, which rolls up every older value of the key, then that
 * marker deleted by the sequence its publish acknowledged. A value put since is another
 * message, and is kept.
 *
 * `history`: how many values per key the bucket keeps, when the caller knows it. With 1 (the
 * runtime's buckets, unless an operator raised it) the marker is a plain delete, which replaces
 * the value all the same, and not a rollup: nats-server 2.9 applies a rollup to every consumer
 * of the stream as a subject purge, which moves a consumer that has not yet sent the marker past
 * it. A KV watch then never hears of the removal: measured on nats-server 2.9.10 with 3,000 keys
 * removed 3,000 at a time, a watch in another connection saw 169 rollup markers and every
 * delete marker. The runtime's interrupts bucket is watched by every worker (deadlines, and
 * which paused workflows' finished actors may shrink) and by the inbox's list.
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
