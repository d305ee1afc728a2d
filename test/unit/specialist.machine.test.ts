import { describe, expect, it } from 'vitest';
import { supportActors } from '../../actors/support.js';
import { runMachine } from '../../src/runtime/machineRunner.js';
import { FakeModel } from './fakeModel.js';
import {
  definitionOf,
  invokeDone,
  invokeError,
  onlySpawned,
  start,
  step,
  viaJson,
} from './machineHelpers.js';

function specialistDef(model = new FakeModel()) {
  return definitionOf(
    supportActors({ model, approvalCategories: ['refund', 'billing'] }),
    'specialist',
  );
}

// What the host starts the specialist with: triage's message without `type`, plus the workflow id.
const input = {
  workflowId: 'wf-1',
  category: 'refund',
  confidence: 0.95,
  by: 'model',
  request: 'I want my money back',
  customer: 'Ana',
};

const DRAFT = 'Hello Ana, your refund is on its way.';

describe('specialist machine (pure transitions)', () => {
  it('invokes draft with category, request and customer on start', () => {
    const started = start(specialistDef().machine, input);

    expect(started.snapshot.value).toBe('drafting');
    expect(started.emitted).toEqual([]);
    const invoked = onlySpawned(started);
    expect(invoked.src).toBe('draft');
    expect(invoked.input).toEqual({
      category: 'refund',
      request: 'I want my money back',
      customer: 'Ana',
    });
  });

  it('leaves customer out of the draft request when the ticket has none', () => {
    const { customer: _customer, ...anonymous } = input;
    const started = start(specialistDef().machine, anonymous);

    expect(onlySpawned(started).input).toEqual({
      category: 'refund',
      request: 'I want my money back',
    });
  });

  it('emits drafted and hands the draft to the gate', () => {
    const machine = specialistDef().machine;
    const started = start(machine, input);
    const handedOff = step(machine, started.snapshot, invokeDone(onlySpawned(started).id, DRAFT));

    expect(handedOff.snapshot.value).toBe('handedOff');
    expect(handedOff.snapshot.status).toBe('done');
    expect(handedOff.snapshot.context).toMatchObject({ draft: DRAFT });
    expect(handedOff.emitted).toEqual([
      { type: 'hitl.event', event: 'drafted', data: { category: 'refund', draft: DRAFT } },
      {
        type: 'hitl.send',
        to: 'gate',
        message: {
          type: 'draft',
          category: 'refund',
          draft: DRAFT,
          request: 'I want my money back',
        },
      },
    ]);
  });

  it('parks on a draft error with a retryable failed event naming the step', () => {
    const machine = specialistDef().machine;
    const started = start(machine, input);
    const parked = step(
      machine,
      started.snapshot,
      invokeError(onlySpawned(started).id, new Error('rate limited')),
    );

    expect(parked.snapshot.value).toBe('parked');
    expect(parked.snapshot.status).toBe('active');
    expect(parked.snapshot.context).toMatchObject({ failure: 'rate limited' });
    expect(parked.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'failed',
        data: { reason: 'rate limited', step: 'specialist', retryable: true },
      },
    ]);
  });

  it('reports a non-Error rejection as its string in the failed event', () => {
    const machine = specialistDef().machine;
    const started = start(machine, input);
    const parked = step(machine, started.snapshot, invokeError(onlySpawned(started).id, 'boom'));

    expect(parked.emitted[0]).toHaveProperty('data.reason', 'boom');
  });

  it('drafts again on hitl.retry from parked, then hands off', () => {
    const machine = specialistDef().machine;
    const started = start(machine, input);
    const parked = step(
      machine,
      started.snapshot,
      invokeError(onlySpawned(started).id, new Error('rate limited')),
    );
    const retried = step(machine, parked.snapshot, { type: 'hitl.retry' });

    expect(retried.snapshot.value).toBe('drafting');
    expect(retried.snapshot.context).not.toHaveProperty('failure');
    const invoked = onlySpawned(retried);
    expect(invoked.src).toBe('draft');

    const handedOff = step(machine, retried.snapshot, invokeDone(invoked.id, DRAFT));
    expect(handedOff.snapshot.value).toBe('handedOff');
    expect(handedOff.emitted.at(-1)).toMatchObject({ type: 'hitl.send', to: 'gate' });
  });
});

describe('specialist machine (hosted with runMachine and a FakeModel)', () => {
  it('drafts with the model and hands off in one step', async () => {
    const model = new FakeModel({ draft: [DRAFT] });
    const result = await runMachine(specialistDef(model), { input }, undefined, 'wf-1');

    expect(result.status).toBe('done');
    expect(model.draftCalls).toEqual([
      { category: 'refund', request: 'I want my money back', customer: 'Ana' },
    ]);
    expect(result.emitted).toEqual([
      { type: 'hitl.event', event: 'drafted', data: { category: 'refund', draft: DRAFT } },
      {
        type: 'hitl.send',
        to: 'gate',
        message: {
          type: 'draft',
          category: 'refund',
          draft: DRAFT,
          request: 'I want my money back',
        },
      },
    ]);
  });

  it('parks when the model fails and hands off after a retry from the JSON snapshot', async () => {
    const model = new FakeModel({ draft: [new Error('rate limited'), DRAFT] });
    const def = specialistDef(model);
    const parked = await runMachine(def, { input }, undefined, 'wf-1');

    expect(parked.status).toBe('active');
    expect(parked.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'failed',
        data: { reason: 'rate limited', step: 'specialist', retryable: true },
      },
    ]);

    const retried = await runMachine(
      def,
      { snapshot: viaJson(parked.snapshot) },
      { type: 'hitl.retry' },
      'wf-1',
    );

    expect(retried.status).toBe('done');
    expect(retried.emitted.map((e) => e.type)).toEqual(['hitl.event', 'hitl.send']);
    expect(model.remaining.draft).toBe(0);
  });

  it('parks again with the new reason when the retried draft fails too', async () => {
    const model = new FakeModel({ draft: [new Error('down'), new Error('still down')] });
    const def = specialistDef(model);
    const first = await runMachine(def, { input }, undefined, 'wf-1');
    const second = await runMachine(
      def,
      { snapshot: viaJson(first.snapshot) },
      { type: 'hitl.retry' },
      'wf-1',
    );

    expect(second.status).toBe('active');
    expect(second.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'failed',
        data: { reason: 'still down', step: 'specialist', retryable: true },
      },
    ]);
    expect(model.draftCalls).toHaveLength(2);
  });
});
