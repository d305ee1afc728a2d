import { assign, emit, setup } from 'xstate';
import { hitlEvent, releaseReply, requestHuman } from '../src/index.js';
import type { ExpireEvent, HitlEmitted, ResumeEvent } from '../src/index.js';
import type { Category } from './categories.js';

export interface GateInput {
  workflowId: string;
  category: Category;
  draft: string;
  request: string;
  /** This workflow's deadline for the approval (the ticket's `timeoutMs`). */
  timeoutMs?: number;
}

export interface GateContext extends GateInput {
  approvedBy?: string;
  rejectedBy?: string;
}

/** The gate machine's snapshot version: bumped whenever a change would not fit older snapshots. */
export const GATE_VERSION = 1;

/**
 * Releases a drafted reply to the customer. Categories that need approval (the
 * `needsApproval` guard, from `HITL_APPROVAL_CATEGORIES`) pause at an `approval` interrupt:
 * `yes` sends the draft (or the reviewer's edited `update.draft`), `no` cancels, and a
 * deadline that passes unanswered completes the workflow as `expired`.
 */
export const gateMachine = setup({
  types: {
    context: {} as GateContext,
    input: {} as GateInput,
    events: {} as ResumeEvent | ExpireEvent,
    emitted: {} as HitlEmitted,
  },
  guards: {
    needsApproval: () => true,
    approves: ({ event }) => event.type === 'hitl.resume' && event.answer === 'yes',
    declines: ({ event }) => event.type === 'hitl.resume' && event.answer === 'no',
  },
}).createMachine({
  id: 'gate',
  context: ({ input }) => ({ ...input }),
  initial: 'deciding',
  states: {
    deciding: {
      always: [{ guard: 'needsApproval', target: 'awaitingApproval' }, { target: 'sent' }],
    },
    awaitingApproval: {
      entry: emit(({ context }) =>
        requestHuman({
          type: 'approval',
          question: `Send this ${context.category} reply to the customer?`,
          options: ['yes', 'no'],
          draft: context.draft,
          category: context.category,
          ...(context.timeoutMs !== undefined ? { timeoutMs: context.timeoutMs } : {}),
        }),
      ),
      on: {
        'hitl.expire': { target: 'expired' },
        'hitl.resume': [
          {
            guard: 'approves',
            target: 'sent',
            actions: [
              assign(({ context, event }) => ({
                approvedBy: event.reviewer,
                draft: typeof event.update.draft === 'string' ? event.update.draft : context.draft,
              })),
              emit(({ event }) => hitlEvent('approved', { reviewer: event.reviewer })),
            ],
          },
          {
            guard: 'declines',
            target: 'cancelled',
            actions: [
              assign({ rejectedBy: ({ event }) => event.reviewer }),
              emit(({ event }) => hitlEvent('rejected', { reviewer: event.reviewer })),
            ],
          },
        ],
      },
    },
    sent: {
      type: 'final',
      entry: [
        emit(({ context }) =>
          releaseReply({
            category: context.category,
            reply: context.draft,
            ...(context.approvedBy !== undefined ? { approvedBy: context.approvedBy } : {}),
          }),
        ),
        emit(({ context }) => hitlEvent('sent', { reply: context.draft })),
        emit(({ context }) =>
          hitlEvent('completed', { outcome: 'sent', category: context.category }),
        ),
      ],
    },
    expired: {
      type: 'final',
      entry: emit(({ context }) =>
        hitlEvent('completed', { outcome: 'expired', category: context.category }),
      ),
    },
    cancelled: {
      type: 'final',
      entry: emit(({ context }) =>
        hitlEvent('completed', { outcome: 'cancelled', category: context.category }),
      ),
    },
  },
});
