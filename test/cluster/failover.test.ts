import { describe, expect, it } from 'vitest';
import { Subjects, type Worker } from '../../src/index.js';
import { clusterPerFile } from '../helpers/cluster.js';
import { ClusterWorkload } from '../helpers/clusterWorkload.js';
import { eventually } from '../helpers/eventually.js';
import { connectClient, startWorker, testConfig, uniquePrefix } from '../helpers/harness.js';

// Faults this file injects, on a three-node JetStream cluster on loopback with every stream,
// bucket and consumer at three replicas (HITL_REPLICAS=3) and NATS_URL listing all three nodes:
// SIGKILL of the node leading the snapshots bucket, then of the one leading the responses
// stream, then of the JetStream meta leader, each restarted (and caught up) before the next
// kill so that every group keeps its quorum. Two workers run throughout, with a 2 s ack wait,
// and a third starts while the meta leader is being elected. A reviewer answers the paused
// workflows meanwhile, publishing each answer with a Nats-Msg-Id and trying again until
// JetStream stores it.

/** Workflows paused, then answered through the kills. */
const WORKFLOWS = 200;

const shared = clusterPerFile();

describe('a three-node cluster', () => {
  it('refuses HITL_REPLICAS beyond the nodes of the cluster, in one line', async () => {
    const config = testConfig({ url: shared.cluster.urls }, 'refused', { HITL_REPLICAS: '5' });
    const err = await startWorker(config).then(
      (w) => w.stop().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      /^HITL_REPLICAS=5 needs a JetStream cluster of at least 5 running nodes, but the cluster announces 3 nodes/,
    );
    expect((err as Error).message).not.toContain('\n');
  });

  it('brings the streams, buckets and durable consumers a worker made before to HITL_REPLICAS', async () => {
    const prefix = uniquePrefix('scale');
    const s = new Subjects(prefix);
    const before = await startWorker(testConfig({ url: shared.cluster.urls }, prefix));
    await before.stop();
    const consumer = () => shared.jsm.consumers.info(s.streams.responses, s.consumer('responses'));
    expect((await consumer()).config.num_replicas).toBe(0);

    const after = await startWorker(
      testConfig({ url: shared.cluster.urls }, prefix, { HITL_REPLICAS: '3' }),
    );
    try {
      expect((await shared.jsm.streams.info(s.streams.responses)).config.num_replicas).toBe(3);
      expect(
        (await shared.jsm.streams.info(`KV_${s.buckets.interrupts}`)).config.num_replicas,
      ).toBe(3);
      // The update is awaited, yet once, in a full run under load, an info read just after it
      // still showed num_replicas 0: wait for the server's view rather than fail on the first.
      await eventually(async () => expect((await consumer()).config.num_replicas).toBe(3), {
        timeout: 10_000,
        message: 'the consumer never had num_replicas 3',
      });
      // Placed on all three nodes: a leader and two followers.
      await eventually(
        async () => expect((await consumer()).cluster?.replicas ?? []).toHaveLength(2),
        { timeout: 10_000, message: 'the consumer never had three replicas' },
      );
    } finally {
      await after.stop();
    }
  });

  it('completes every paused workflow exactly once while the snapshots leader, the responses leader and the meta leader are killed in turn', async () => {
    const subjects = new Subjects('hitl');
    const config = testConfig({ url: shared.cluster.urls }, 'hitl', {
      HITL_REPLICAS: '3',
      HITL_ACK_WAIT_MS: '2000',
    });
    const workers: Worker[] = [
      await startWorker(config, { concurrency: 32 }),
      await startWorker(config, { concurrency: 32 }),
    ];
    const client = await connectClient(config);
    // Every stream, bucket and consumer is replicated on the three nodes; buckets are read
    // from their leader.
    const snapshots = await shared.jsm.streams.info(`KV_${subjects.buckets.snapshots}`);
    expect(snapshots.config.num_replicas).toBe(3);
    expect(snapshots.config.allow_direct).toBe(false);
    const responses = await shared.jsm.streams.info(subjects.streams.responses);
    expect(responses.config.num_replicas).toBe(3);
    const consumer = await shared.jsm.consumers.info(
      subjects.streams.responses,
      subjects.consumer('responses'),
    );
    expect(consumer.config.num_replicas).toBe(3);

    const load = await ClusterWorkload.open(shared.nc, subjects);
    const ids = Array.from({ length: WORKFLOWS }, (_, i) => `fo-${i}`);
    await load.pause(client, ids);

    // The reviewer answers in four waves; each of the first three is still flowing when its
    // node is killed.
    const quarter = WORKFLOWS / 4;
    const victims: { role: string; find: () => Promise<string> }[] = [
      {
        role: 'snapshots leader',
        find: () => shared.cluster.streamLeader(shared.nc, `KV_${subjects.buckets.snapshots}`),
      },
      {
        role: 'responses leader',
        find: () => shared.cluster.streamLeader(shared.nc, subjects.streams.responses),
      },
      { role: 'meta leader', find: () => shared.cluster.waitForMetaLeader() },
    ];
    const report: string[] = [];
    for (const [k, victim] of victims.entries()) {
      const answering = load.answer(ids.slice(k * quarter, (k + 1) * quarter));
      const before = load.completedAt.length;
      await eventually(() => load.completedAt.length > before, {
        timeout: 20_000,
        message: `no workflow completed before killing the ${victim.role}`,
      });
      const name = await victim.find();
      const killedAt = Date.now();
      await shared.cluster.kill(name);
      // A worker started while the meta leader is being elected waits for it, not exits.
      const late =
        victim.role === 'meta leader' ? startWorker(config, { concurrency: 32 }) : undefined;
      await answering;
      const next = await load.nextCompletionAfter(killedAt, `killing the ${victim.role}`);
      report.push(`${victim.role} (${name}): went on after ${next - killedAt} ms`);
      if (late) workers.push(await late);
      await shared.cluster.restart(name);
      await shared.cluster.waitForMetaLeader();
      await load.allCaughtUp();
    }
    await load.answer(ids.slice(3 * quarter));

    await load.expectCompletedOnce(WORKFLOWS);
    // The workers are all still up and connected.
    expect(workers).toHaveLength(3);
    for (const w of workers) expect(w.nc.isClosed()).toBe(false);
    console.log(`failover with ${WORKFLOWS} workflows:\n  ${report.join('\n  ')}`);
    await client.close();
    await Promise.all(workers.map((w) => w.stop()));
  }, 120_000);
});
