import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import type { EventEnvelope, Worker } from '../../src/index.js';
import { InterruptRecordSchema, Subjects } from '../../src/index.js';
import { deferred, eventually } from '../helpers/eventually.js';
import {
  connectClient,
  countTypes,
  mapLimit,
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  testConfig,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';

// Races this file provokes: 50 responses to one interrupt published at once and taken by two
// workers; responses published around an interrupt's deadline (HITL_GATE_TIMEOUT_MS), racing
// the durable timer; and two workers sharing every mailbox while many workflows run (500 by
// default, HITL_TEST_RACE_WORKFLOWS to change it), each step of each workflow counted; and a
// response stored before the question it would answer was asked, read late (as after a crash).

const shared = serverPerFile();

async function setup(options: { workers?: number; env?: Record<string, string> } = {}) {
  const prefix = uniquePrefix('race');
  const config = testConfig(shared.server, prefix, options.env);
  const workers: Worker[] = [];
  for (let i = 0; i < (options.workers ?? 1); i++) {
    workers.push(await startWorker(config, { concurrency: 32 }));
  }
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  return {
    client,
    subjects,
    workers,
    async events(): Promise<EventEnvelope[]> {
      const rows = await readStream(shared.nc, subjects.streams.events, subjects.events());
      return rows.map((r) => r.data as EventEnvelope);
    },
    async replies(): Promise<{ workflowId: string; approvedBy?: string }[]> {
      const rows = await readStream(shared.nc, subjects.streams.outbound, subjects.outboundAll);
      return rows.map((r) => r.data as { workflowId: string; approvedBy?: string });
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

function byWorkflow(events: EventEnvelope[]): Map<string, EventEnvelope[]> {
  const map = new Map<string, EventEnvelope[]>();
  for (const e of events) map.set(e.workflowId, [...(map.get(e.workflowId) ?? []), e]);
  return map;
}

const bySeq = (a: number, b: number): number => a - b;

describe('concurrent answers', () => {
  it('applies exactly one of 50 concurrent responses to one interrupt, taken by two workers', async () => {
    await using t = await setup({ workers: 2 });
    const run = await t.client.start({ id: 'race-1', request: 'Refund my order' });
    expect(run.status).toBe('paused');

    const acks = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        publishRaw(shared.nc, t.subjects.respond('race-1'), {
          answer: 'yes',
          reviewer: `rev-${i}`,
        }),
      ),
    );
    await eventually(async () => {
      const counts = countTypes(await t.events());
      expect(counts.response_rejected ?? 0).toBe(49);
      expect(counts.completed).toBe(1);
    });
    await workersIdle(shared.nc, t.subjects);

    const events = await t.events();
    expect(countTypes(events)).toEqual({
      received: 1,
      triaged: 1,
      drafted: 1,
      interrupted: 1,
      resumed: 1,
      approved: 1,
      sent: 1,
      completed: 1,
      response_rejected: 49,
    });
    // Every response got exactly one verdict.
    const verdicts = events
      .filter((e) => e.type === 'resumed' || e.type === 'response_rejected')
      .map((e) => Number(e.data.responseSeq));
    expect(verdicts.sort(bySeq)).toEqual(acks.map((a) => a.seq).sort(bySeq));
    const winner = events.find((e) => e.type === 'resumed')?.data.reviewer;
    expect(await t.replies()).toEqual([expect.objectContaining({ approvedBy: winner })]);
    expect(await t.client.pending()).toEqual([]);
  });
});

describe('answers racing the deadline', () => {
  it('ends each workflow either sent or expired, as the time JetStream stored the answer says', async () => {
    const n = 30;
    await using t = await setup({ env: { HITL_GATE_TIMEOUT_MS: '1500' } });
    const jsm = await jetstreamManager(shared.nc);
    const published: Promise<{ seq: number }>[] = [];
    const allAsked = deferred<void>();
    const expiresAt = new Map<string, string>();
    // Each answer is published `offset` ms from its interrupt's deadline, from 250 ms before it
    // to 40 ms after in 10 ms steps: some are stored well before the deadline (even on a busy
    // machine), some just before, some just after.
    const sub = shared.nc.subscribe(t.subjects.humanRequestAll, {
      callback: (_err, msg) => {
        const record = InterruptRecordSchema.parse(msg.json());
        if (record.expiresAt === undefined) throw new Error('the interrupt carries no expiresAt');
        expiresAt.set(record.workflowId, record.expiresAt);
        const offset = -250 + 10 * Number(record.workflowId.slice(3));
        const delay = Date.parse(record.expiresAt) + offset - Date.now();
        published.push(
          new Promise((resolve, reject) => {
            setTimeout(
              () => {
                publishRaw(shared.nc, t.subjects.respond(record.workflowId), {
                  answer: 'yes',
                  reviewer: 'ana',
                }).then(resolve, reject);
              },
              Math.max(0, delay),
            );
          }),
        );
        if (published.length === n) allAsked.resolve();
      },
    });
    try {
      const ids = Array.from({ length: n }, (_, i) => `dl-${i}`);
      await mapLimit(ids, 10, (id) => t.client.submit({ id, request: 'refund please' }));
      await allAsked.promise;
      const acks = await Promise.all(published);
      expect(acks).toHaveLength(n);
    } finally {
      sub.unsubscribe();
    }

    const events = await eventually(
      async () => {
        const all = await t.events();
        expect(all.filter((e) => e.type === 'completed')).toHaveLength(n);
        return all;
      },
      { timeout: 15_000, interval: 100 },
    );
    await workersIdle(shared.nc, t.subjects);
    const responses = await readStream(
      shared.nc,
      t.subjects.streams.responses,
      t.subjects.respondAll,
    );
    expect(responses).toHaveLength(n);

    let sent = 0;
    let expired = 0;
    for (const [wf, mine] of byWorkflow(await t.events())) {
      const counts = countTypes(mine);
      const deadline = Date.parse(expiresAt.get(wf) ?? '');
      // The one response of this workflow, and when JetStream stored it.
      const last = await jsm.streams.getMessage(t.subjects.streams.responses, {
        last_by_subj: t.subjects.respond(wf),
      });
      if (!last) throw new Error(`no response stored for ${wf}`);
      const storedBeforeDeadline = last.time.getTime() <= deadline;
      const verdicts = mine.filter((e) => e.data.responseSeq === last.seq);
      expect(verdicts, `verdicts for ${wf}`).toHaveLength(1);
      expect(counts.completed, wf).toBe(1);
      expect((counts.sent ?? 0) + (counts.expired ?? 0), `${wf} sent or expired`).toBe(1);
      const outcome = mine.find((e) => e.type === 'completed')?.data.outcome;
      if (storedBeforeDeadline) {
        sent += 1;
        expect(verdicts[0]?.type, `${wf}: stored ${last.timestamp}, due ${deadline}`).toBe(
          'resumed',
        );
        expect(outcome).toBe('sent');
      } else {
        expired += 1;
        expect(verdicts[0]?.type, `${wf}: stored ${last.timestamp}, due ${deadline}`).toBe(
          'response_rejected',
        );
        expect(outcome).toBe('expired');
      }
    }
    expect(sent + expired).toBe(n);
    console.info(`deadline race: ${sent} sent, ${expired} expired`);
    // Both sides of the race were run.
    expect(sent).toBeGreaterThan(0);
    expect(expired).toBeGreaterThan(0);
    expect((await t.replies()).map((r) => r.workflowId).sort()).toEqual(
      events
        .filter((e) => e.type === 'sent')
        .map((e) => e.workflowId)
        .sort(),
    );
  });
});

describe('answers older than their question', () => {
  it('rejects a response stored before the pending interrupt was asked, and keeps it pending', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'old-1', request: 'I want a refund' });
    if (run.status !== 'paused') throw new Error(`expected a pause, got ${run.status}`);
    // A worker that does not host the gate hands a response to the gate's mailbox with the
    // time JetStream stored it: here, a minute before this approval was asked (a reply to an
    // earlier question, read late).
    const storedAt = new Date(Date.parse(run.interrupt.createdAt) - 60_000).toISOString();
    await publishRaw(shared.nc, t.subjects.mailbox('gate', 'old-1'), {
      type: 'hitl.response',
      response: { answer: 'yes', reviewer: 'ana' },
      responseSeq: 999,
      storedAt,
    });
    await eventually(async () =>
      expect(countTypes(await t.events())).toHaveProperty('response_rejected', 1),
    );
    const rejected = (await t.events()).find((e) => e.type === 'response_rejected');
    expect(rejected?.data.reason).toMatch(
      new RegExp(
        `before interrupt '${run.interrupt.interruptId}' was asked .*answers an earlier question`,
      ),
    );
    expect(await t.client.pending()).toEqual([
      expect.objectContaining({ workflowId: 'old-1', interruptId: run.interrupt.interruptId }),
    ]);
    // A response stored now is applied.
    expect(await t.client.respond('old-1', { answer: 'yes', reviewer: 'ana' })).toMatchObject({
      accepted: true,
    });
  });
});

describe('two workers sharing every mailbox', () => {
  it('commits each step of each workflow exactly once', async () => {
    const n = Number(process.env.HITL_TEST_RACE_WORKFLOWS ?? 500);
    await using t = await setup({ workers: 2 });
    const steps = t.workers.map(() => 0);
    t.workers.forEach((w, i) => {
      const apply = w.host.apply.bind(w.host);
      w.host.apply = (...args) => {
        steps[i] = (steps[i] ?? 0) + 1;
        return apply(...args);
      };
    });
    // Progress, live: which workflows paused and which completed (a core subscription sees a
    // re-published event again, so these are sets; the stream is what gets counted below).
    const paused = new Set<string>();
    const completed = new Set<string>();
    const sub = shared.nc.subscribe(t.subjects.events(), {
      callback: (_err, msg) => {
        const e = msg.json<EventEnvelope>();
        if (e.type === 'interrupted') paused.add(e.workflowId);
        if (e.type === 'completed') completed.add(e.workflowId);
      },
    });
    const ids = Array.from({ length: n }, (_, i) => `wf-${i}`);
    const started = Date.now();
    try {
      await mapLimit(ids, 50, (id, i) =>
        t.client.submit({ id, request: i % 2 ? 'I was charged twice' : 'I want a refund' }),
      );
      await eventually(() => paused.size === n, { timeout: 40_000, interval: 50 });
      await mapLimit(ids, 50, (id) =>
        publishRaw(shared.nc, t.subjects.respond(id), { answer: 'yes', reviewer: 'ana' }),
      );
      await eventually(() => completed.size === n, { timeout: 40_000, interval: 50 });
    } finally {
      sub.unsubscribe();
    }
    const elapsed = Date.now() - started;
    await workersIdle(shared.nc, t.subjects, 20_000);

    const events = await t.events();
    expect(events).toHaveLength(8 * n);
    const once = {
      received: 1,
      triaged: 1,
      drafted: 1,
      interrupted: 1,
      resumed: 1,
      approved: 1,
      sent: 1,
      completed: 1,
    };
    const grouped = byWorkflow(events);
    expect(grouped.size).toBe(n);
    for (const [wf, mine] of grouped) expect(countTypes(mine), wf).toEqual(once);
    const replies = await t.replies();
    expect(replies).toHaveLength(n);
    expect(new Set(replies.map((r) => r.workflowId)).size).toBe(n);
    // Both workers took steps.
    expect(Math.min(...steps)).toBeGreaterThan(0);
    console.info(
      `${n} workflows through two workers in ${elapsed} ms (steps per worker: ${steps.join(', ')})`,
    );
  });
});
