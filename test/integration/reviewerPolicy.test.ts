import { describe, expect, it } from 'vitest';
import { DeadLetterSchema, Subjects, type HitlClient, type Worker } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  uniquePrefix,
} from '../helpers/harness.js';

const shared = serverPerFile();

async function setup(env: Record<string, string>) {
  const prefix = uniquePrefix('pol');
  const config = testConfig(shared.server, prefix, env);
  const worker: Worker = await startWorker(config);
  const client: HitlClient = await connectClient(config);
  return {
    client,
    subjects: new Subjects(prefix),
    async [Symbol.asyncDispose]() {
      await client.close();
      await worker.stop();
    },
  };
}

async function deadLetters(subjects: Subjects, source: string) {
  const rows = await readStream(shared.nc, subjects.streams.dlq, subjects.dlq(source));
  return rows.map((r) => DeadLetterSchema.parse(r.data));
}

describe('HITL_SEPARATE_APPROVER', () => {
  it('refuses the approval of the reviewer who answered the escalation, naming the rule', async () => {
    await using t = await setup({ HITL_SEPARATE_APPROVER: 'true' });
    const escalated = await t.client.start({
      id: 'four-eyes',
      request: 'Hello, I have a question',
    });
    expect(escalated).toMatchObject({ status: 'paused', interrupt: { type: 'escalation' } });

    const triaged = await t.client.resume('four-eyes', { resume: 'refund', reviewer: 'ana' });
    expect(triaged).toMatchObject({
      status: 'paused',
      interrupt: { type: 'approval', previousReviewers: ['ana'] },
    });

    const same = await t.client.resume('four-eyes', { resume: 'yes', reviewer: 'ana' });
    expect(same).toEqual({
      status: 'rejected',
      workflowId: 'four-eyes',
      reason:
        "reviewer 'ana' answered an earlier interrupt of this workflow and may not also answer its approval (HITL_SEPARATE_APPROVER: another reviewer must approve)",
    });
    expect((await t.client.interrupt('four-eyes'))?.type).toBe('approval');

    const other = await t.client.resume('four-eyes', { resume: 'yes', reviewer: 'bo' });
    expect(other).toMatchObject({ status: 'completed', outcome: 'sent' });

    // The audit trail: every accepted answer names its reviewer in the events.
    const events = await storedEvents(shared.nc, t.subjects, 'four-eyes');
    const audit = events
      .filter((e) => ['resumed', 'response_rejected', 'approved'].includes(e.type))
      .map((e) => [e.type, e.data.reviewer]);
    expect(audit).toEqual([
      ['resumed', 'ana'],
      ['response_rejected', 'ana'],
      ['resumed', 'bo'],
      ['approved', 'bo'],
    ]);
  });

  it('lets the same reviewer answer both when the rule is off', async () => {
    await using t = await setup({});
    await t.client.start({ id: 'two-eyes', request: 'Hello, I have a question' });
    await t.client.resume('two-eyes', { resume: 'billing', reviewer: 'ana' });
    const done = await t.client.resume('two-eyes', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
  });
});

describe('HITL_MAX_PAYLOAD_BYTES', () => {
  it('dead-letters a ticket, a response and an actor message over the limit, unread, and goes on', async () => {
    await using t = await setup({ HITL_MAX_PAYLOAD_BYTES: '2048' });
    const big = 'x'.repeat(3_000);
    await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'too-big', request: big });

    const paused = await t.client.start({ id: 'fits', request: 'refund please' });
    expect(paused.status).toBe('paused');
    const response = { answer: 'yes', reviewer: 'ana', comment: big };
    const verdict = await t.client.respond('fits', response);
    expect(verdict).toMatchObject({
      accepted: false,
      reason: expect.stringMatching(
        /^payload of 30\d\d bytes exceeds the limit of 2048 bytes \(HITL_MAX_PAYLOAD_BYTES\)/,
      ),
    });
    // Messages between actors may be twice as large: a request and a draft.
    await publishRaw(shared.nc, t.subjects.mailbox('gate', 'fits'), {
      type: 'draft',
      draft: 'y'.repeat(4_200),
    });

    const letters = await eventually(async () => {
      const found = {
        tickets: await deadLetters(t.subjects, 'tickets'),
        responses: await deadLetters(t.subjects, 'responses'),
        mailbox: await deadLetters(t.subjects, 'mailbox'),
      };
      expect(Object.values(found).map((l) => l.length)).toEqual([1, 1, 1]);
      return found;
    });
    expect(letters.tickets[0]?.reason).toMatch(
      /^payload of 30\d\d bytes exceeds the limit of 2048 bytes \(HITL_MAX_PAYLOAD_BYTES\); the dead letter keeps its first 2048 bytes$/,
    );
    expect(letters.tickets[0]?.raw).toHaveLength(2048);
    expect(letters.mailbox[0]?.reason).toMatch(/exceeds the limit of 4096 bytes/);
    expect(await storedEvents(shared.nc, t.subjects, 'too-big')).toEqual([]);

    const done = await t.client.resume('fits', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
  });
});
