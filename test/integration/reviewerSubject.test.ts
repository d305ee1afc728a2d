import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { DeadLetterSchema, type EventEnvelope, type Subjects } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  storedEvents,
  workflowScope,
  workersIdle,
} from '../helpers/harness.js';

// Contract v2, "Responses": a response on hitl.human.respond.<wf>.<reviewer> is answered by
// that reviewer, whatever its payload says; bad subjects are dead-lettered, nothing applied.

const shared = serverPerFile();

async function events(subjects: Subjects, wf: string): Promise<EventEnvelope[]> {
  return storedEvents(shared.nc, subjects, wf);
}

async function verdict(subjects: Subjects, wf: string, seq: number): Promise<EventEnvelope> {
  let found: EventEnvelope | undefined;
  await eventually(async () => {
    found = (await events(subjects, wf)).find(
      (e) => (e.type === 'resumed' || e.type === 'response_rejected') && e.data.responseSeq === seq,
    );
    expect(found).toBeDefined();
  });
  if (!found) throw new Error('no verdict');
  return found;
}

async function deadLetters(subjects: Subjects) {
  const rows = await readStream(shared.nc, subjects.streams.dlq, subjects.dlq('responses'));
  return rows.map((r) => DeadLetterSchema.parse(r.data));
}

describe('the reviewer named by the response subject', () => {
  it('takes the reviewer from the subject into resumed, approved and the outbound reply', async () => {
    await using t = workflowScope(shared.server, 'rsub');
    await t.worker();
    await t.client.start({ id: 'named-1', request: 'refund please' });

    const { seq } = await publishRaw(shared.nc, t.subjects.respond('named-1', 'ana'), {
      answer: 'yes',
    });
    expect((await verdict(t.subjects, 'named-1', seq)).type).toBe('resumed');
    await eventually(async () =>
      expect(countTypes(await events(t.subjects, 'named-1')).completed).toBe(1),
    );
    const timeline = await events(t.subjects, 'named-1');
    expect(timeline.find((e) => e.type === 'resumed')?.data.reviewer).toBe('ana');
    expect(timeline.find((e) => e.type === 'approved')?.data.reviewer).toBe('ana');
    const replies = await readStream(
      shared.nc,
      t.subjects.streams.outbound,
      t.subjects.outboundReply('named-1'),
    );
    expect(replies.map((r) => (r.data as { approvedBy?: string }).approvedBy)).toEqual(['ana']);
  });

  it('rejects a payload reviewer that differs from the subject, and accepts the same name', async () => {
    await using t = workflowScope(shared.server, 'rsub');
    await t.worker();
    await t.client.start({ id: 'named-2', request: 'refund please' });

    const forged = await publishRaw(shared.nc, t.subjects.respond('named-2', 'mallory'), {
      answer: 'yes',
      reviewer: 'ana',
    });
    const rejected = await verdict(t.subjects, 'named-2', forged.seq);
    expect(rejected).toMatchObject({
      type: 'response_rejected',
      data: {
        reviewer: 'mallory',
        reason: `the payload names reviewer 'ana' but the subject '${t.subjects.respond('named-2', 'mallory')}' names 'mallory': the subject says who answers (leave reviewer out of the payload, or give the same name)`,
      },
    });
    expect((await t.client.interrupt('named-2'))?.type).toBe('approval');

    const same = await publishRaw(shared.nc, t.subjects.respond('named-2', 'ana'), {
      answer: 'yes',
      reviewer: 'ana',
    });
    expect((await verdict(t.subjects, 'named-2', same.seq)).data.reviewer).toBe('ana');
  });

  it('judges HITL_APPROVERS and HITL_SEPARATE_APPROVER by the name the subject proves', async () => {
    await using t = workflowScope(shared.server, 'rsub', {
      HITL_APPROVERS: 'ana,bo',
      HITL_SEPARATE_APPROVER: 'true',
    });
    await t.worker();
    await t.client.start({ id: 'named-3', request: 'Hello, I have a question' });
    const triaged = await publishRaw(shared.nc, t.subjects.respond('named-3', 'ana'), {
      answer: 'refund',
    });
    expect((await verdict(t.subjects, 'named-3', triaged.seq)).type).toBe('resumed');
    await eventually(async () =>
      expect((await t.client.interrupt('named-3'))?.type).toBe('approval'),
    );

    const outsider = await publishRaw(shared.nc, t.subjects.respond('named-3', 'eve'), {
      answer: 'yes',
    });
    expect((await verdict(t.subjects, 'named-3', outsider.seq)).data.reason).toBe(
      "reviewer 'eve' may not answer approvals (HITL_APPROVERS allows: ana, bo)",
    );
    const twice = await publishRaw(shared.nc, t.subjects.respond('named-3', 'ana'), {
      answer: 'yes',
    });
    expect((await verdict(t.subjects, 'named-3', twice.seq)).data.reason).toMatch(
      /^reviewer 'ana' answered an earlier interrupt of this workflow/,
    );
    const other = await publishRaw(shared.nc, t.subjects.respond('named-3', 'bo'), {
      answer: 'yes',
    });
    expect((await verdict(t.subjects, 'named-3', other.seq)).type).toBe('resumed');
  });

  it('with HITL_REVIEWER_FROM_SUBJECT rejects responses without the token; the client sends it', async () => {
    await using t = workflowScope(shared.server, 'rsub', { HITL_REVIEWER_FROM_SUBJECT: 'true' });
    await t.worker();
    await t.client.start({ id: 'named-4', request: 'refund please' });

    const plain = await publishRaw(shared.nc, t.subjects.respond('named-4'), {
      answer: 'yes',
      reviewer: 'ana',
    });
    const rejected = await verdict(t.subjects, 'named-4', plain.seq);
    expect(rejected.type).toBe('response_rejected');
    expect(rejected.data.reason).toMatch(
      /^responses must name their reviewer in the subject \(HITL_REVIEWER_FROM_SUBJECT=true\)/,
    );
    expect((await t.client.interrupt('named-4'))?.type).toBe('approval');

    // The setting implies HITL_RESPOND_WITH_SUBJECT: the client publishes on the reviewer's subject.
    const done = await t.client.resume('named-4', { resume: 'yes', reviewer: 'bo' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    const responses = await readStream(
      shared.nc,
      t.subjects.streams.responses,
      t.subjects.respondAll,
    );
    expect(responses.map((r) => r.subject)).toEqual([
      t.subjects.respond('named-4'),
      t.subjects.respond('named-4', 'bo'),
    ]);
  });

  it.each([
    ['an illegal reviewer token', 'ana!', /illegal reviewer name 'ana!' in subject/],
    ['extra tokens', 'ana.extra', /has 1 token\(s\) too many/],
  ])('dead-letters a response with %s, applying nothing', async (_what, tail, reason) => {
    await using t = workflowScope(shared.server, 'rsub');
    await t.worker();
    await t.client.start({ id: 'named-5', request: 'refund please' });
    const subject = `${t.subjects.respond('named-5')}.${tail}`;
    const { seq } = await publishRaw(shared.nc, subject, { answer: 'yes', reviewer: 'ana' });

    const rejected = await verdict(t.subjects, 'named-5', seq);
    expect(rejected.type).toBe('response_rejected');
    expect(rejected.data.reason).toMatch(reason);
    await eventually(async () =>
      expect(await deadLetters(t.subjects)).toEqual([
        expect.objectContaining({ subject, reason: expect.stringMatching(reason) }),
      ]),
    );
    await workersIdle(shared.nc, t.subjects);
    expect(countTypes(await events(t.subjects, 'named-5')).resumed).toBeUndefined();
    expect((await t.client.interrupt('named-5'))?.type).toBe('approval');
  });

  it('keeps the proven name when the response is handed to the worker that hosts the actor', async () => {
    await using t = workflowScope(shared.server, 'rsub');
    const gate = await t.worker();
    await t.client.start({ id: 'named-6', request: 'refund please' });
    await gate.stop();
    // This worker hosts no gate: it forwards the response to the gate's mailbox.
    await t.worker({ kinds: ['triage', 'specialist'] });
    const { seq } = await publishRaw(shared.nc, t.subjects.respond('named-6', 'cy'), {
      answer: 'yes',
    });
    // Handed on: the gate's mailbox holds the response, which no worker applied yet.
    const jsm = await jetstreamManager(shared.nc);
    await eventually(async () => {
      const forwarded = await jsm.streams.getMessage(t.subjects.streams.mailbox, {
        last_by_subj: t.subjects.mailbox('gate', 'named-6'),
      });
      expect(forwarded?.json()).toMatchObject({ response: { answer: 'yes', reviewer: 'cy' } });
    });
    expect(countTypes(await events(t.subjects, 'named-6')).resumed).toBeUndefined();
    await t.worker({ kinds: ['gate'] });
    const resumed = await verdict(t.subjects, 'named-6', seq);
    expect(resumed).toMatchObject({ type: 'resumed', data: { reviewer: 'cy' } });
  });

  it('applies a named response stored before the deadline even when a worker reads it after', async () => {
    await using t = workflowScope(shared.server, 'rsub', { HITL_GATE_TIMEOUT_MS: '2500' });
    const first = await t.worker();
    const run = await t.client.start({ id: 'named-7', request: 'refund please' });
    if (run.status !== 'paused') throw new Error('expected a pause');
    await first.stop();
    await publishRaw(shared.nc, t.subjects.respond('named-7', 'early'), { answer: 'yes' });
    const expiresAt = Date.parse(run.interrupt.expiresAt ?? '');
    expect(Date.now()).toBeLessThan(expiresAt);
    await eventually(() => Date.now() > expiresAt + 20, { timeout: 10_000, interval: 25 });

    await t.worker();
    await eventually(async () =>
      expect(countTypes(await events(t.subjects, 'named-7'))).toMatchObject({
        resumed: 1,
        completed: 1,
      }),
    );
    expect(countTypes(await events(t.subjects, 'named-7')).expired).toBeUndefined();
  });
});
