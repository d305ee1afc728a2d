import { describe, expect, it } from 'vitest';
import { assign, emit, setup as machineSetup } from 'xstate';
import { hitlEvent, requestHuman } from '../../src/runtime/effects.js';
import type { HitlEmitted, ResumeEvent } from '../../src/runtime/effects.js';
import { defineActor, Subjects } from '../../src/index.js';
import {
  connectClient,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  types,
  uniquePrefix,
} from '../helpers/harness.js';

interface ExpenseInput {
  workflowId: string;
  amount: number;
}

interface ExpenseContext extends ExpenseInput {
  decision?: string;
  decidedBy?: string;
}

/** A machine of the user's own: asks a human to approve an expense, then ends. */
const expenseMachine = machineSetup({
  types: {
    context: {} as ExpenseContext,
    input: {} as ExpenseInput,
    events: {} as ResumeEvent,
    emitted: {} as HitlEmitted,
  },
}).createMachine({
  id: 'expense',
  context: ({ input }) => ({ workflowId: input.workflowId, amount: input.amount }),
  initial: 'awaitingApproval',
  states: {
    awaitingApproval: {
      entry: emit(({ context }) =>
        requestHuman({
          type: 'expense',
          question: `Approve an expense of ${context.amount}?`,
          options: ['approve', 'deny'],
        }),
      ),
      on: {
        'hitl.resume': {
          target: 'decided',
          actions: assign(({ event }) => ({ decision: event.answer, decidedBy: event.reviewer })),
        },
      },
    },
    decided: {
      type: 'final',
      entry: emit(({ context }) =>
        hitlEvent('completed', {
          outcome: context.decision === 'approve' ? 'sent' : 'cancelled',
        }),
      ),
    },
  },
});

const shared = serverPerFile();

async function setup() {
  const prefix = uniquePrefix('custom');
  const config = testConfig(shared.server, prefix);
  const worker = await startWorker(config, {
    definitions: [defineActor({ kind: 'expense', machine: expenseMachine })],
  });
  const client = await connectClient(config);
  return {
    client,
    subjects: new Subjects(prefix),
    async [Symbol.asyncDispose]() {
      await client.close();
      await worker.stop();
    },
  };
}

describe('an actor kind of your own', () => {
  it('pauses for a human and completes with its context as the state', async () => {
    await using t = await setup();
    const run = await t.client.startActor('expense', { amount: 42 }, { workflowId: 'exp-1' });
    expect(run).toMatchObject({
      status: 'paused',
      workflowId: 'exp-1',
      interrupt: {
        workflowId: 'exp-1',
        actor: 'expense',
        type: 'expense',
        question: 'Approve an expense of 42?',
        options: ['approve', 'deny'],
      },
    });
    if (run.status !== 'paused') return;
    expect(await t.client.pending()).toEqual([run.interrupt]);

    const done = await t.client.resume('exp-1', {
      resume: 'approve',
      reviewer: 'ana',
      interruptId: run.interrupt.interruptId,
    });
    expect(done).toEqual({
      status: 'completed',
      workflowId: 'exp-1',
      outcome: 'sent',
      state: { workflowId: 'exp-1', amount: 42, decision: 'approve', decidedBy: 'ana' },
    });
    expect(await t.client.pending()).toEqual([]);
    expect(types(await storedEvents(shared.nc, t.subjects, 'exp-1'))).toEqual([
      'interrupted',
      'resumed',
      'completed',
    ]);
  });

  it('rejects an answer outside its own options', async () => {
    await using t = await setup();
    const run = await t.client.startActor('expense', { amount: 7 });
    expect(run.status).toBe('paused');
    const rejected = await t.client.resume(run.workflowId, { resume: 'yes', reviewer: 'ana' });
    expect(rejected).toMatchObject({
      status: 'rejected',
      reason: "answer 'yes' is not an option; expected one of: approve, deny",
    });
    const done = await t.client.resume(run.workflowId, { resume: 'deny', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'cancelled' });
  });
});
