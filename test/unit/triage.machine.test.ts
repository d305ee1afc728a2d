import { describe, expect, it } from 'vitest';
import { createActor, fromPromise, waitFor } from 'xstate';
import type { Classification } from '../../actors/model.js';
import { supportActors } from '../../actors/support.js';
import { triageMachine } from '../../actors/triage.machine.js';
import { runMachine } from '../../src/runtime/machineRunner.js';
import { FakeModel } from './fakeModel.js';
import {
  definitionOf,
  invokeDone,
  invokeError,
  onlySpawned,
  resume,
  start,
  step,
  viaJson,
  type PureStep,
} from './machineHelpers.js';

const ESCALATION_OPTIONS = ['refund', 'billing', 'technical', 'drop'];

function triageDef(model = new FakeModel()) {
  return definitionOf(
    supportActors({ model, approvalCategories: ['refund', 'billing'] }),
    'triage',
  );
}

const input = { workflowId: 'wf-1', request: 'I want my money back', customer: 'Ana' };

/** Starts triage and answers its classify call with `output`. */
function classified(output: unknown): { started: PureStep; after: PureStep } {
  const machine = triageDef().machine;
  const started = start(machine, input);
  const after = step(machine, started.snapshot, invokeDone(onlySpawned(started).id, output));
  return { started, after };
}

describe('triage machine (pure transitions)', () => {
  it('emits received and invokes classify with the request on start', () => {
    const started = start(triageDef().machine, input);

    expect(started.snapshot.value).toBe('classifying');
    expect(started.emitted).toEqual([
      { type: 'hitl.event', event: 'received', data: { request: 'I want my money back' } },
    ]);
    const invoked = onlySpawned(started);
    expect(invoked.src).toBe('classify');
    expect(invoked.input).toEqual({ request: 'I want my money back' });
  });

  it('routes a confident classification to the specialist, triaged by the model', () => {
    const { after } = classified({ category: 'refund', confidence: 0.95, rationale: 'keyword' });

    expect(after.snapshot.value).toBe('routed');
    expect(after.snapshot.status).toBe('done');
    expect(after.snapshot.context).toMatchObject({
      category: 'refund',
      confidence: 0.95,
      by: 'model',
      rationale: 'keyword',
    });
    expect(after.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'triaged',
        data: { category: 'refund', confidence: 0.95, by: 'model' },
      },
      {
        type: 'hitl.send',
        to: 'specialist',
        message: {
          type: 'triaged',
          category: 'refund',
          confidence: 0.95,
          by: 'model',
          request: 'I want my money back',
          customer: 'Ana',
        },
      },
    ]);
  });

  it('treats a confidence of exactly 0.7 as confident', () => {
    const { after } = classified({ category: 'technical', confidence: 0.7 });

    expect(after.snapshot.value).toBe('routed');
  });

  it('leaves customer out of the specialist message when the ticket has none', () => {
    const machine = triageDef().machine;
    const started = start(machine, { workflowId: 'wf-2', request: 'billing question' });
    const after = step(
      machine,
      started.snapshot,
      invokeDone(onlySpawned(started).id, { category: 'billing', confidence: 0.9 }),
    );

    const send = after.emitted.find((e) => e.type === 'hitl.send');
    expect(send).toBeDefined();
    expect(send).not.toHaveProperty('message.customer');
  });

  it.each<[string, Classification | Record<string, unknown>]>([
    ['low confidence', { category: 'refund', confidence: 0.69 }],
    ['no category', { category: null, confidence: 0.2 }],
    ['no category even when confident', { category: null, confidence: 0.99 }],
    ['a category outside the set, however confident', { category: 'shipping', confidence: 0.99 }],
  ])('escalates to a human on %s', (_label, output) => {
    const { after } = classified(output);

    expect(after.snapshot.value).toBe('escalated');
    expect(after.snapshot.status).toBe('active');
    expect(after.snapshot.context).not.toHaveProperty('category');
    expect(after.emitted).toEqual([
      {
        type: 'hitl.interrupt',
        interrupt: {
          type: 'escalation',
          question: 'Which category fits this request? "I want my money back"',
          options: ESCALATION_OPTIONS,
          // The model's guess goes with the question, for the human.
          details: {
            confidence: output.confidence,
            ...(output.category ? { guess: output.category } : {}),
          },
        },
      },
    ]);
  });

  it('reports the token usage of a classification that escalates with its question', () => {
    const usage = { promptTokens: 120, completionTokens: 14, totalTokens: 134 };
    const { after } = classified({
      category: 'billing',
      confidence: 0.4,
      rationale: 'mentions a charge, or a refund',
      model: 'gpt-test',
      usage,
      latencyMs: 850,
    });
    expect(after.emitted).toMatchObject([
      {
        type: 'hitl.interrupt',
        interrupt: {
          details: {
            confidence: 0.4,
            guess: 'billing',
            rationale: 'mentions a charge, or a refund',
            model: 'gpt-test',
            usage,
            latencyMs: 850,
          },
        },
      },
    ]);
  });

  it('shortens a long request in the escalation question to 300 characters', () => {
    const machine = triageDef().machine;
    const request = 'x'.repeat(1_000);
    const started = start(machine, { workflowId: 'wf-3', request });
    const after = step(
      machine,
      started.snapshot,
      invokeDone(onlySpawned(started).id, { category: null, confidence: 0.2 }),
    );

    const interrupt = after.emitted[0];
    expect(interrupt?.type).toBe('hitl.interrupt');
    expect(interrupt).toHaveProperty(
      'interrupt.question',
      `Which category fits this request? "${'x'.repeat(299)}…"`,
    );
  });

  it.each(['refund', 'billing', 'technical'])(
    "routes on the human's answer '%s', triaged by the human",
    (category) => {
      const machine = triageDef().machine;
      const { after: escalated } = classified({ category: null, confidence: 0.2 });
      const answered = step(
        machine,
        escalated.snapshot,
        resume(category, { interruptType: 'escalation', reviewer: 'bo' }),
      );

      expect(answered.snapshot.value).toBe('routed');
      expect(answered.snapshot.context).toMatchObject({ category, confidence: 1, by: 'human' });
      expect(answered.emitted).toEqual([
        { type: 'hitl.event', event: 'triaged', data: { category, confidence: 1, by: 'human' } },
        {
          type: 'hitl.send',
          to: 'specialist',
          message: {
            type: 'triaged',
            category,
            confidence: 1,
            by: 'human',
            request: 'I want my money back',
            customer: 'Ana',
          },
        },
      ]);
    },
  );

  it("ends the workflow as dropped on the human's answer 'drop'", () => {
    const machine = triageDef().machine;
    const { after: escalated } = classified({ category: null, confidence: 0.2 });
    const dropped = step(
      machine,
      escalated.snapshot,
      resume('drop', { interruptType: 'escalation' }),
    );

    expect(dropped.snapshot.value).toBe('dropped');
    expect(dropped.snapshot.status).toBe('done');
    expect(dropped.emitted).toEqual([
      { type: 'hitl.event', event: 'completed', data: { outcome: 'dropped' } },
    ]);
  });

  it('stays escalated, emitting nothing, on an answer that is not an option', () => {
    const machine = triageDef().machine;
    const { after: escalated } = classified({ category: null, confidence: 0.2 });
    const ignored = step(
      machine,
      escalated.snapshot,
      resume('yes', { interruptType: 'escalation' }),
    );

    expect(ignored.snapshot.value).toBe('escalated');
    expect(ignored.emitted).toEqual([]);
  });

  it('ignores a retry while it waits for a human', () => {
    const machine = triageDef().machine;
    const { after: escalated } = classified({ category: null, confidence: 0.2 });
    const ignored = step(machine, escalated.snapshot, { type: 'hitl.retry' });

    expect(ignored.snapshot.value).toBe('escalated');
    expect(ignored.emitted).toEqual([]);
    expect(ignored.spawned).toEqual([]);
  });

  it('parks on a classify error with a retryable failed event naming the step', () => {
    const machine = triageDef().machine;
    const started = start(machine, input);
    const parked = step(
      machine,
      started.snapshot,
      invokeError(onlySpawned(started).id, new Error('model is down')),
    );

    expect(parked.snapshot.value).toBe('parked');
    expect(parked.snapshot.status).toBe('active');
    expect(parked.snapshot.context).toMatchObject({ failure: 'model is down' });
    expect(parked.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'failed',
        data: { reason: 'model is down', step: 'triage', retryable: true },
      },
    ]);
  });

  it('classifies again on hitl.retry from parked, then routes', () => {
    const machine = triageDef().machine;
    const started = start(machine, input);
    const parked = step(
      machine,
      started.snapshot,
      invokeError(onlySpawned(started).id, new Error('model is down')),
    );
    const retried = step(machine, parked.snapshot, { type: 'hitl.retry' });

    expect(retried.snapshot.value).toBe('classifying');
    expect(retried.snapshot.context).not.toHaveProperty('failure');
    expect(retried.emitted).toEqual([]);
    const invoked = onlySpawned(retried);
    expect(invoked.src).toBe('classify');
    expect(invoked.input).toEqual({ request: 'I want my money back' });

    const routed = step(
      machine,
      retried.snapshot,
      invokeDone(invoked.id, { category: 'billing', confidence: 0.9 }),
    );
    expect(routed.snapshot.value).toBe('routed');
    expect(routed.emitted.map((e) => e.type)).toEqual(['hitl.event', 'hitl.send']);
  });
});

describe('triage machine (hosted with runMachine and a FakeModel)', () => {
  it('routes a confidently classified ticket in one step', async () => {
    const model = new FakeModel({ classify: [{ category: 'refund', confidence: 0.95 }] });
    const result = await runMachine(triageDef(model), { input }, undefined, 'wf-1');

    expect(result.status).toBe('done');
    expect(result.emitted.map((e) => (e.type === 'hitl.event' ? e.event : e.type))).toEqual([
      'received',
      'triaged',
      'hitl.send',
    ]);
    expect(model.classifyCalls).toEqual(['I want my money back']);
    expect(model.remaining.classify).toBe(0);
  });

  it('pauses for a human, then resumes from the JSON snapshot with their category', async () => {
    const def = triageDef(new FakeModel({ classify: [{ category: null, confidence: 0.2 }] }));
    const paused = await runMachine(def, { input }, undefined, 'wf-1');

    expect(paused.status).toBe('active');
    expect(paused.emitted.at(-1)).toMatchObject({
      type: 'hitl.interrupt',
      interrupt: { type: 'escalation', options: ESCALATION_OPTIONS },
    });

    // A different worker, with a model that must not be called again, resumes it.
    const other = triageDef(new FakeModel());
    const resumed = await runMachine(
      other,
      { snapshot: viaJson(paused.snapshot) },
      resume('technical', { interruptType: 'escalation' }),
      'wf-1',
    );

    expect(resumed.status).toBe('done');
    expect(resumed.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'triaged',
        data: { category: 'technical', confidence: 1, by: 'human' },
      },
      {
        type: 'hitl.send',
        to: 'specialist',
        message: {
          type: 'triaged',
          category: 'technical',
          confidence: 1,
          by: 'human',
          request: 'I want my money back',
          customer: 'Ana',
        },
      },
    ]);
  });

  it('parks when the model fails and routes after a retry from the JSON snapshot', async () => {
    const model = new FakeModel({
      classify: [new Error('model is down'), { category: 'billing', confidence: 0.9 }],
    });
    const def = triageDef(model);
    const parked = await runMachine(def, { input }, undefined, 'wf-1');

    expect(parked.status).toBe('active');
    expect(parked.emitted.at(-1)).toEqual({
      type: 'hitl.event',
      event: 'failed',
      data: { reason: 'model is down', step: 'triage', retryable: true },
    });

    const retried = await runMachine(
      def,
      { snapshot: viaJson(parked.snapshot) },
      { type: 'hitl.retry' },
      'wf-1',
    );

    expect(retried.status).toBe('done');
    expect(retried.emitted[0]).toEqual({
      type: 'hitl.event',
      event: 'triaged',
      data: { category: 'billing', confidence: 0.9, by: 'model' },
    });
    expect(model.classifyCalls).toHaveLength(2);
  });

  it('calls classify again when restored from a snapshot taken mid-call', async () => {
    let release: (c: Classification) => void = () => undefined;
    const hanging = triageMachine.provide({
      actors: {
        classify: fromPromise<Classification, { request: string }>(
          () => new Promise((resolve) => (release = resolve)),
        ),
      },
    });
    const first = createActor(hanging, { input }).start();
    const midCall = viaJson(first.getPersistedSnapshot());
    first.stop();
    release({ category: 'refund', confidence: 0.95 });

    const calls: string[] = [];
    const restored = createActor(
      triageMachine.provide({
        actors: {
          classify: fromPromise<Classification, { request: string }>(({ input: i }) => {
            calls.push(i.request);
            return Promise.resolve({ category: 'technical', confidence: 0.9 });
          }),
        },
      }),
      // `input` is required by the type but unused: a restored actor keeps its context.
      { snapshot: midCall, input: { workflowId: 'unused', request: 'unused' } },
    );
    restored.start();
    const done = await waitFor(restored, (s) => s.status === 'done', { timeout: 2_000 });

    expect(calls).toEqual(['I want my money back']);
    expect(done.value).toBe('routed');
    expect(done.context.category).toBe('technical');
  });
});
