import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import {
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  storedEvents,
  types,
  workflowScope,
} from '../helpers/harness.js';

// Faults and conditions this file injects: interrupts with short deadlines
// (HITL_GATE_TIMEOUT_MS), every worker stopped across a deadline, and responses stored just
// before or just after a deadline while no worker runs.

const shared = serverPerFile();

function setup(timeoutMs: number) {
  return workflowScope(shared.server, 'ddl', { HITL_GATE_TIMEOUT_MS: String(timeoutMs) });
}

/** Resolves once the wall clock is past `iso`. */
async function past(iso: string | undefined): Promise<void> {
  if (iso === undefined) throw new Error('the interrupt carries no expiresAt');
  await eventually(() => Date.now() > Date.parse(iso) + 20, { timeout: 10_000, interval: 25 });
}

describe('durable deadlines', () => {
  it('expires an unanswered approval and completes the workflow as expired', async () => {
    await using t = setup(300);
    await t.worker();
    const run = await t.client.start({ id: 'late-1', request: 'refund please' });
    expect(run.status).toBe('paused');
    if (run.status !== 'paused') return;
    const expiresAt = run.interrupt.expiresAt;
    expect(Date.parse(expiresAt ?? '') - Date.parse(run.interrupt.createdAt)).toBe(300);

    await eventually(async () =>
      expect(types(await storedEvents(shared.nc, t.subjects, 'late-1')).slice(-2)).toEqual([
        'expired',
        'completed',
      ]),
    );
    const events = await storedEvents(shared.nc, t.subjects, 'late-1');
    expect(events.at(-2)?.data).toEqual({ interruptId: run.interrupt.interruptId });
    expect(events.at(-1)?.data).toMatchObject({ outcome: 'expired', category: 'refund' });
    expect(Date.parse(events.at(-2)?.at ?? '')).toBeGreaterThanOrEqual(Date.parse(expiresAt ?? ''));
    expect(await t.client.pending()).toEqual([]);
    expect(
      await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
    ).toHaveLength(0);
  });

  it('fires when every worker was down at the deadline and one starts later', async () => {
    await using t = setup(200);
    const first = await t.worker();
    const run = await t.client.start({ id: 'late-2', request: 'I want my money back' });
    if (run.status !== 'paused') throw new Error('expected a pause');
    await first.stop();
    await past(run.interrupt.expiresAt);
    expect(countTypes(await storedEvents(shared.nc, t.subjects, 'late-2')).expired).toBeUndefined();

    await t.worker();
    await eventually(async () =>
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'late-2'))).toMatchObject({
        expired: 1,
        completed: 1,
      }),
    );
  });

  it('never fires after a valid answer was accepted', async () => {
    await using t = setup(400);
    await t.worker();
    const run = await t.client.start({ id: 'late-3', request: 'refund my order' });
    if (run.status !== 'paused') throw new Error('expected a pause');
    const done = await t.client.resume('late-3', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    await past(run.interrupt.expiresAt);
    // The timer is consumed (the stream is a work queue) without effect.
    const jsm = await jetstreamManager(shared.nc);
    await eventually(async () =>
      expect((await jsm.streams.info(t.subjects.streams.timers)).state.messages).toBe(0),
    );
    const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'late-3'));
    expect(counts.expired).toBeUndefined();
    expect(counts.completed).toBe(1);
  });

  it('applies a response stored before the deadline even when a worker reads it after', async () => {
    await using t = setup(2_500);
    const first = await t.worker();
    const run = await t.client.start({ id: 'late-4', request: 'refund please' });
    if (run.status !== 'paused') throw new Error('expected a pause');
    await first.stop();
    await publishRaw(shared.nc, t.subjects.respond('late-4'), { answer: 'yes', reviewer: 'early' });
    expect(Date.now()).toBeLessThan(Date.parse(run.interrupt.expiresAt ?? ''));
    await past(run.interrupt.expiresAt);

    await t.worker();
    await eventually(async () =>
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'late-4'))).toMatchObject({
        resumed: 1,
        completed: 1,
      }),
    );
    const events = await storedEvents(shared.nc, t.subjects, 'late-4');
    expect(events.find((e) => e.type === 'completed')?.data.outcome).toBe('sent');
    expect(countTypes(events).expired).toBeUndefined();
  });

  it('rejects a response stored after the deadline and expires the workflow', async () => {
    await using t = setup(200);
    const first = await t.worker();
    const run = await t.client.start({ id: 'late-5', request: 'refund please' });
    if (run.status !== 'paused') throw new Error('expected a pause');
    await first.stop();
    await past(run.interrupt.expiresAt);
    await publishRaw(shared.nc, t.subjects.respond('late-5'), { answer: 'yes', reviewer: 'tardy' });

    await t.worker();
    await eventually(async () =>
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'late-5'))).toMatchObject({
        response_rejected: 1,
        expired: 1,
        completed: 1,
      }),
    );
    const events = await storedEvents(shared.nc, t.subjects, 'late-5');
    const rejected = events.find((e) => e.type === 'response_rejected');
    expect(String(rejected?.data.reason)).toMatch(/deadline .* passed/);
    expect(events.find((e) => e.type === 'completed')?.data.outcome).toBe('expired');
    expect(
      await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
    ).toHaveLength(0);
  });

  it("takes a ticket's timeoutMs over HITL_GATE_TIMEOUT_MS, all the way to the gate", async () => {
    await using t = setup(60_000);
    await t.worker();
    const run = await t.client.start({ id: 'late-6', request: 'refund please', timeoutMs: 1_000 });
    if (run.status !== 'paused') throw new Error('expected a pause');
    expect(run.interrupt.type).toBe('approval');
    expect(Date.parse(run.interrupt.expiresAt ?? '') - Date.parse(run.interrupt.createdAt)).toBe(
      1_000,
    );
    await eventually(async () =>
      expect(types(await storedEvents(shared.nc, t.subjects, 'late-6')).slice(-2)).toEqual([
        'expired',
        'completed',
      ]),
    );
  });

  it('expires an unanswered escalation at triage', async () => {
    await using t = setup(60_000);
    await t.worker();
    const run = await t.client.start({ id: 'late-7', request: 'hmm, hello?', timeoutMs: 1_000 });
    expect(run).toMatchObject({ status: 'paused', interrupt: { type: 'escalation' } });
    await eventually(async () =>
      expect(types(await storedEvents(shared.nc, t.subjects, 'late-7'))).toEqual([
        'received',
        'interrupted',
        'expired',
        'completed',
      ]),
    );
    const events = await storedEvents(shared.nc, t.subjects, 'late-7');
    expect(events.at(-1)?.data).toEqual({ outcome: 'expired' });
    expect(await t.client.pending()).toEqual([]);
  });
});
