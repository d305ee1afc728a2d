import { describe, expect, it } from 'vitest';
import { Subjects } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  readStream,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  types,
  uniquePrefix,
} from '../helpers/harness.js';

const shared = serverPerFile();

async function setup(env: Record<string, string> = {}) {
  const prefix = uniquePrefix('pat');
  const config = testConfig(shared.server, prefix, env);
  const worker = await startWorker(config);
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  return {
    config,
    worker,
    client,
    subjects,
    async [Symbol.asyncDispose]() {
      await client.close();
      await worker.stop();
    },
  };
}

describe('pattern A: approval gate', () => {
  it('sends the drafted reply once a reviewer approves', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'refund-1', request: 'I want my money back' });
    expect(run.status).toBe('paused');
    if (run.status !== 'paused') return;
    expect(run.interrupt).toMatchObject({
      type: 'approval',
      options: ['yes', 'no'],
      category: 'refund',
    });
    expect(run.interrupt.draft).toMatch(/refund/);
    expect(await t.client.pending()).toHaveLength(1);

    const done = await t.client.resume('refund-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent', category: 'refund' });
    expect(await t.client.pending()).toHaveLength(0);

    const events = await storedEvents(shared.nc, t.subjects, 'refund-1');
    expect(types(events)).toEqual([
      'received',
      'triaged',
      'drafted',
      'interrupted',
      'resumed',
      'approved',
      'sent',
      'completed',
    ]);
    const replies = await readStream(
      shared.nc,
      t.subjects.streams.outbound,
      t.subjects.outboundAll,
    );
    expect(replies).toHaveLength(1);
    expect(replies[0]?.data).toMatchObject({
      workflowId: 'refund-1',
      category: 'refund',
      approvedBy: 'ana',
    });
  });

  it('cancels the reply when the reviewer says no, and sends nothing', async () => {
    await using t = await setup();
    const run = await t.client.start({
      id: 'bill-1',
      request: 'I was charged twice on my invoice',
    });
    expect(run).toMatchObject({ status: 'paused', interrupt: { category: 'billing' } });
    const done = await t.client.resume('bill-1', { resume: 'no', reviewer: 'bo' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'cancelled' });
    const events = await storedEvents(shared.nc, t.subjects, 'bill-1');
    expect(types(events).slice(-3)).toEqual(['resumed', 'rejected', 'completed']);
    expect(
      await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
    ).toHaveLength(0);
  });
});

describe('pattern B: human as a tool', () => {
  it('routes an unsure ticket by the category a human gives', async () => {
    await using t = await setup();
    const run = await t.client.start({
      id: 'vague-1',
      request: 'Something is off with my account',
    });
    expect(run).toMatchObject({
      status: 'paused',
      interrupt: { type: 'escalation', options: ['refund', 'billing', 'technical', 'drop'] },
    });
    const done = await t.client.resume('vague-1', { resume: 'technical', reviewer: 'cy' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent', category: 'technical' });
    const events = await storedEvents(shared.nc, t.subjects, 'vague-1');
    const triaged = events.find((e) => e.type === 'triaged');
    expect(triaged?.data).toMatchObject({ category: 'technical', by: 'human' });
    await eventually(async () =>
      expect(
        await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
      ).toHaveLength(1),
    );
  });

  it('drops the workflow when the human answers drop', async () => {
    await using t = await setup();
    await t.client.start({ id: 'vague-2', request: 'hello?' });
    const done = await t.client.resume('vague-2', { resume: 'drop', reviewer: 'cy' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'dropped' });
    const events = await storedEvents(shared.nc, t.subjects, 'vague-2');
    expect(types(events)).toEqual(['received', 'interrupted', 'resumed', 'completed']);
  });
});
