import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { createMachine } from 'xstate';
import { mockModel, supportActors } from '../../actors/index.js';
import type { ActorDefinition, Subjects } from '../../src/index.js';
import { defineActor } from '../../src/index.js';
import { outboxEffects } from '../../src/outbox.js';
import {
  countTypes,
  publishRaw,
  serverPerFile,
  storedEvents,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';

// Messages between actors that one worker hosts are applied in-process, before the message
// that caused them is acked, instead of through the mailbox stream. What this file shows: no
// mailbox write when the actors share a worker; the mailbox when they do not, when
// HITL_LOCAL_DELIVERY=false, and when the local step fails (it is retried from there). The
// crash cases (SIGKILL inside the in-process chain) are in workerKilledTriage/Gate.

const shared = serverPerFile();

/** Messages ever stored in the mailbox stream (it is a work queue: acked ones are gone). */
async function mailboxWrites(subjects: Subjects): Promise<number> {
  const jsm = await jetstreamManager(shared.nc);
  return (await jsm.streams.info(subjects.streams.mailbox)).state.last_seq;
}

function support(): ActorDefinition[] {
  return supportActors({ model: mockModel(), approvalCategories: ['refund', 'billing'] });
}

describe('messages between actors of one worker', () => {
  it('are applied in-process: a whole approval workflow writes nothing to the mailbox', async () => {
    await using t = workflowScope(shared.server, 'loc');
    await t.worker();
    const run = await t.client.start({ id: 'loc-1', request: 'I want a refund, it never arrived' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { actor: 'gate' } });
    await t.client.respond('loc-1', { answer: 'yes', reviewer: 'ana' });
    await workersIdle(shared.nc, t.subjects);
    expect(await mailboxWrites(t.subjects)).toBe(0);
    const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'loc-1'));
    expect(counts).toMatchObject({ triaged: 1, drafted: 1, interrupted: 1, sent: 1, completed: 1 });
  });

  it('go through the mailbox with HITL_LOCAL_DELIVERY=false', async () => {
    await using t = workflowScope(shared.server, 'nol', { HITL_LOCAL_DELIVERY: 'false' });
    await t.worker();
    const run = await t.client.start({ id: 'nol-1', request: 'I want a refund, it never arrived' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { actor: 'gate' } });
    await workersIdle(shared.nc, t.subjects);
    // triage → specialist, specialist → gate
    expect(await mailboxWrites(t.subjects)).toBe(2);
  });

  it('go through the mailbox to an actor another worker hosts', async () => {
    await using t = workflowScope(shared.server, 'spl');
    await t.worker({ kinds: ['triage'] });
    await t.worker({ kinds: ['specialist', 'gate'], intake: null });
    const run = await t.client.start({ id: 'spl-1', request: 'I want a refund, it never arrived' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { actor: 'gate' } });
    await workersIdle(shared.nc, t.subjects);
    // triage → specialist crosses workers; specialist → gate stays in the second one.
    expect(await mailboxWrites(t.subjects)).toBe(1);
  });

  it('go to the mailbox when the local step fails, and are retried from there', async () => {
    let failures = 1;
    const flaky = defineActor({
      kind: 'specialist',
      machine: createMachine({
        entry: () => {
          if (failures-- > 0) throw new Error('specialist store unavailable');
        },
        initial: 'done',
        states: { done: { type: 'final' } },
      }),
    });
    await using t = workflowScope(shared.server, 'flk');
    await t.worker({
      definitions: support().map((d) => (d.kind === 'specialist' ? flaky : d)),
    });
    // This specialist neither pauses nor completes the workflow: nothing to wait for but idleness.
    await publishRaw(shared.nc, t.subjects.ticketsNew, {
      id: 'flk-1',
      request: 'I want a refund, it never arrived',
    });
    await workersIdle(shared.nc, t.subjects);
    expect(failures).toBe(-1); // failed once, then ran again from the mailbox
    expect(await mailboxWrites(t.subjects)).toBe(1);
    const snapshots = await t.client.snapshots('flk-1');
    expect(snapshots.map((s) => [s.envelope.kind, s.envelope.status]).sort()).toEqual([
      ['specialist', 'done'],
      ['triage', 'done'],
    ]);
  });

  it('re-published after a crash, repeat the effects of their receiver but never revive an answered interrupt', async () => {
    await using t = workflowScope(shared.server, 'rev');
    await t.worker();
    await t.client.start({ id: 'rev-1', request: 'I want a refund, it never arrived' });
    // What the specialist's outbox re-publishes when its message comes back after a crash: the
    // message to the gate, which never went through the mailbox (it was delivered in-process).
    const [specialist] = (await t.client.snapshots('rev-1')).filter(
      (s) => s.envelope.kind === 'specialist',
    );
    const outbox = specialist?.envelope.outboxes.at(-1);
    if (!specialist || !outbox) throw new Error('no specialist outbox');
    const effects = outboxEffects(outbox, specialist.envelope, t.subjects);
    const toGate = effects.publishes.find((p) => p.subject === t.subjects.mailbox('gate', 'rev-1'));
    if (!toGate) throw new Error('no message to the gate');

    await t.client.respond('rev-1', { answer: 'yes', reviewer: 'ana' });
    await workersIdle(shared.nc, t.subjects);
    expect(await t.client.pending()).toEqual([]);

    // The late copy: the gate recognises it, re-publishes that step's messages (JetStream drops
    // them as duplicates) and leaves the answered interrupt answered.
    const late = await publishRaw(shared.nc, toGate.subject, toGate.data as object, {
      msgId: toGate.msgId,
    });
    expect(late.duplicate).toBe(false);
    await workersIdle(shared.nc, t.subjects);
    expect(await t.client.pending()).toEqual([]);
    const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'rev-1'));
    expect(counts).toMatchObject({ interrupted: 1, resumed: 1, sent: 1, completed: 1 });
  });
});
