import { describe, expect, it } from 'vitest';
import { mockModel } from '../../actors/mockModel.js';
import type { Classification, Draft, DraftRequest, SupportModel } from '../../actors/model.js';
import { supportActors } from '../../actors/support.js';
import { summarize } from '../../src/cli/format.js';
import { runMachine } from '../../src/runtime/machineRunner.js';
import { FakeModel } from './fakeModel.js';
import { definitionOf, invokeDone, onlySpawned, start, step, viaJson } from './machineHelpers.js';

const usage = { promptTokens: 100, completionTokens: 20, totalTokens: 120 };

function def(kind: string, model: SupportModel = new FakeModel()) {
  return definitionOf(supportActors({ model, approvalCategories: ['refund'] }), kind);
}

describe('model usage in events', () => {
  it('puts the model, usage, latency and tries of a classification on triaged', () => {
    const machine = def('triage').machine;
    const started = start(machine, { workflowId: 'wf-u', request: 'refund' });
    const output: Classification = {
      category: 'refund',
      confidence: 0.9,
      model: 'gpt-4.1-mini',
      usage,
      latencyMs: 812,
      attempts: 2,
    };
    const after = step(machine, started.snapshot, invokeDone(onlySpawned(started).id, output));

    expect(after.emitted[0]).toEqual({
      type: 'hitl.event',
      event: 'triaged',
      data: {
        category: 'refund',
        confidence: 0.9,
        by: 'model',
        model: 'gpt-4.1-mini',
        usage,
        latencyMs: 812,
        attempts: 2,
      },
    });
  });

  it('keeps the model rationale of an escalated classification in the state', () => {
    const machine = def('triage').machine;
    const started = start(machine, { workflowId: 'wf-u', request: 'hm' });
    const after = step(
      machine,
      started.snapshot,
      invokeDone(onlySpawned(started).id, {
        category: null,
        confidence: 0,
        rationale: "answer is not JSON: 'nope'",
      }),
    );

    expect(after.snapshot.value).toBe('escalated');
    expect(after.snapshot.context).toMatchObject({ rationale: "answer is not JSON: 'nope'" });
  });

  it('puts the cost of a draft on drafted, and only its text in the state and the gate message', () => {
    const machine = def('specialist').machine;
    const started = start(machine, {
      workflowId: 'wf-u',
      category: 'refund',
      request: 'refund',
    });
    const output: Draft = { text: 'We will refund you.', model: 'm', usage, latencyMs: 40 };
    const after = step(machine, started.snapshot, invokeDone(onlySpawned(started).id, output));

    expect(after.snapshot.context).toMatchObject({ draft: 'We will refund you.' });
    expect(after.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'drafted',
        data: {
          category: 'refund',
          draft: 'We will refund you.',
          model: 'm',
          usage,
          latencyMs: 40,
        },
      },
      {
        type: 'hitl.send',
        to: 'gate',
        message: {
          type: 'draft',
          category: 'refund',
          draft: 'We will refund you.',
          request: 'refund',
        },
      },
    ]);
  });

  it('has the mock report zero usage on its classifications', async () => {
    expect(await mockModel().classify('I want a refund')).toMatchObject({
      model: 'mock',
      latencyMs: 0,
      usage: { promptTokens: 0, completionTokens: 0, totalTokens: 0 },
    });
  });

  it('shows the cost in the one-line summary a tap prints', () => {
    const at = new Date().toISOString();
    const envelope = (type: string, data: Record<string, unknown>) => ({
      workflowId: 'wf-u',
      type,
      actor: 'triage',
      at,
      data,
    });
    expect(
      summarize(
        envelope('triaged', {
          category: 'refund',
          confidence: 0.9,
          by: 'model',
          model: 'gpt-4.1-mini',
          usage,
          latencyMs: 812,
          attempts: 2,
        }),
      ),
    ).toBe('refund (0.9, by model) · gpt-4.1-mini 120 tokens 812 ms 2 tries');
    expect(
      summarize(envelope('triaged', { category: 'billing', confidence: 1, by: 'human' })),
    ).toBe('billing (1, by human)');
    expect(
      summarize(envelope('drafted', { category: 'refund', draft: 'Hi', usage, latencyMs: 5 })),
    ).toBe('refund: "Hi" · 120 tokens 5 ms');
  });
});

describe('drafts any model hands the specialist', () => {
  it.each([
    ['an empty draft', '  ', 'fake: the model returned an empty draft'],
    [
      'an over-long draft',
      'x'.repeat(4_001),
      'fake: the model returned a draft of 4001 characters (at most 4000)',
    ],
  ])('parks on %s, as on a model failure', async (_label, draft, reason) => {
    const result = await runMachine(
      def('specialist', new FakeModel({ draft: [draft] })),
      { input: { workflowId: 'wf-d', category: 'technical', request: 'it crashes' } },
      undefined,
      'wf-d',
    );

    expect(result.status).toBe('active');
    expect(result.emitted).toEqual([
      {
        type: 'hitl.event',
        event: 'failed',
        data: { reason, step: 'specialist', retryable: true },
      },
    ]);
  });

  it('accepts a draft of exactly 4,000 characters', async () => {
    const result = await runMachine(
      def('specialist', new FakeModel({ draft: ['x'.repeat(4_000)] })),
      { input: { workflowId: 'wf-d', category: 'technical', request: 'it crashes' } },
      undefined,
      'wf-d',
    );

    expect(result.status).toBe('done');
  });
});

describe('runMachine with a slow model', () => {
  /** A model whose drafts take real time, as an HTTP call does: the first fails, then one works. */
  function slowModel(): SupportModel {
    let calls = 0;
    const later = async <T>(fn: () => T): Promise<T> => {
      await new Promise((resolve) => setTimeout(resolve, 30));
      return fn();
    };
    return {
      name: 'slow',
      classify: () => Promise.reject(new Error('not used')),
      draft: (_r: DraftRequest) =>
        later(() => {
          calls += 1;
          if (calls === 1) throw new Error('timed out');
          return { text: 'Done.', latencyMs: 30 };
        }),
    };
  }

  it('waits for the retried call of a restored, parked actor before committing the step', async () => {
    const specialist = def('specialist', slowModel());
    const input = { workflowId: 'wf-s', category: 'technical', request: 'it crashes' };
    const parked = await runMachine(specialist, { input }, undefined, 'wf-s');
    expect(parked.emitted.map((e) => (e.type === 'hitl.event' ? e.event : e.type))).toEqual([
      'failed',
    ]);

    // The restored actor is settled (parked) before the retry arrives; the step must not end
    // there, but when the retried call is done.
    const retried = await runMachine(
      specialist,
      { snapshot: viaJson(parked.snapshot) },
      { type: 'hitl.retry' },
      'wf-s',
    );

    expect(retried.status).toBe('done');
    expect(retried.emitted.map((e) => (e.type === 'hitl.event' ? e.event : e.type))).toEqual([
      'drafted',
      'hitl.send',
    ]);
  });
});
