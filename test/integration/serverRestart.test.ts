import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventEnvelope, Worker } from '../../src/index.js';
import type { NatsServerHandle } from '../../src/cli/natsServer.js';
import { connectNats, Subjects } from '../../src/index.js';
import { deferred, eventually } from '../helpers/eventually.js';
import {
  connectClient,
  countTypes,
  mapLimit,
  readStream,
  startServer,
  startWorker,
  testConfig,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';

// Faults this file injects: the nats-server process is stopped (SIGTERM) and started again on
// the same port and JetStream store while a worker runs, once with every workflow paused and
// once with answers being applied at that moment; and a reviewer publishes a response while the
// server is down, retrying (same Nats-Msg-Id) until JetStream acknowledges it. The consumers'
// ack wait is cut to 2 s (HITL_ACK_WAIT_MS) so that a step cut off by the restart comes back
// quickly.

let server: NatsServerHandle;
/** Reconnects by itself, like the workers' and clients' connections. */
let nc: NatsConnection;

beforeAll(async () => {
  server = await startServer();
  nc = await connectNats({ url: server.url }, 'test');
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

const encoder = new TextEncoder();

/**
 * What a careful reviewer (or any publisher) does: publish with a `Nats-Msg-Id` and a short
 * timeout, and on failure try again, with the same id, until JetStream acknowledges. Copies
 * that reached the server more than once are dropped as duplicates.
 */
async function publishUntilAccepted(
  js: JetStreamClient,
  subject: string,
  payload: object,
  msgID: string,
  onFailure: (attempt: number) => void = () => undefined,
): Promise<{ seq: number; attempts: number }> {
  for (let attempt = 1; ; attempt++) {
    try {
      const ack = await js.publish(subject, encoder.encode(JSON.stringify(payload)), {
        msgID,
        timeout: 500,
      });
      return { seq: ack.seq, attempts: attempt };
    } catch {
      onFailure(attempt);
      if (attempt >= 200) throw new Error(`gave up publishing on ${subject}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function setup() {
  const prefix = uniquePrefix('rst');
  const config = testConfig(server, prefix, { HITL_ACK_WAIT_MS: '2000' });
  const worker: Worker = await startWorker(config, { concurrency: 32 });
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  const jsm = await jetstreamManager(nc);
  // The worker's own connection, watched: it must come back by itself.
  const seen = new Set<string>();
  void (async () => {
    for await (const s of worker.nc.status()) seen.add(s.type);
  })();
  return {
    worker,
    client,
    subjects,
    seen,
    js: jetstream(nc),
    /** How many workflows published an event of `type`, read from the stream's subject index. */
    async workflowsWith(type: string): Promise<number> {
      const info = await jsm.streams.info(subjects.streams.events, {
        subjects_filter: subjects.events(),
      });
      return Object.keys(info.state.subjects ?? {}).filter((s) => s.endsWith(`.${type}`)).length;
    },
    async events(): Promise<EventEnvelope[]> {
      const rows = await readStream(nc, subjects.streams.events, subjects.events());
      return rows.map((r) => r.data as EventEnvelope);
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await worker.stop();
    },
  };
}

describe('nats-server restarts', () => {
  it('resumes and completes 200 workflows paused at the gate across server restarts', async () => {
    const n = 200;
    await using t = await setup();
    const ids = Array.from({ length: n }, (_, i) => `wf-${i}`);
    await mapLimit(ids, 50, (id) => t.client.submit({ id, request: 'I want a refund' }));
    await eventually(async () => expect(await t.workflowsWith('interrupted')).toBe(n), {
      timeout: 20_000,
      interval: 100,
    });

    // Everything waits for a human: the server goes away and comes back.
    await server.stop();
    await eventually(() => t.seen.has('disconnect'), { message: 'the worker never noticed' });
    await server.restart();

    // The first half of the answers; while they are being applied, a second restart.
    const answer = (id: string) =>
      publishUntilAccepted(t.js, t.subjects.respond(id), { answer: 'yes', reviewer: 'ana' }, id);
    await mapLimit(ids.slice(0, n / 2), 50, answer);
    await server.restart();
    await mapLimit(ids.slice(n / 2), 50, answer);

    await eventually(async () => expect(await t.workflowsWith('completed')).toBe(n), {
      timeout: 30_000,
      interval: 100,
      message: 'not every workflow completed after the restarts',
    });
    expect(t.seen.has('reconnect')).toBe(true);
    expect(t.worker.nc.isClosed()).toBe(false);
    await workersIdle(nc, t.subjects, 20_000);

    const events = await t.events();
    const byWorkflow = new Map<string, EventEnvelope[]>();
    for (const e of events)
      byWorkflow.set(e.workflowId, [...(byWorkflow.get(e.workflowId) ?? []), e]);
    expect(byWorkflow.size).toBe(n);
    for (const [wf, mine] of byWorkflow) {
      expect(countTypes(mine), wf).toEqual({
        received: 1,
        triaged: 1,
        drafted: 1,
        interrupted: 1,
        resumed: 1,
        approved: 1,
        sent: 1,
        completed: 1,
      });
    }
    const replies = await readStream(nc, t.subjects.streams.outbound, t.subjects.outboundAll);
    expect(replies).toHaveLength(n);
    expect(await t.client.pending()).toEqual([]);
  });

  it('applies once a response its reviewer kept publishing while the server was down', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'down-1', request: 'Please refund my order' });
    expect(run.status).toBe('paused');

    await server.stop();
    const failing = deferred<void>();
    const published = publishUntilAccepted(
      t.js,
      t.subjects.respond('down-1'),
      { answer: 'yes', reviewer: 'ana' },
      'ana-down-1-yes',
      (attempt) => {
        if (attempt === 3) failing.resolve();
      },
    );
    await failing.promise;
    await server.restart();
    const { seq, attempts } = await published;
    expect(attempts).toBeGreaterThan(3);

    await eventually(async () => expect(await t.workflowsWith('completed')).toBe(1));
    await workersIdle(nc, t.subjects, 10_000);
    // Every attempt that reached the server was the same message: JetStream stored one.
    const stored = await readStream(nc, t.subjects.streams.responses, t.subjects.respondAll);
    expect(stored).toHaveLength(1);
    const events = await t.events();
    expect(countTypes(events)).toMatchObject({ resumed: 1, approved: 1, sent: 1, completed: 1 });
    expect(countTypes(events).response_rejected).toBeUndefined();
    expect(events.find((e) => e.type === 'resumed')?.data).toMatchObject({
      reviewer: 'ana',
      responseSeq: seq,
    });
    const replies = await readStream(nc, t.subjects.streams.outbound, t.subjects.outboundAll);
    expect(replies).toHaveLength(1);
  });
});
