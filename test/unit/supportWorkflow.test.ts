import { describe, expect, it } from 'vitest';
import { mockModel } from '../../actors/mockModel.js';
import type { SupportModel } from '../../actors/model.js';
import { supportActors } from '../../actors/support.js';
import type { HitlEmitted, ResumeEvent } from '../../src/runtime/effects.js';
import { runMachine, type MachineStep } from '../../src/runtime/machineRunner.js';
import { FakeModel } from './fakeModel.js';
import { definitionOf, resume, viaJson } from './machineHelpers.js';

const WF = 'wf-chain';

/**
 * Runs triage → specialist → gate the way the host does: a `hitl.send` message minus its `type`,
 * plus the workflow id, is the next actor's input; every stored snapshot goes through JSON; a
 * paused actor is resumed with the answer for its interrupt type.
 */
async function runWorkflow(
  model: SupportModel,
  ticket: { request: string; customer?: string },
  answers: Record<string, ResumeEvent>,
): Promise<HitlEmitted[]> {
  const definitions = supportActors({ model, approvalCategories: ['refund', 'billing'] });
  const all: HitlEmitted[] = [];
  let kind = 'triage';
  let input: Record<string, unknown> = { ...ticket, workflowId: WF };
  for (;;) {
    const def = definitionOf(definitions, kind);
    let result: MachineStep = await runMachine(def, { input }, undefined, WF);
    all.push(...result.emitted);
    while (result.status === 'active') {
      const pause = result.emitted.find((e) => e.type === 'hitl.interrupt');
      if (pause?.type !== 'hitl.interrupt') throw new Error(`${kind} is active but not paused`);
      const answer = answers[pause.interrupt.type];
      if (!answer) throw new Error(`no answer for a ${pause.interrupt.type} interrupt`);
      result = await runMachine(def, { snapshot: viaJson(result.snapshot) }, answer, WF);
      all.push(...result.emitted);
    }
    const send = result.emitted.find((e) => e.type === 'hitl.send');
    if (send?.type !== 'hitl.send') return all;
    const { type: _type, ...fields } = viaJson(send.message);
    kind = send.to;
    input = { ...fields, workflowId: WF };
  }
}

function events(emitted: HitlEmitted[]): string[] {
  return emitted.map((e) => (e.type === 'hitl.event' ? e.event : e.type));
}

describe('support workflow, actor to actor', () => {
  it('sends an approved refund reply (pattern A) with the mock model', async () => {
    const emitted = await runWorkflow(
      mockModel(),
      { request: 'My parcel never arrived, I want a refund', customer: 'Ana' },
      { approval: resume('yes', { reviewer: 'ana' }) },
    );

    expect(events(emitted)).toEqual([
      'received',
      'triaged',
      'hitl.send',
      'drafted',
      'hitl.send',
      'hitl.interrupt',
      'approved',
      'hitl.reply',
      'sent',
      'completed',
    ]);
    const reply = emitted.find((e) => e.type === 'hitl.reply');
    expect(reply).toMatchObject({ reply: { category: 'refund', approvedBy: 'ana' } });
    expect(reply).toHaveProperty('reply.reply', expect.stringContaining('Ana'));
  });

  it('routes an ambiguous ticket on the human category and sends without a gate (pattern B)', async () => {
    const model = new FakeModel({
      classify: [{ category: null, confidence: 0.2 }],
      draft: ['Please reset your password.'],
    });
    const emitted = await runWorkflow(
      model,
      { request: 'it does not work' },
      { escalation: resume('technical', { interruptType: 'escalation', reviewer: 'bo' }) },
    );

    expect(events(emitted)).toEqual([
      'received',
      'hitl.interrupt',
      'triaged',
      'hitl.send',
      'drafted',
      'hitl.send',
      'hitl.reply',
      'sent',
      'completed',
    ]);
    expect(emitted).toContainEqual({
      type: 'hitl.event',
      event: 'triaged',
      data: { category: 'technical', confidence: 1, by: 'human' },
    });
    expect(model.draftCalls).toEqual([{ category: 'technical', request: 'it does not work' }]);
    expect(emitted.filter((e) => e.type === 'hitl.event' && e.event === 'completed')).toEqual([
      { type: 'hitl.event', event: 'completed', data: { outcome: 'sent', category: 'technical' } },
    ]);
  });

  it('completes exactly once, dropped, when the human drops the ticket', async () => {
    const emitted = await runWorkflow(
      new FakeModel({ classify: [{ category: null, confidence: 0.2 }] }),
      { request: 'hello?' },
      { escalation: resume('drop', { interruptType: 'escalation' }) },
    );

    expect(events(emitted)).toEqual(['received', 'hitl.interrupt', 'completed']);
    expect(emitted.at(-1)).toEqual({
      type: 'hitl.event',
      event: 'completed',
      data: { outcome: 'dropped' },
    });
  });
});
