import { assign, emit, fromPromise, setup } from 'xstate';
import { hitlEvent, sendToActor } from '../src/index.js';
import type { HitlEmitted, RetryEvent } from '../src/index.js';
import type { Category } from './categories.js';
import {
  callReport,
  draftText,
  errorMessage,
  modelFailed,
  type DraftRequest,
  type DraftResult,
} from './model.js';

export interface SpecialistInput {
  workflowId: string;
  category: Category;
  request: string;
  customer?: string;
  confidence?: number;
  by?: 'model' | 'human';
  /** Passed on to the gate: this workflow's deadline for the approval. */
  timeoutMs?: number;
}

export interface SpecialistContext extends SpecialistInput {
  draft?: string;
  failure?: string;
}

/**
 * The specialist machine's snapshot version: bumped whenever a change would not fit older
 * snapshots.
 */
export const SPECIALIST_VERSION = 1;

/**
 * One machine serves the refund, billing and technical specialists: it drafts a reply for its
 * category and hands the draft to the gate. A failed model call parks it until `hitl retry`.
 */
export const specialistMachine = setup({
  types: {
    context: {} as SpecialistContext,
    input: {} as SpecialistInput,
    events: {} as RetryEvent,
    emitted: {} as HitlEmitted,
  },
  actors: {
    draft: fromPromise<DraftResult, DraftRequest>(() => {
      throw new Error("the 'draft' actor must be provided by the host");
    }),
  },
}).createMachine({
  id: 'specialist',
  context: ({ input }) => ({ ...input }),
  initial: 'drafting',
  states: {
    drafting: {
      invoke: {
        src: 'draft',
        input: ({ context }) => ({
          category: context.category,
          request: context.request,
          ...(context.customer !== undefined ? { customer: context.customer } : {}),
        }),
        onDone: {
          target: 'handedOff',
          actions: [
            assign({ draft: ({ event }) => draftText(event.output) }),
            emit(({ context, event }) =>
              hitlEvent('drafted', {
                category: context.category,
                draft: draftText(event.output),
                // Model, token usage and latency, when the model reports them.
                ...callReport(event.output),
              }),
            ),
          ],
        },
        onError: {
          target: 'parked',
          actions: [
            assign(({ event }) => ({ failure: errorMessage(event.error) })),
            emit(({ event }) => modelFailed('specialist', event.error)),
          ],
        },
      },
    },
    parked: {
      on: { 'hitl.retry': { target: 'drafting', actions: assign({ failure: undefined }) } },
    },
    handedOff: {
      type: 'final',
      entry: emit(({ context }) =>
        sendToActor('gate', {
          type: 'draft',
          category: context.category,
          draft: context.draft,
          request: context.request,
          ...(context.timeoutMs !== undefined ? { timeoutMs: context.timeoutMs } : {}),
        }),
      ),
    },
  },
});
