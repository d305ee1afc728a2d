import { jetstream } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { Subjects } from '../../src/index.js';
import { ensureTopology } from '../../src/nats/topology.js';
import { BucketHistory } from '../../src/stores/keyRemoval.js';
import { InterruptStore } from '../../src/stores/interruptStore.js';
import { clusterPerFile, streamCaughtUp } from '../helpers/cluster.js';
import { eventually } from '../helpers/eventually.js';
import { uniquePrefix } from '../helpers/harness.js';

// A node of a three-node cluster is killed and restarted after interrupts were resolved, then
// made the leader of the interrupts bucket: the records still pending must read as pending
// there. nats-server before 2.9.18 replays a filtered stream purge, when a restarted node
// recovers it from its raft log, as a purge of the whole stream up to that point
// (nats-io/nats-server#4196): a resolved interrupt's marker must be removed some other way.

const shared = clusterPerFile();

/** Waits until `stream` has a leader and two current followers. */
async function caughtUp(stream: string): Promise<string> {
  return eventually(() => streamCaughtUp(shared.jsm, stream), {
    timeout: 30_000,
    interval: 100,
    message: `${stream} never caught up`,
  });
}

/** Asks `stream`'s leader to step down until `name` leads it. */
async function makeLeader(stream: string, name: string): Promise<void> {
  await eventually(
    async () => {
      const leader = await caughtUp(stream);
      if (leader === name) return;
      await shared.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${stream}`, undefined, {
        timeout: 2_000,
      });
      throw new Error(`${leader} leads ${stream}, not ${name}`);
    },
    { timeout: 30_000, interval: 200, message: `${name} never led ${stream}` },
  );
}

describe('the interrupts bucket on a three-node cluster', () => {
  it('keeps every pending interrupt when a node restarted after interrupts were resolved becomes leader', async () => {
    const subjects = new Subjects(uniquePrefix('markers'));
    const { buckets } = await ensureTopology(shared.nc, subjects, [], {}, { replicas: 3 });
    // As a worker removes keys: with delete markers, the bucket keeping one value per key.
    const store = new InterruptStore(buckets.interrupts, subjects, {
      js: jetstream(shared.nc),
      jsm: shared.jsm,
      history: await new BucketHistory(buckets.interrupts).read(),
    });
    const stream = `KV_${subjects.buckets.interrupts}`;
    const record = (i: number) => ({
      workflowId: `wf-${i}`,
      interruptId: `i-${i}`,
      actor: 'gate',
      type: 'approval',
      question: 'send it?',
      options: ['yes', 'no'],
      createdAt: new Date().toISOString(),
    });
    for (let i = 0; i < 20; i++) await store.put(record(i));
    // Half are answered: each resolve removes its delete marker from the bucket.
    for (let i = 0; i < 10; i++) await store.resolve(`wf-${i}`, `i-${i}`);
    // One paused again since: its new record must survive its old marker's removal.
    await store.put({ ...record(0), interruptId: 'i-0b' });

    const leader = await caughtUp(stream);
    const follower = shared.cluster.nodes.map((n) => n.name).find((n) => n !== leader)!;
    await shared.cluster.kill(follower);
    await shared.cluster.restart(follower);
    await makeLeader(stream, follower);

    const pending = await Promise.all(
      Array.from({ length: 20 }, (_, i) => store.get(`wf-${i}`).then((r) => r?.interruptId)),
    );
    expect(pending).toEqual([
      'i-0b',
      ...Array.from({ length: 9 }, () => undefined),
      ...Array.from({ length: 10 }, (_, i) => `i-${i + 10}`),
    ]);
    // The markers are gone: the bucket holds the pending records only.
    expect((await shared.jsm.streams.info(stream)).state.messages).toBe(11);
  }, 60_000);
});
