import { assign, emit, fromPromise, setup } from 'xstate';
import { hitlEvent, requestHuman, sendToActor } from '../src/index.js';
import type { ExpireEvent, HitlEmitted, ResumeEvent, RetryEvent } from '../src/index.js';
import { CATEGORIES, CONFIDENCE_THRESHOLD, isCategory, type Category } from './categories.js';
import { callReport, errorMessage, modelFailed, type Classification } from './model.js';

export interface TriageInput {
  workflowId: string;
  request: string;
  customer?: string;
  channel?: string;
  metadata?: Record<string, string>;
  /** This workflow's deadline for each human answer (the ticket's `timeoutMs`). */
  timeoutMs?: number;
}

export interface TriageContext extends TriageInput {
  category?: Category;
  confidence?: number;
  rationale?: string;
  by?: 'model' | 'human';
  failure?: string;
  /** When the model's answer escalated: its guess and what the call cost, for the human. */
  escalation?: Record<string, unknown>;
}

/** Bumped whenever a change would not fit snapshots written by the previous version. */
export const TRIAGE_VERSION = 1;

/**
 * Classifies a ticket. Confident (a valid category at or above the threshold): routes it to
 * the specialist. Otherwise pauses with an `escalation` interrupt; the human's category becomes
 * state, `drop` ends the workflow, and an unanswered deadline completes it as `expired`. A
 * failed model call parks it until `hitl retry`.
 */
export const triageMachine = setup({
  types: {
    context: {} as TriageContext,
    input: {} as TriageInput,
    events: {} as ResumeEvent | RetryEvent | ExpireEvent,
    emitted: {} as HitlEmitted,
  },
  actors: {
    classify: fromPromise<Classification, { request: string }>(() => {
      throw new Error("the 'classify' actor must be provided by the host");
    }),
  },
  guards: {
    confident: (_, output: Classification) =>
      isCategory(output.category) && output.confidence >= CONFIDENCE_THRESHOLD,
    drops: ({ event }) => event.type === 'hitl.resume' && event.answer === 'drop',
    answersCategory: ({ event }) => event.type === 'hitl.resume' && isCategory(event.answer),
  },
}).createMachine({
  id: 'triage',
  context: ({ input }) => ({ ...input }),
  initial: 'received',
  states: {
    received: {
      entry: emit(({ context }) => hitlEvent('received', { request: context.request })),
      always: 'classifying',
    },
    classifying: {
      invoke: {
        src: 'classify',
        input: ({ context }) => ({ request: context.request }),
        onDone: [
          {
            guard: { type: 'confident', params: ({ event }) => event.output },
            target: 'routed',
            actions: [
              assign(({ event }) => ({
                category: event.output.category as Category,
                confidence: event.output.confidence,
                by: 'model' as const,
                ...(event.output.rationale ? { rationale: event.output.rationale } : {}),
              })),
              emit(({ event }) =>
                hitlEvent('triaged', {
                  category: event.output.category,
                  confidence: event.output.confidence,
                  by: 'model',
                  // Model, token usage and latency, when the model reports them.
                  ...callReport(event.output),
                }),
              ),
            ],
          },
          {
            target: 'escalated',
            actions: assign(({ event }) => ({
              confidence: event.output.confidence,
              ...(event.output.rationale ? { rationale: event.output.rationale } : {}),
              // The token usage of a call that escalates is reported with the question.
              escalation: {
                confidence: event.output.confidence,
                ...(event.output.category ? { guess: event.output.category } : {}),
                ...(event.output.rationale ? { rationale: event.output.rationale } : {}),
                ...callReport(event.output),
              },
            })),
          },
        ],
        onError: {
          target: 'parked',
          actions: [
            assign(({ event }) => ({ failure: errorMessage(event.error) })),
            emit(({ event }) => modelFailed('triage', event.error)),
          ],
        },
      },
    },
    escalated: {
      entry: emit(({ context }) =>
        requestHuman({
          type: 'escalation',
          question: `Which category fits this request? "${truncate(context.request, 300)}"`,
          options: [...CATEGORIES, 'drop'],
          ...(context.timeoutMs !== undefined ? { timeoutMs: context.timeoutMs } : {}),
          ...(context.escalation ? { details: context.escalation } : {}),
        }),
      ),
      on: {
        'hitl.expire': { target: 'expired' },
        'hitl.resume': [
          {
            guard: 'drops',
            target: 'dropped',
          },
          {
            guard: 'answersCategory',
            target: 'routed',
            actions: [
              assign(({ event }) => ({
                category: event.answer as Category,
                confidence: 1,
                by: 'human' as const,
              })),
              emit(({ event }) =>
                hitlEvent('triaged', { category: event.answer, confidence: 1, by: 'human' }),
              ),
            ],
          },
        ],
      },
    },
    parked: {
      on: { 'hitl.retry': { target: 'classifying', actions: assign({ failure: undefined }) } },
    },
    routed: {
      type: 'final',
      entry: emit(({ context }) =>
        sendToActor('specialist', {
          type: 'triaged',
          category: context.category,
          confidence: context.confidence,
          by: context.by,
          request: context.request,
          ...(context.customer !== undefined ? { customer: context.customer } : {}),
          ...(context.timeoutMs !== undefined ? { timeoutMs: context.timeoutMs } : {}),
        }),
      ),
    },
    expired: {
      type: 'final',
      entry: emit(() => hitlEvent('completed', { outcome: 'expired' })),
    },
    dropped: {
      type: 'final',
      entry: emit(() => hitlEvent('completed', { outcome: 'dropped' })),
    },
  },
});

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
