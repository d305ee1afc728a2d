import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { createMachine, emit, setup as machineSetup } from 'xstate';
import { hitlEvent, sendToActor, type HitlEmitted } from '../../src/runtime/effects.js';
import { mockModel, supportActors } from '../../actors/index.js';
import type { ActorDefinition, Subjects } from '../../src/index.js';
import { defineActor } from '../../src/index.js';
import { ensureTopology } from '../../src/nats/topology.js';
import { outboxEffects } from '../../src/runtime/outbox.js';
import { eventually } from '../helpers/eventually.js';
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
    // The pause's outbox was settled (all stored) on this worker: the resume dropped it.
    const gate = (await t.client.snapshots('loc-1')).find((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope.outboxes.map((o) => o.for)).toEqual([expect.stringMatching(/^r\d+$/)]);
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

  it('re-published while their receiver waits for a human, leave its interrupt as it was', async () => {
    await using t = workflowScope(shared.server, 'pen');
    await t.worker();
    const run = await t.client.start({ id: 'pen-1', request: 'I want a refund, it never arrived' });
    if (run.status !== 'paused') throw new Error(`expected a pause, got ${run.status}`);
    const [specialist] = (await t.client.snapshots('pen-1')).filter(
      (s) => s.envelope.kind === 'specialist',
    );
    const outbox = specialist?.envelope.outboxes.at(-1);
    if (!specialist || !outbox) throw new Error('no specialist outbox');
    const toGate = outboxEffects(outbox, specialist.envelope, t.subjects).publishes.find(
      (p) => p.subject === t.subjects.mailbox('gate', 'pen-1'),
    );
    if (!toGate) throw new Error('no message to the gate');
    await publishRaw(shared.nc, toGate.subject, toGate.data as object, { msgId: toGate.msgId });
    await workersIdle(shared.nc, t.subjects);
    // The gate re-published its pause: the record was there already and stays as it was.
    expect(await t.client.pending()).toEqual([run.interrupt]);
    const jsm = await jetstreamManager(shared.nc);
    expect((await jsm.streams.info(t.subjects.streams.dlq)).state.messages).toBe(0);
    expect(countTypes(await storedEvents(shared.nc, t.subjects, 'pen-1'))).toMatchObject({
      interrupted: 1,
    });
  });

  it('go through the mailbox to an actor that already took a step for the same message', async () => {
    type Ball = { type: 'ball'; n: number };
    // ping serves, pong returns every ball; ping ends the rally at 3.
    const ping = defineActor({
      kind: 'ping',
      machine: machineSetup({
        types: { events: {} as Ball, emitted: {} as HitlEmitted },
      }).createMachine({
        initial: 'rally',
        entry: emit(() => sendToActor('pong', { type: 'ball', n: 1 })),
        states: {
          rally: {
            on: {
              ball: [
                {
                  guard: ({ event }) => event.n >= 3,
                  target: 'over',
                },
                {
                  actions: [
                    emit(({ event }) => hitlEvent('rally', { n: event.n })),
                    emit(({ event }) => sendToActor('pong', { type: 'ball', n: event.n + 1 })),
                  ],
                },
              ],
            },
          },
          over: { type: 'final', entry: emit(() => hitlEvent('completed', { outcome: 'sent' })) },
        },
      }),
    });
    const pong = defineActor({
      kind: 'pong',
      machine: machineSetup({
        types: { input: {} as { n: number }, events: {} as Ball, emitted: {} as HitlEmitted },
      }).createMachine({
        entry: emit(({ context }) => sendToActor('ping', { type: 'ball', n: context.n })),
        context: ({ input }) => ({ n: input.n }),
        on: { ball: { actions: emit(({ event }) => sendToActor('ping', event)) } },
      }),
    });
    await using t = workflowScope(shared.server, 'png');
    await t.worker({ definitions: [ping, pong], intake: { actor: 'ping' } });
    await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'png-1', request: 'serve' });
    await eventually(async () =>
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'png-1'))).toHaveProperty(
        'completed',
      ),
    );
    await workersIdle(shared.nc, t.subjects);
    const events = await storedEvents(shared.nc, t.subjects, 'png-1');
    expect(events.filter((e) => e.type === 'rally').map((e) => e.data.n)).toEqual([1, 2]);
    expect(countTypes(events)).toMatchObject({ completed: 1 });
    // Each return to ping closed a loop in-process, so it went through ping's mailbox.
    expect(await mailboxWrites(t.subjects)).toBe(3);
  });

  it('reach each receiver, also when one message object is sent to two actors', async () => {
    const note = { type: 'note', text: 'the same object twice' };
    const fan = defineActor({
      kind: 'fan',
      machine: createMachine({
        types: { emitted: {} as HitlEmitted },
        entry: [emit(() => sendToActor('near', note)), emit(() => sendToActor('far', note))],
        initial: 'done',
        states: { done: { type: 'final' } },
      }),
    });
    const near = defineActor({
      kind: 'near',
      machine: createMachine({
        types: { emitted: {} as HitlEmitted },
        entry: emit(() => hitlEvent('noted')),
        initial: 'done',
        states: { done: { type: 'final' } },
      }),
    });
    await using t = workflowScope(shared.server, 'fan');
    // 'far' has a mailbox (a worker elsewhere hosts it) but no worker here: its message must
    // wait in its mailbox.
    await ensureTopology(shared.nc, t.subjects, ['far']);
    await t.worker({ definitions: [fan, near], intake: { actor: 'fan' } });
    await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'fan-1', request: 'tell both' });
    const jsm = await jetstreamManager(shared.nc);
    await eventually(async () => {
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'fan-1'))).toEqual({
        noted: 1,
      });
      const info = await jsm.streams.info(t.subjects.streams.mailbox, {
        subjects_filter: t.subjects.mailbox('far', 'fan-1'),
      });
      expect(info.state.subjects).toEqual({ [t.subjects.mailbox('far', 'fan-1')]: 1 });
      const tickets = await jsm.consumers.info(
        t.subjects.streams.tickets,
        t.subjects.consumer('tickets'),
      );
      expect(tickets.num_ack_pending + tickets.num_pending).toBe(0);
    });
  });
});
