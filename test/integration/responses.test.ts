import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsServerHandle, Worker } from '../../src/index.js';
import { Subjects } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  countTypes,
  publishRaw,
  rawConnection,
  readStream,
  startServer,
  startWorker,
  storedEvents,
  testConfig,
  types,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startServer();
  nc = await rawConnection(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

async function setup(workerCount = 1) {
  const prefix = uniquePrefix('resp');
  const config = testConfig(server, prefix);
  const workers: Worker[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(config));
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  return {
    client,
    subjects,
    workers,
    async events(wf: string) {
      return storedEvents(nc, subjects, wf);
    },
    async replies() {
      return (await readStream(nc, subjects.streams.outbound, subjects.outboundAll)).map(
        (r) => r.data,
      );
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

describe('responses that are not accepted', () => {
  it('rejects an answer outside the options, naming them, and keeps the workflow paused', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'opt-1', request: 'I want a refund' });
    expect(run.status).toBe('paused');
    if (run.status !== 'paused') return;
    const before = await t.events('opt-1');

    const verdict = await t.client.respond('opt-1', { answer: 'maybe', reviewer: 'ana' });
    expect(verdict).toMatchObject({
      accepted: false,
      reason: "answer 'maybe' is not an option; expected one of: yes, no",
    });
    await workersIdle(nc, t.subjects);
    const after = await t.events('opt-1');
    expect(types(after.slice(before.length))).toEqual(['response_rejected']);
    expect(after.at(-1)?.data).toMatchObject({
      reviewer: 'ana',
      interruptId: run.interrupt.interruptId,
      reason: expect.stringContaining('expected one of: yes, no'),
    });
    expect(await t.client.pending()).toEqual([run.interrupt]);
    const gate = (await t.client.snapshots('opt-1')).find((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope).toMatchObject({ status: 'active', interrupt: run.interrupt });

    const done = await t.client.resume('opt-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    expect(await t.replies()).toHaveLength(1);
  });

  it('rejects a response naming an interrupt that was already answered', async () => {
    await using t = await setup();
    const asked = await t.client.start({ id: 'stale-1', request: 'Something feels off' });
    expect(asked).toMatchObject({ status: 'paused', interrupt: { type: 'escalation' } });
    if (asked.status !== 'paused') return;
    const escalation = asked.interrupt.interruptId;
    const routed = await t.client.resume('stale-1', {
      resume: 'refund',
      reviewer: 'cy',
      interruptId: escalation,
    });
    expect(routed).toMatchObject({ status: 'paused', interrupt: { type: 'approval' } });
    if (routed.status !== 'paused') return;
    const approval = routed.interrupt.interruptId;

    const stale = await t.client.respond('stale-1', {
      answer: 'yes',
      reviewer: 'ana',
      interruptId: escalation,
    });
    expect(stale).toMatchObject({ accepted: false });
    if (stale.accepted) return;
    expect(stale.reason).toContain(`'${escalation}' is not pending`);
    expect(stale.reason).toContain(`the pending one is '${approval}'`);
    expect(await t.client.interrupt('stale-1')).toMatchObject({ interruptId: approval });

    const done = await t.client.resume('stale-1', {
      resume: 'yes',
      reviewer: 'ana',
      interruptId: approval,
    });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent', category: 'refund' });
  });

  it('rejects an update with a key the interrupt type does not accept', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'upd-1', request: 'Refund my order' });
    expect(run.status).toBe('paused');

    const verdict = await t.client.respond('upd-1', {
      answer: 'yes',
      reviewer: 'ana',
      update: { tone: 'friendly' },
    });
    expect(verdict).toMatchObject({ accepted: false, reason: expect.stringContaining('tone') });
    await workersIdle(nc, t.subjects);
    expect(countTypes(await t.events('upd-1'))).not.toHaveProperty('resumed');
    expect(await t.client.pending()).toHaveLength(1);
    expect(await t.replies()).toEqual([]);
  });

  it('rejects any update to an escalation, which accepts none', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'upd-2', request: 'hello?' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { type: 'escalation' } });
    const verdict = await t.client.respond('upd-2', {
      answer: 'technical',
      reviewer: 'cy',
      update: { category: 'billing' },
    });
    expect(verdict).toMatchObject({
      accepted: false,
      reason: expect.stringMatching(/'category'.*accepts none/),
    });
    expect(await t.client.pending()).toHaveLength(1);
  });
});

describe('responses that are accepted', () => {
  it('sends the draft as edited by the approving reviewer', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'edit-1', request: 'Refund my order' });
    expect(run.status).toBe('paused');
    const done = await t.client.resume('edit-1', {
      resume: 'yes',
      reviewer: 'ana',
      update: { draft: 'edited text' },
    });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    expect(await t.replies()).toEqual([
      { workflowId: 'edit-1', category: 'refund', reply: 'edited text', approvedBy: 'ana' },
    ]);
    const sent = (await t.events('edit-1')).find((e) => e.type === 'sent');
    expect(sent?.data).toEqual({ reply: 'edited text' });
  });

  it('applies exactly one of 20 concurrent answers taken by two workers', async () => {
    await using t = await setup(2);
    const run = await t.client.start({ id: 'race-1', request: 'Refund my order' });
    expect(run.status).toBe('paused');

    const acks = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        publishRaw(nc, t.subjects.respond('race-1'), { answer: 'yes', reviewer: `rev-${i}` }),
      ),
    );
    await eventually(
      async () => {
        const counts = countTypes(await t.events('race-1'));
        expect(counts.response_rejected ?? 0).toBe(19);
        expect(counts.completed).toBe(1);
      },
      { timeout: 5_000 },
    );
    await workersIdle(nc, t.subjects);

    const events = await t.events('race-1');
    expect(countTypes(events)).toMatchObject({
      interrupted: 1,
      resumed: 1,
      approved: 1,
      sent: 1,
      completed: 1,
      response_rejected: 19,
    });
    // Every response got exactly one verdict.
    const verdicts = events
      .filter((e) => e.type === 'resumed' || e.type === 'response_rejected')
      .map((e) => e.data.responseSeq);
    const bySeq = (a: number, b: number): number => a - b;
    expect(verdicts.map(Number).sort(bySeq)).toEqual(acks.map((a) => a.seq).sort(bySeq));
    const winner = events.find((e) => e.type === 'resumed')?.data.reviewer;
    expect(await t.replies()).toEqual([expect.objectContaining({ approvedBy: winner })]);
    expect(await t.client.pending()).toEqual([]);
  });
});
