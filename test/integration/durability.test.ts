import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { mockModel, supportActors } from '../../actors/index.js';
import type { ActorDefinition } from '../../src/index.js';
import { defineActor } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  storedEvents,
  types,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';

const shared = serverPerFile();

function setup() {
  return workflowScope(shared.server, 'dur');
}

/** The support actors, with the gate definition swapped for `gate(original)`. */
function withGate(gate: (original: ActorDefinition) => ActorDefinition): ActorDefinition[] {
  const support = supportActors({
    model: mockModel(),
    approvalCategories: ['refund', 'billing'],
  });
  return support.map((d) => (d.kind === 'gate' ? gate(d) : d));
}

describe('pattern C: a long pause across worker processes', () => {
  it('resumes a paused workflow in a new worker after the one that ran it stopped', async () => {
    await using t = setup();
    const first = await t.worker();
    const run = await t.client.start({ id: 'long-1', request: 'My parcel never arrived' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { actor: 'gate', type: 'approval' } });
    if (run.status !== 'paused') return;
    await first.stop();
    expect(first.nc.isClosed()).toBe(true);

    // Nothing lives in a process while it waits: the interrupt and the snapshot are in KV.
    expect(await t.client.pending()).toEqual([
      expect.objectContaining({ workflowId: 'long-1', interruptId: run.interrupt.interruptId }),
    ]);
    const gate = (await t.client.snapshots('long-1')).find((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope).toMatchObject({
      status: 'active',
      version: 1,
      interrupt: { interruptId: run.interrupt.interruptId },
    });

    const second = await t.worker();
    expect(second.nc).not.toBe(first.nc);
    const done = await t.client.resume('long-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent', category: 'refund' });

    await workersIdle(shared.nc, t.subjects);
    expect(await t.client.pending()).toEqual([]);
    const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'long-1'));
    expect(counts).toMatchObject({ interrupted: 1, resumed: 1, sent: 1, completed: 1 });
    const replies = await readStream(
      shared.nc,
      t.subjects.streams.outbound,
      t.subjects.outboundAll,
    );
    expect(replies.map((r) => r.data)).toEqual([
      expect.objectContaining({ workflowId: 'long-1', approvedBy: 'ana' }),
    ]);
  });

  it('applies a response published while no worker runs once a worker starts', async () => {
    await using t = setup();
    const first = await t.worker();
    const run = await t.client.start({ id: 'offline-1', request: 'I want my money back' });
    expect(run.status).toBe('paused');
    await first.stop();

    const { seq } = await publishRaw(shared.nc, t.subjects.respond('offline-1'), {
      answer: 'yes',
      reviewer: 'ana',
    });
    // Stored, not lost, and not applied yet.
    const jsm = await jetstreamManager(shared.nc);
    const stored = await jsm.streams.getMessage(t.subjects.streams.responses, { seq });
    expect(stored?.subject).toBe(t.subjects.respond('offline-1'));
    expect(await t.client.pending()).toHaveLength(1);
    expect(types(await storedEvents(shared.nc, t.subjects, 'offline-1'))).not.toContain('resumed');

    await t.worker();
    const events = await eventually(async () => {
      const all = await storedEvents(shared.nc, t.subjects, 'offline-1');
      expect(types(all)).toContain('completed');
      return all;
    });
    expect(events.find((e) => e.type === 'resumed')?.data).toMatchObject({
      answer: 'yes',
      reviewer: 'ana',
      responseSeq: seq,
    });
    expect(events.find((e) => e.type === 'completed')?.data).toMatchObject({ outcome: 'sent' });
    expect(await t.client.pending()).toEqual([]);
  });
});

describe('snapshot versions', () => {
  it('fails a workflow whose snapshot was written by a machine version with no migration', async () => {
    await using t = setup();
    const first = await t.worker();
    const run = await t.client.start({ id: 'ver-1', request: 'Refund me please' });
    expect(run.status).toBe('paused');
    await first.stop();

    await t.worker({
      definitions: withGate((gate) =>
        defineActor({ kind: 'gate', machine: gate.machine, version: 2, updates: gate.updates }),
      ),
    });
    const verdict = await t.client.respond('ver-1', { answer: 'yes', reviewer: 'ana' });
    expect(verdict).toMatchObject({ accepted: false, reason: expect.stringMatching(/version/) });

    await workersIdle(shared.nc, t.subjects);
    const events = await storedEvents(shared.nc, t.subjects, 'ver-1');
    const failed = events.filter((e) => e.type === 'failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({ step: 'gate', retryable: false });
    expect(String(failed[0]?.data.reason)).toMatch(/version 1.*version 2/);
    const completed = events.filter((e) => e.type === 'completed');
    expect(completed.map((e) => e.data)).toEqual([{ outcome: 'failed' }]);
    expect(types(events)).not.toContain('resumed');
    expect(await t.client.pending()).toEqual([]);
    const gate = (await t.client.snapshots('ver-1')).find((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope.status).toBe('failed');
    expect(
      await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
    ).toEqual([]);
  });

  it('resumes a snapshot of an older machine version through its declared migration', async () => {
    await using t = setup();
    const first = await t.worker();
    const run = await t.client.start({ id: 'ver-2', request: 'Refund me please' });
    expect(run.status).toBe('paused');
    await first.stop();

    await t.worker({
      definitions: withGate((gate) =>
        defineActor({
          kind: 'gate',
          machine: gate.machine,
          version: 2,
          updates: gate.updates,
          migrations: { 1: (s) => s },
        }),
      ),
    });
    const done = await t.client.resume('ver-2', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    const gate = (await t.client.snapshots('ver-2')).find((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope).toMatchObject({ status: 'done', version: 2 });
    expect(types(await storedEvents(shared.nc, t.subjects, 'ver-2'))).not.toContain('failed');
  });
});

describe('actor kinds split across workers', () => {
  it('runs a workflow whose actors live in different workers', async () => {
    await using t = setup();
    await t.worker({ kinds: ['triage', 'specialist'] });
    await t.worker({ kinds: ['gate'], intake: null });
    const run = await t.client.start({ id: 'split-1', request: 'Please refund my order' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { actor: 'gate' } });
    const done = await t.client.resume('split-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent', category: 'refund' });
    await workersIdle(shared.nc, t.subjects);
    expect(
      await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
    ).toHaveLength(1);
  });

  it('forwards a response to the mailbox of the worker that hosts the paused actor', async () => {
    await using t = setup();
    await t.worker({ kinds: ['triage', 'specialist'] });
    const gateWorker = await t.worker({ kinds: ['gate'], intake: null });
    const run = await t.client.start({ id: 'split-2', request: 'Please refund my order' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { actor: 'gate' } });
    // With the gate's worker gone, only worker A takes the response: it must hand it on.
    await gateWorker.stop();

    const { seq } = await publishRaw(shared.nc, t.subjects.respond('split-2'), {
      answer: 'yes',
      reviewer: 'ana',
    });
    const jsm = await jetstreamManager(shared.nc);
    const forwarded = await eventually(async () => {
      const stored = await jsm.streams.getMessage(t.subjects.streams.mailbox, {
        last_by_subj: t.subjects.mailbox('gate', 'split-2'),
      });
      if (!stored) throw new Error('the response was not forwarded to the gate mailbox');
      return stored;
    });
    expect(forwarded.json()).toMatchObject({
      type: 'hitl.response',
      responseSeq: seq,
      response: { answer: 'yes', reviewer: 'ana' },
    });

    await t.worker({ kinds: ['gate'], intake: null });
    await eventually(async () =>
      expect(types(await storedEvents(shared.nc, t.subjects, 'split-2'))).toContain('completed'),
    );
    await workersIdle(shared.nc, t.subjects);
    const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'split-2'));
    expect(counts).toMatchObject({ resumed: 1, completed: 1 });
    expect(
      await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
    ).toHaveLength(1);
  });
});
