import { describe, expect, it } from 'vitest';
import type { Worker } from '../../src/index.js';
import { Subjects } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  types,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';

const shared = serverPerFile();

async function setup(workerCount = 1) {
  const prefix = uniquePrefix('tix');
  const config = testConfig(shared.server, prefix);
  const workers: Worker[] = [];
  for (let i = 0; i < workerCount; i++) workers.push(await startWorker(config));
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  return {
    client,
    subjects,
    /** The ids of every workflow that published an event. */
    async workflows(): Promise<string[]> {
      const rows = await readStream(shared.nc, subjects.streams.events, subjects.events());
      return [...new Set(rows.map((r) => (r.data as { workflowId: string }).workflowId))];
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

describe('duplicate tickets', () => {
  it.each([
    ['at the approval gate', 'Please refund my order', 'approval'],
    ['at triage', 'Something feels off', 'escalation'],
  ])(
    'starts one workflow for a ticket id published three times, the third while paused %s',
    async (_where, request, interruptType) => {
      await using t = await setup();
      const first = await t.client.submit({ id: 'dup-1', request });
      // The client sets Nats-Msg-Id to the id: the stream itself drops the second copy.
      const second = await t.client.submit({ id: 'dup-1', request });
      expect([first.duplicate, second.duplicate]).toEqual([false, true]);
      await eventually(async () =>
        expect(types(await storedEvents(shared.nc, t.subjects, 'dup-1'))).toContain('interrupted'),
      );

      // A publisher that sets no Nats-Msg-Id: the stream stores it, the runtime must see the id.
      const third = await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'dup-1', request });
      expect(third.duplicate).toBe(false);
      await workersIdle(shared.nc, t.subjects);

      const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'dup-1'));
      expect(counts).toMatchObject({ received: 1, interrupted: 1 });
      expect(counts).not.toHaveProperty('completed');
      expect(await t.client.pending()).toEqual([
        expect.objectContaining({ workflowId: 'dup-1', type: interruptType }),
      ]);
      expect(await t.workflows()).toEqual(['dup-1']);
    },
  );

  it('starts one workflow for a ticket without an id sent twice with the same Nats-Msg-Id', async () => {
    await using t = await setup();
    const ticket = { request: 'I was charged twice on my invoice' };
    const acks = [
      await publishRaw(shared.nc, t.subjects.ticketsNew, ticket, { msgId: 'order-77' }),
      await publishRaw(shared.nc, t.subjects.ticketsNew, ticket, { msgId: 'order-77' }),
    ];
    expect(acks.map((a) => a.duplicate)).toEqual([false, true]);
    await eventually(async () =>
      expect(types(await storedEvents(shared.nc, t.subjects, 'order-77'))).toContain('interrupted'),
    );
    await workersIdle(shared.nc, t.subjects);
    expect(countTypes(await storedEvents(shared.nc, t.subjects, 'order-77'))).toMatchObject({
      received: 1,
      interrupted: 1,
    });
    expect(await t.workflows()).toEqual(['order-77']);
  });

  it('starts one workflow for a Nats-Msg-Id that is not a workflow id, sent twice', async () => {
    await using t = await setup();
    const ticket = { request: 'I was charged twice on my invoice' };
    const msgId = '<mail-4711@example.com>';
    await publishRaw(shared.nc, t.subjects.ticketsNew, ticket, { msgId });
    await publishRaw(shared.nc, t.subjects.ticketsNew, ticket, { msgId });
    await eventually(async () => expect(await t.client.pending()).toHaveLength(1));
    await workersIdle(shared.nc, t.subjects);
    const workflows = await t.workflows();
    expect(workflows).toHaveLength(1);
    expect(countTypes(await storedEvents(shared.nc, t.subjects, workflows[0] ?? ''))).toMatchObject(
      {
        received: 1,
        interrupted: 1,
      },
    );
  });

  it('starts one workflow for copies of a ticket taken at once by two workers', async () => {
    await using t = await setup(2);
    const ticket = { id: 'dup-2', request: 'Please refund my order' };
    await Promise.all(
      Array.from({ length: 6 }, () => publishRaw(shared.nc, t.subjects.ticketsNew, ticket)),
    );
    await eventually(async () => expect(await t.client.pending()).toHaveLength(1));
    await workersIdle(shared.nc, t.subjects);
    expect(countTypes(await storedEvents(shared.nc, t.subjects, 'dup-2'))).toMatchObject({
      received: 1,
      triaged: 1,
      drafted: 1,
      interrupted: 1,
    });
    expect(await t.workflows()).toEqual(['dup-2']);
  });
});
