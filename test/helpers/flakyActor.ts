import { emit, setup as machineSetup } from 'xstate';
import { defineActor } from '../../src/index.js';
import { hitlEvent, type HitlEmitted } from '../../src/runtime/effects.js';

/** The reason the {@link flaky} actor's first step parks with. */
export const FLAKY_REASON = 'store unavailable';

/**
 * An actor of kind `flaky` whose first step fails retryably (`failed`, `retryable: true`: its
 * workflow is parked) and that completes (`sent`) when `hitl retry` runs it again.
 */
export const flaky = defineActor({
  kind: 'flaky',
  machine: machineSetup({
    types: { events: {} as { type: 'hitl.retry' }, emitted: {} as HitlEmitted },
  }).createMachine({
    initial: 'parked',
    states: {
      parked: {
        entry: emit(() =>
          hitlEvent('failed', { reason: FLAKY_REASON, step: 'flaky', retryable: true }),
        ),
        on: { 'hitl.retry': 'done' },
      },
      done: { type: 'final', entry: emit(() => hitlEvent('completed', { outcome: 'sent' })) },
    },
  }),
});
