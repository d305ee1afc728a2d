import { describe, expect, it } from 'vitest';
import type { EventEnvelope, Worker } from '../../src/index.js';
import { Subjects } from '../../src/index.js';
import { exitOf, spawnCli, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import {
  byRole,
  chatCompletion,
  classification,
  roleOf,
  startFakeOpenAi,
  type FakeReply,
} from '../helpers/fakeOpenAi.js';
import {
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  testConfig,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';

// Faults this file injects: SIGTERM sent to a real `hitl worker` process while its steps wait on
// a slow model (a fake OpenAI-compatible server that holds its answers back), with more work
// queued behind them; and, with a drain bound shorter than the model's delay
// (HITL_DRAIN_TIMEOUT_MS), SIGTERM to a worker whose step cannot finish in time.

const shared = serverPerFile();

const DRAFT = 'Hello, we are looking into your refund and will get back to you today.';

async function setup() {
  const fake = await startFakeOpenAi();
  const prefix = uniquePrefix('term');
  const env = {
    NATS_URL: shared.server.url,
    HITL_PREFIX: prefix,
    HITL_MODEL_PROVIDER: 'openai',
    OPENAI_BASE_URL: fake.baseUrl,
    OPENAI_API_KEY: 'sk-test',
    HITL_MODEL_TIMEOUT_MS: '20000',
    HITL_MODEL_MAX_RETRIES: '0',
  };
  const config = testConfig(shared.server, prefix, env);
  const subjects = new Subjects(prefix);
  const workers: Worker[] = [];
  return {
    fake,
    env,
    config,
    subjects,
    async worker(): Promise<Worker> {
      const worker = await startWorker(config);
      workers.push(worker);
      return worker;
    },
    async events(): Promise<EventEnvelope[]> {
      const rows = await readStream(shared.nc, subjects.streams.events, subjects.events());
      return rows.map((r) => r.data as EventEnvelope);
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(workers.map((w) => w.stop()));
      await fake.close();
    },
  };
}

function slowly(reply: FakeReply, delayMs: number): FakeReply {
  return { ...reply, delayMs };
}

const refund = classification({ category: 'refund', confidence: 0.93 });

describe('SIGTERM to a worker process', () => {
  it('finishes its in-flight steps, takes no new ones, exits 0 and loses nothing', async () => {
    await using t = await setup();
    // The first two classifications take 1.5 s; everything after answers at once.
    t.fake.reply(slowly(refund, 1_500), slowly(refund, 1_500));
    t.fake.otherwise(byRole({ triage: refund, draft: chatCompletion(DRAFT) }));
    const ids = ['s0', 's1', 's2', 's3', 's4'];
    const first = spawnCli(['worker', '--concurrency', '2'], t.env);
    try {
      await waitForOutput(first, /hitl worker ready/);
      for (const id of ids) {
        await publishRaw(shared.nc, t.subjects.ticketsNew, { id, request: 'I want my money back' });
      }
      await eventually(() => t.fake.requests.length === 2, { timeout: 10_000 });
      const asked = t.fake.requests.map((r) => r.receivedAt);
      first.kill('SIGTERM');
      const exit = await exitOf(first, 15_000, 'the worker to drain and exit');
      const exitedAt = Date.now();
      expect(exit).toEqual({ code: 0, signal: null });
      // It waited for both slow calls, and asked the model nothing more.
      for (const at of asked) expect(exitedAt).toBeGreaterThanOrEqual(at + 1_500);
      expect(t.fake.requests).toHaveLength(2);
    } finally {
      if (first.exitCode === null && first.signalCode === null) first.kill('SIGKILL');
    }
    // The two in-flight steps were committed: triaged, and passed on to the specialist.
    const early = await t.events();
    const triaged = early.filter((e) => e.type === 'triaged').map((e) => e.workflowId);
    expect(triaged).toHaveLength(2);

    // Another worker takes over everything that was left, long before a held message would
    // come back (the ack wait is 30 s), and nothing is done twice.
    await t.worker();
    await eventually(
      async () =>
        expect((await t.events()).filter((e) => e.type === 'interrupted')).toHaveLength(5),
      { timeout: 15_000 },
    );
    for (const id of ids) {
      await publishRaw(shared.nc, t.subjects.respond(id), { answer: 'yes', reviewer: 'ana' });
    }
    await eventually(
      async () => expect((await t.events()).filter((e) => e.type === 'completed')).toHaveLength(5),
      { timeout: 15_000 },
    );
    await workersIdle(shared.nc, t.subjects);
    const events = await t.events();
    for (const id of ids) {
      expect(
        events.filter((e) => e.workflowId === id).map((e) => e.type),
        id,
      ).toEqual([
        'received',
        'triaged',
        'drafted',
        'interrupted',
        'resumed',
        'approved',
        'sent',
        'completed',
      ]);
    }
    // Each ticket was classified once and drafted once: no committed step ran again.
    const roles = t.fake.requests.map(roleOf);
    expect(roles.filter((r) => r === 'triage')).toHaveLength(5);
    expect(roles.filter((r) => r === 'draft')).toHaveLength(5);
    const replies = await readStream(
      shared.nc,
      t.subjects.streams.outbound,
      t.subjects.outboundAll,
    );
    expect(replies).toHaveLength(5);
  });

  it('exits at the drain bound when a step cannot finish, handing that step back', async () => {
    await using t = await setup();
    // The first classification hangs for far longer than the worker may wait.
    t.fake.reply(slowly(refund, 20_000));
    t.fake.otherwise(byRole({ triage: refund, draft: chatCompletion(DRAFT) }));
    const first = spawnCli(['worker'], { ...t.env, HITL_DRAIN_TIMEOUT_MS: '500' });
    try {
      await waitForOutput(first, /hitl worker ready/);
      await publishRaw(shared.nc, t.subjects.ticketsNew, {
        id: 'hung-1',
        request: 'Refund me, please',
      });
      await eventually(() => t.fake.requests.length === 1, { timeout: 10_000 });
      const signalled = Date.now();
      first.kill('SIGTERM');
      const exit = await exitOf(first, 10_000, 'the worker to give up its hung step');
      expect(exit).toEqual({ code: 0, signal: null });
      // Pull loops end within a second, then the 500 ms bound: nowhere near the model's 20 s.
      expect(Date.now() - signalled).toBeLessThan(5_000);
    } finally {
      if (first.exitCode === null && first.signalCode === null) first.kill('SIGKILL');
    }
    expect(await t.events()).toEqual([]);

    // Handed back, not held: another worker runs it within seconds, not after the 30 s ack wait.
    await t.worker();
    await eventually(
      async () =>
        expect((await t.events()).map((e) => e.type)).toEqual([
          'received',
          'triaged',
          'drafted',
          'interrupted',
        ]),
      { timeout: 10_000 },
    );
    // The model was asked twice (calls are at-least-once); the step was committed once.
    expect(t.fake.requests.map(roleOf)).toEqual(['triage', 'triage', 'draft']);
  });
});
