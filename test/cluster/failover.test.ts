import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats, Subjects, type Worker } from '../../src/index.js';
import { NatsCluster } from '../helpers/cluster.js';
import { eventually } from '../helpers/eventually.js';
import { connectClient, mapLimit, startWorker, testConfig } from '../helpers/harness.js';

// Faults this file injects, on a three-node JetStream cluster on loopback with every stream,
// bucket and consumer at three replicas (HITL_REPLICAS=3) and NATS_URL listing all three nodes:
// SIGKILL of the node leading the snapshots bucket, then of the one leading the responses
// stream, then of the JetStream meta leader, each restarted (and caught up) before the next
// kill so that every group keeps its quorum. Two workers run throughout, with a 2 s ack wait,
// and a third starts while the meta leader is being elected.
// A reviewer answers the paused workflows meanwhile, publishing each answer with a
// Nats-Msg-Id and trying again until JetStream stores it.

/** Workflows paused, then answered through the kills (200 in the issue; see the report). */
const WORKFLOWS = 200;

let cluster: NatsCluster;
/** Reconnects to any live node by itself, as the workers' connections do. */
let nc: NatsConnection;
let jsm: JetStreamManager;

beforeAll(async () => {
  cluster = await NatsCluster.start(3);
  nc = await connectNats({ url: cluster.urls }, 'test');
  jsm = await jetstreamManager(nc);
}, 60_000);
afterAll(async () => {
  await nc?.close();
  await cluster?.dispose();
});

const encoder = new TextEncoder();

/** Publishes with a Nats-Msg-Id until JetStream stores it; a copy stored twice is dropped. */
async function publishUntilStored(subject: string, payload: object, msgID: string): Promise<void> {
  const js = jetstream(nc);
  for (let attempt = 1; ; attempt++) {
    try {
      await js.publish(subject, encoder.encode(JSON.stringify(payload)), { msgID, timeout: 1_000 });
      return;
    } catch (err) {
      if (attempt >= 300) throw err;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/** How many messages each subject matching `filter` holds in `stream`. */
async function perSubject(stream: string, filter: string): Promise<Record<string, number>> {
  const info = await jsm.streams.info(stream, { subjects_filter: filter });
  return info.state.subjects ?? {};
}

/**
 * Waits until every stream of the runtime has a leader and all its replicas current: a node
 * restarted has caught up, so the next kill leaves each group a quorum.
 */
async function allCaughtUp(subjects: Subjects): Promise<void> {
  const names = [
    ...Object.values(subjects.streams),
    `KV_${subjects.buckets.snapshots}`,
    `KV_${subjects.buckets.interrupts}`,
  ];
  await eventually(
    async () => {
      for (const name of names) {
        const info = await jsm.streams.info(name);
        const replicas = info.cluster?.replicas ?? [];
        if (!info.cluster?.leader || replicas.length !== 2 || replicas.some((r) => !r.current)) {
          throw new Error(`${name} not caught up: ${JSON.stringify(info.cluster)}`);
        }
      }
    },
    { timeout: 30_000, interval: 200, message: 'the restarted node never caught up' },
  );
}

describe('a three-node cluster', () => {
  it('refuses HITL_REPLICAS beyond the nodes of the cluster, in one line', async () => {
    const config = testConfig({ url: cluster.urls }, 'refused', { HITL_REPLICAS: '5' });
    const err = await startWorker(config).then(
      (w) => w.stop().then(() => undefined),
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toMatch(
      /^HITL_REPLICAS=5 needs a JetStream cluster of at least 5/,
    );
    expect((err as Error).message).not.toContain('\n');
  });

  it('completes every paused workflow exactly once while the snapshots leader, the responses leader and the meta leader are killed in turn', async () => {
    const prefix = 'hitl';
    const subjects = new Subjects(prefix);
    const config = testConfig({ url: cluster.urls }, prefix, {
      HITL_REPLICAS: '3',
      HITL_ACK_WAIT_MS: '2000',
    });
    const workers: Worker[] = [
      await startWorker(config, { concurrency: 32 }),
      await startWorker(config, { concurrency: 32 }),
    ];
    const client = await connectClient(config);
    // Every stream and bucket is replicated on the three nodes, and read from its leader.
    const snapshots = await jsm.streams.info(`KV_${subjects.buckets.snapshots}`);
    expect(snapshots.config.num_replicas).toBe(3);
    expect(snapshots.config.allow_direct).toBe(false);
    const responses = await jsm.streams.info(subjects.streams.responses);
    expect(responses.config.num_replicas).toBe(3);
    const consumer = await jsm.consumers.info(
      subjects.streams.responses,
      subjects.consumer('responses'),
    );
    expect(consumer.config.num_replicas).toBe(3);

    // Completions as they are stored, with when: how long the system took to go on.
    const completedAt: number[] = [];
    const sub: Subscription = nc.subscribe(subjects.eventsOfType('completed'), {
      callback: () => {
        completedAt.push(Date.now());
      },
    });

    const ids = Array.from({ length: WORKFLOWS }, (_, i) => `fo-${i}`);
    await mapLimit(ids, 32, (id) => client.submit({ id, request: 'I want a refund' }));
    await eventually(
      async () =>
        expect(
          Object.keys(
            await perSubject(subjects.streams.events, subjects.eventsOfType('interrupted')),
          ).length,
        ).toBe(WORKFLOWS),
      { timeout: 30_000, interval: 200, message: 'workflows never all paused' },
    );

    // The reviewer answers in four waves; each of the first three is still flowing when its
    // node is killed.
    const answer = (id: string) =>
      publishUntilStored(subjects.respond(id), { answer: 'yes', reviewer: 'ana' }, `${id}.yes`);
    const wave = (from: number, to: number) =>
      mapLimit(ids.slice(from, to), 4, async (id) => {
        await answer(id);
        await new Promise((resolve) => setTimeout(resolve, 40));
      });
    const quarter = WORKFLOWS / 4;
    const victims: { role: string; find: () => Promise<string> }[] = [
      {
        role: 'snapshots leader',
        find: () => cluster.streamLeader(nc, `KV_${subjects.buckets.snapshots}`),
      },
      {
        role: 'responses leader',
        find: () => cluster.streamLeader(nc, subjects.streams.responses),
      },
      { role: 'meta leader', find: () => cluster.waitForMetaLeader() },
    ];
    const report: string[] = [];
    for (const [k, victim] of victims.entries()) {
      const answering = wave(k * quarter, (k + 1) * quarter);
      const before = completedAt.length;
      await eventually(() => completedAt.length > before, {
        timeout: 20_000,
        message: `no workflow completed before killing the ${victim.role}`,
      });
      const name = await victim.find();
      const killedAt = Date.now();
      await cluster.kill(name);
      // A worker started while the meta leader is being elected waits for it instead of
      // exiting.
      const late =
        victim.role === 'meta leader' ? startWorker(config, { concurrency: 32 }) : undefined;
      await answering;
      const next = await eventually(
        () => {
          const t = completedAt.find((at) => at > killedAt + 50);
          if (t === undefined) throw new Error('none yet');
          return t;
        },
        {
          timeout: 30_000,
          message: `nothing completed after killing the ${victim.role}`,
        },
      );
      report.push(`${victim.role} (${name}): went on after ${next - killedAt} ms`);
      if (late) workers.push(await late);
      await cluster.restart(name);
      await cluster.waitForMetaLeader();
      await allCaughtUp(subjects);
    }
    await wave(3 * quarter, WORKFLOWS);

    await eventually(
      async () =>
        expect(
          Object.keys(await perSubject(subjects.streams.events, subjects.eventsOfType('completed')))
            .length,
        ).toBe(WORKFLOWS),
      { timeout: 40_000, interval: 250, message: 'not every workflow completed' },
    );
    // Let redeliveries of steps cut off by the kills come back (2 s ack wait) before counting.
    await eventually(
      async () => {
        for (const stream of [subjects.streams.responses, subjects.streams.mailbox]) {
          for await (const c of jsm.consumers.list(stream)) {
            if (c.num_pending > 0 || c.num_ack_pending > 0) throw new Error(`${c.name} busy`);
          }
        }
      },
      { timeout: 20_000, interval: 250, message: 'workers never became idle' },
    );
    const completed = await perSubject(subjects.streams.events, subjects.eventsOfType('completed'));
    const replies = await perSubject(subjects.streams.outbound, subjects.outboundAll);
    const rejected = await perSubject(
      subjects.streams.events,
      subjects.eventsOfType('response_rejected'),
    );
    const dlq = await jsm.streams.info(subjects.streams.dlq);
    expect(Object.values(completed).filter((n) => n !== 1)).toEqual([]);
    expect(Object.keys(replies).length).toBe(WORKFLOWS);
    expect(Object.values(replies).filter((n) => n !== 1)).toEqual([]);
    expect(Object.keys(rejected)).toEqual([]);
    expect(dlq.state.messages).toBe(0);
    // Both workers are still up and connected.
    expect(workers).toHaveLength(3);
    for (const w of workers) expect(w.nc.isClosed()).toBe(false);

    console.log(`failover with ${WORKFLOWS} workflows:\n  ${report.join('\n  ')}`);
    sub.unsubscribe();
    await client.close();
    await Promise.all(workers.map((w) => w.stop()));
  }, 120_000);
});
