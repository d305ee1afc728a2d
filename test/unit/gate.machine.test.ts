import { describe, expect, it } from 'vitest';
import { gateMachine } from '../../actors/gate.machine.js';
import { supportActors } from '../../actors/support.js';
import { runMachine } from '../../src/runtime/machineRunner.js';
import { FakeModel } from './fakeModel.js';
import { definitionOf, resume, start, step, viaJson } from './machineHelpers.js';

function gateDef(approvalCategories: readonly string[] = ['refund', 'billing']) {
  return definitionOf(supportActors({ model: new FakeModel(), approvalCategories }), 'gate');
}

const DRAFT = 'Hello Ana, your refund is on its way.';

// What the host starts the gate with: the specialist's message without `type`, plus the id.
function gateInput(category: string) {
  return { workflowId: 'wf-1', category, draft: DRAFT, request: 'I want my money back' };
}

/** A gate for a `category` reply, paused at its approval interrupt. */
function awaiting(category = 'refund') {
  const machine = gateDef().machine;
  return { machine, paused: start(machine, gateInput(category)) };
}

describe('gate machine (pure transitions)', () => {
  it.each(['refund', 'billing'])(
    'pauses a %s reply at an approval interrupt carrying the draft and category',
    (category) => {
      const { paused } = awaiting(category);

      expect(paused.snapshot.value).toBe('awaitingApproval');
      expect(paused.snapshot.status).toBe('active');
      expect(paused.emitted).toEqual([
        {
          type: 'hitl.interrupt',
          interrupt: {
            type: 'approval',
            question: `Send this ${category} reply to the customer?`,
            options: ['yes', 'no'],
            draft: DRAFT,
            category,
          },
        },
      ]);
    },
  );

  it("sends the draft on 'yes': approved, reply released, sent, completed sent", () => {
    const { machine, paused } = awaiting();
    const sent = step(machine, paused.snapshot, resume('yes', { reviewer: 'ana' }));

    expect(sent.snapshot.value).toBe('sent');
    expect(sent.snapshot.status).toBe('done');
    expect(sent.snapshot.context).toMatchObject({ approvedBy: 'ana', draft: DRAFT });
    expect(sent.emitted).toEqual([
      { type: 'hitl.event', event: 'approved', data: { reviewer: 'ana' } },
      { type: 'hitl.reply', reply: { category: 'refund', reply: DRAFT, approvedBy: 'ana' } },
      { type: 'hitl.event', event: 'sent', data: { reply: DRAFT } },
      { type: 'hitl.event', event: 'completed', data: { outcome: 'sent', category: 'refund' } },
    ]);
  });

  it("releases the reviewer's edited update.draft instead of the model's draft", () => {
    const { machine, paused } = awaiting();
    const edited = 'Hello Ana, we refunded you in full today.';
    const sent = step(
      machine,
      paused.snapshot,
      resume('yes', { reviewer: 'ana', update: { draft: edited } }),
    );

    expect(sent.snapshot.context).toMatchObject({ draft: edited });
    expect(sent.emitted).toEqual([
      { type: 'hitl.event', event: 'approved', data: { reviewer: 'ana' } },
      { type: 'hitl.reply', reply: { category: 'refund', reply: edited, approvedBy: 'ana' } },
      { type: 'hitl.event', event: 'sent', data: { reply: edited } },
      { type: 'hitl.event', event: 'completed', data: { outcome: 'sent', category: 'refund' } },
    ]);
  });

  it("cancels on 'no': rejected, completed cancelled, and no reply released", () => {
    const { machine, paused } = awaiting('billing');
    const cancelled = step(machine, paused.snapshot, resume('no', { reviewer: 'bo' }));

    expect(cancelled.snapshot.value).toBe('cancelled');
    expect(cancelled.snapshot.status).toBe('done');
    expect(cancelled.snapshot.context).toMatchObject({ rejectedBy: 'bo' });
    expect(cancelled.emitted).toEqual([
      { type: 'hitl.event', event: 'rejected', data: { reviewer: 'bo' } },
      {
        type: 'hitl.event',
        event: 'completed',
        data: { outcome: 'cancelled', category: 'billing' },
      },
    ]);
  });

  it('ignores the draft in an update that comes with a no', () => {
    const { machine, paused } = awaiting();
    const cancelled = step(
      machine,
      paused.snapshot,
      resume('no', { update: { draft: 'should not matter' } }),
    );

    expect(cancelled.snapshot.context).toMatchObject({ draft: DRAFT });
    expect(cancelled.emitted.some((e) => e.type === 'hitl.reply')).toBe(false);
  });

  it('stays paused, emitting nothing, on an answer that is not an option', () => {
    const { machine, paused } = awaiting();
    const ignored = step(machine, paused.snapshot, resume('maybe'));

    expect(ignored.snapshot.value).toBe('awaitingApproval');
    expect(ignored.emitted).toEqual([]);
  });

  it('sends a technical reply at once, without an approval or approver', () => {
    const sent = start(gateDef().machine, gateInput('technical'));

    expect(sent.snapshot.value).toBe('sent');
    expect(sent.snapshot.status).toBe('done');
    expect(sent.emitted).toEqual([
      { type: 'hitl.reply', reply: { category: 'technical', reply: DRAFT } },
      { type: 'hitl.event', event: 'sent', data: { reply: DRAFT } },
      {
        type: 'hitl.event',
        event: 'completed',
        data: { outcome: 'sent', category: 'technical' },
      },
    ]);
  });

  it('gates exactly the configured approval categories', () => {
    const machine = gateDef(['technical']).machine;

    expect(start(machine, gateInput('technical')).snapshot.value).toBe('awaitingApproval');
    expect(start(machine, gateInput('refund')).snapshot.value).toBe('sent');
    expect(start(machine, gateInput('billing')).snapshot.value).toBe('sent');
  });

  it('gates every reply when the host provides no needsApproval guard', () => {
    expect(start(gateMachine, gateInput('technical')).snapshot.value).toBe('awaitingApproval');
  });
});

describe('gate machine (hosted with runMachine)', () => {
  it("pauses, then releases the edited draft on 'yes' from the JSON snapshot", async () => {
    const def = gateDef();
    const paused = await runMachine(def, { input: gateInput('refund') }, undefined, 'wf-1');

    expect(paused.status).toBe('active');
    expect(paused.emitted).toHaveLength(1);
    expect(paused.emitted[0]).toMatchObject({ type: 'hitl.interrupt' });

    const sent = await runMachine(
      gateDef(),
      { snapshot: viaJson(paused.snapshot) },
      resume('yes', { reviewer: 'ana', update: { draft: 'Edited reply.' } }),
      'wf-1',
    );

    expect(sent.status).toBe('done');
    expect(sent.emitted.filter((e) => e.type === 'hitl.reply')).toEqual([
      {
        type: 'hitl.reply',
        reply: { category: 'refund', reply: 'Edited reply.', approvedBy: 'ana' },
      },
    ]);
  });

  it("completes cancelled on 'no' from the JSON snapshot", async () => {
    const def = gateDef();
    const paused = await runMachine(def, { input: gateInput('billing') }, undefined, 'wf-1');
    const cancelled = await runMachine(
      def,
      { snapshot: viaJson(paused.snapshot) },
      resume('no', { reviewer: 'bo' }),
      'wf-1',
    );

    expect(cancelled.status).toBe('done');
    expect(cancelled.emitted.at(-1)).toEqual({
      type: 'hitl.event',
      event: 'completed',
      data: { outcome: 'cancelled', category: 'billing' },
    });
  });

  it('ends in one step for a category that needs no approval', async () => {
    const result = await runMachine(
      gateDef(),
      { input: gateInput('technical') },
      undefined,
      'wf-1',
    );

    expect(result.status).toBe('done');
    expect(result.emitted.map((e) => e.type)).toEqual(['hitl.reply', 'hitl.event', 'hitl.event']);
  });
});
