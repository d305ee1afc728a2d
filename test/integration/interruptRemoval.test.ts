import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { Subjects } from '../../src/index.js';
import { PendingIndex } from '../../src/inbox/pendingIndex.js';
import { InterruptStore } from '../../src/stores/interruptStore.js';
import { BucketHistory, MarkerDeletes } from '../../src/stores/keyRemoval.js';
import { eventually } from '../helpers/eventually.js';
import { mapLimit, serverPerFile, uniquePrefix, workflowScope } from '../helpers/harness.js';

// Every worker watches the interrupts bucket (deadlines, and which paused workflows' finished
// actors may shrink), and so does the inbox's list: each must hear of every answered question.
// nats-server before 2.9.12 (this machine's is 2.9.10) applies a rollup marker to every consumer
// of the stream as a subject purge, which moves a consumer that has not sent the marker yet past
// it: of many removals at once, a watch heard only a few. A bucket that keeps one value per key
// is removed from with a plain delete marker, deleted in turn two seconds later, not at once: a
// watch that lags by more than a round trip (a full test run on 2 cores) missed some otherwise.

const shared = serverPerFile();

const record = (wf: string) => ({
  workflowId: wf,
  interruptId: `${wf}-i`,
  actor: 'gate',
  type: 'approval' as const,
  question: 'send it?',
  options: ['yes', 'no'],
  createdAt: new Date().toISOString(),
});

/**
 * A new interrupts bucket keeping one value per key, and a store that removes from it as a
 * worker does, except that its markers wait for a flush however slow the run.
 */
async function removingBucket(tag: string) {
  const subjects = new Subjects(uniquePrefix(tag));
  const kv = await new Kvm(shared.nc).create(subjects.buckets.interrupts, { history: 1 });
  const jsm = await jetstreamManager(shared.nc);
  const later = new MarkerDeletes(jsm, 600_000);
  const store = new InterruptStore(kv, subjects, {
    js: jetstream(shared.nc),
    jsm,
    history: await new BucketHistory(kv).read(),
    later,
  });
  return { subjects, kv, jsm, stream: `KV_${subjects.buckets.interrupts}`, later, store };
}

describe('an interrupt resolved', () => {
  it('is heard by a watch in another connection, a thousand at once, and leaves nothing', async () => {
    const { subjects, kv, jsm, stream, later, store } = await removingBucket('irm');
    const watcher = await connect({ servers: shared.server.url });
    const seen = { put: 0, removed: 0 };
    let following: Promise<void> | undefined;
    try {
      const watch = await (await new Kvm(watcher).open(subjects.buckets.interrupts)).watch();
      following = (async () => {
        for await (const e of watch) seen[e.operation === 'PUT' ? 'put' : 'removed'] += 1;
      })();
      const ids = Array.from({ length: 1_000 }, (_, i) => `wf-${i}`);
      await mapLimit(ids, 128, (wf) => store.putIfAbsent(record(wf)));
      await eventually(() => expect(seen.put).toBe(ids.length), { timeout: 20_000 });
      await mapLimit(ids, 128, (wf) => store.resolve(wf, `${wf}-i`));
      await eventually(() => expect(seen.removed).toBe(ids.length), { timeout: 20_000 });
      expect(await store.get('wf-0')).toBeUndefined();
      // The markers go later (two seconds in a worker), or at once when flushed.
      expect((await jsm.streams.info(stream)).state.messages).toBe(ids.length);
      await later.flush();
      expect(later.size).toBe(0);
      expect((await jsm.streams.info(stream)).state.messages).toBe(0);
    } finally {
      await watcher.close();
      await following?.catch(() => undefined);
      await kv.destroy();
    }
  }, 60_000);

  it("asks the next question even when the last one's marker goes while it is put", async () => {
    const { kv, jsm, stream, later, store } = await removingBucket('irc');
    try {
      await store.putIfAbsent(record('wf-c'));
      await store.resolve('wf-c', 'wf-c-i');
      // The marker waits for its delete. A create of the key reads the marker, then writes
      // after it; here the marker's delete lands between the two, as a worker's may.
      const read = kv.get.bind(kv);
      let raced = false;
      kv.get = async (key, opts) => {
        const entry = await read(key, opts);
        if (!raced && entry?.operation === 'DEL') {
          raced = true;
          await later.flush();
        }
        return entry;
      };
      await store.putIfAbsent({ ...record('wf-c'), interruptId: 'wf-c-2' });
      expect(raced).toBe(true);
      expect((await store.get('wf-c'))?.interruptId).toBe('wf-c-2');
      expect((await jsm.streams.info(stream)).state.messages).toBe(1);
    } finally {
      await kv.destroy();
    }
  });

  it('follows an operator who raises the bucket history: answered records stay removed', async () => {
    const subjects = new Subjects(uniquePrefix('irh'));
    const kv = await new Kvm(shared.nc).create(subjects.buckets.interrupts, { history: 1 });
    const jsm = await jetstreamManager(shared.nc);
    const stream = `KV_${subjects.buckets.interrupts}`;
    const history = await new BucketHistory(kv, 0).read();
    const store = new InterruptStore(kv, subjects, { js: jetstream(shared.nc), jsm, history });
    try {
      expect(history.get()).toBe(1);
      const config = (await jsm.streams.info(stream)).config;
      await jsm.streams.update(stream, { ...config, max_msgs_per_subject: 3 });
      // Read again in the background as it ages (here at once).
      await eventually(() => expect(history.get()).toBe(3));
      await store.putIfAbsent(record('wf-h'));
      await store.resolve('wf-h', 'wf-h-i');
      // A delete marker would have left the record readable once the marker went: a rollup.
      expect(await store.get('wf-h')).toBeUndefined();
      expect((await jsm.streams.info(stream)).state.messages).toBe(0);
      await store.putIfAbsent(record('wf-h'));
      expect((await store.get('wf-h'))?.interruptId).toBe('wf-h-i');
    } finally {
      await kv.destroy();
    }
  });

  it('disarms the deadline of each answered question on every worker', async () => {
    await using t = workflowScope(shared.server, 'ird', { HITL_GATE_TIMEOUT_MS: '3600000' });
    const workers = [await t.worker(), await t.worker()];
    const ids = Array.from({ length: 150 }, (_, i) => `d-${i}`);
    await Promise.all(ids.map((id) => t.client.submit({ id, request: 'refund please' })));
    await eventually(
      () => expect(workers.map((w) => w.deadlinesWaiting)).toEqual([ids.length, ids.length]),
      { timeout: 20_000 },
    );
    await Promise.all(ids.map((wf) => t.client.respond(wf, { answer: 'yes', reviewer: 'ana' })));
    // Each worker heard each removal: no timer is left to fire for an answered question.
    await eventually(() => expect(workers.map((w) => w.deadlinesWaiting)).toEqual([0, 0]), {
      timeout: 20_000,
    });
  }, 90_000);

  it('leaves the inbox list at once when workflows are answered together, with no reconcile', async () => {
    await using t = workflowScope(shared.server, 'irw');
    await t.worker();
    const kv = await new Kvm(shared.nc).open(t.subjects.buckets.interrupts);
    // No keys given: the list follows the watch alone, never reconciles.
    const index = await PendingIndex.follow(kv, t.subjects);
    try {
      const ids = Array.from({ length: 150 }, (_, i) => `w-${i}`);
      await Promise.all(ids.map((id) => t.client.submit({ id, request: 'refund please' })));
      await eventually(() => expect(index.size).toBe(ids.length), { timeout: 20_000 });
      await Promise.all(ids.map((wf) => t.client.respond(wf, { answer: 'yes', reviewer: 'ana' })));
      await eventually(() => expect(index.size).toBe(0), { timeout: 20_000 });
    } finally {
      index.stop();
    }
  }, 90_000);
});
