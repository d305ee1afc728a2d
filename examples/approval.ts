import { emit, setup } from 'xstate';
import { defineActor, HitlClient, hitlEvent, loadConfig, requestHuman, Worker } from 'hitl-mesh';
import type { HitlEmitted, ResumeEvent } from 'hitl-mesh';

// A machine of your own: it asks a human to approve a payment, then completes.
const expense = setup({
  types: {
    context: {} as { amount: number },
    input: {} as { amount: number },
    events: {} as ResumeEvent,
    emitted: {} as HitlEmitted,
  },
}).createMachine({
  context: ({ input }) => ({ amount: input.amount }),
  initial: 'waiting',
  states: {
    waiting: {
      entry: emit(({ context }) =>
        requestHuman({
          type: 'approval',
          question: `Pay ${context.amount}?`,
          options: ['yes', 'no'],
        }),
      ),
      on: {
        'hitl.resume': {
          target: 'done',
          actions: emit(({ event }) =>
            hitlEvent('completed', { outcome: event.answer === 'yes' ? 'paid' : 'refused' }),
          ),
        },
      },
    },
    done: { type: 'final' },
  },
});

// node approval.js worker | start | resume <workflowId>: each its own process.
const config = loadConfig(); // NATS_URL, HITL_PREFIX, … from the environment
const [mode, workflowId = ''] = process.argv.slice(2);
if (mode === 'worker') {
  const definitions = [defineActor({ kind: 'expense', machine: expense })];
  const worker = await Worker.start({ config, definitions });
  process.once('SIGTERM', () => void worker.stop());
  console.log('worker ready');
} else {
  const client = await HitlClient.connect({ config });
  const run =
    mode === 'start'
      ? await client.startActor('expense', { amount: 42 })
      : await client.resume(workflowId, { resume: 'yes', reviewer: 'ana' });
  // start: { status: 'paused', workflowId, interrupt }; resume: { status: 'completed', outcome: 'paid' }
  console.log(JSON.stringify(run));
  await client.close();
}
