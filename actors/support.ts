import { fromPromise } from 'xstate';
import { z } from 'zod';
import { defineActor } from '../src/index.js';
import type { ActorDefinition, HitlConfig, TicketIntake } from '../src/index.js';
import { gateMachine, GATE_VERSION } from './gate.machine.js';
import { mockModel } from './mockModel.js';
import {
  draftText,
  unusableDraft,
  type Classification,
  type DraftRequest,
  type DraftResult,
  type SupportModel,
} from './model.js';
import type { RetryPolicy } from './modelRetry.js';
import { openAiModel } from './openaiModel.js';
import { specialistMachine, SPECIALIST_VERSION } from './specialist.machine.js';
import { triageMachine, TRIAGE_VERSION } from './triage.machine.js';

/** What a response to an approval may change: the draft that is sent. */
export const ApprovalUpdateSchema = z
  .object({ draft: z.string().min(1).max(4_000) })
  .partial()
  .strict();

/** What the support workflow needs: a model, and the categories whose replies a human approves. */
export interface SupportOptions {
  model: SupportModel;
  /** Categories whose replies wait for a human's approval. */
  approvalCategories: readonly string[];
}

/**
 * The support workflow's actor kinds, `triage`, `specialist` and `gate`, wired to a model.
 *
 * @example
 * const definitions = supportActors({ model: mockModel(), approvalCategories: ['refund'] });
 */
export function supportActors(options: SupportOptions): ActorDefinition[] {
  const { model, approvalCategories } = options;
  return [
    defineActor({
      kind: 'triage',
      version: TRIAGE_VERSION,
      machine: triageMachine.provide({
        actors: {
          classify: fromPromise<Classification, { request: string }>(({ input }) =>
            model.classify(input.request),
          ),
        },
      }),
    }),
    defineActor({
      kind: 'specialist',
      version: SPECIALIST_VERSION,
      machine: specialistMachine.provide({
        actors: {
          draft: fromPromise<DraftResult, DraftRequest>(async ({ input }) => {
            const result = await model.draft(input);
            // Whatever the model, an empty or over-long draft is its failure: the specialist
            // parks (retryable) rather than hand the gate something it cannot send.
            const problem = unusableDraft(draftText(result));
            if (problem) throw new Error(`${model.name}: ${problem}`);
            return result;
          }),
        },
      }),
    }),
    defineActor({
      kind: 'gate',
      version: GATE_VERSION,
      machine: gateMachine.provide({
        guards: { needsApproval: ({ context }) => approvalCategories.includes(context.category) },
      }),
      updates: { approval: ApprovalUpdateSchema },
    }),
  ];
}

/** Tickets start the `triage` actor. */
export const supportIntake: TicketIntake = { actor: 'triage' };

/**
 * The model the configuration names: the offline mock, or an OpenAI-compatible endpoint with
 * its per-role models, JSON mode, timeout and retry budget.
 *
 * @example
 * const model = modelFromConfig(loadConfig({ HITL_MODEL_PROVIDER: 'mock' }));
 */
export function modelFromConfig(config: HitlConfig): SupportModel {
  const m = config.model;
  if (m.provider === 'mock') return mockModel();
  if (!m.apiKey && !m.baseUrl) {
    throw new Error(
      'HITL_MODEL_PROVIDER=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for an endpoint that takes no key (Ollama, vLLM)',
    );
  }
  const retry: Partial<RetryPolicy> = {};
  if (m.maxRetries !== undefined) retry.maxRetries = m.maxRetries;
  if (m.retryBaseMs !== undefined) retry.baseDelayMs = m.retryBaseMs;
  if (m.retryMaxMs !== undefined) retry.maxDelayMs = m.retryMaxMs;
  return openAiModel({
    ...(m.model ? { model: m.model } : {}),
    ...(m.triageModel ? { triageModel: m.triageModel } : {}),
    ...(m.draftModel ? { draftModel: m.draftModel } : {}),
    ...(m.baseUrl ? { baseUrl: m.baseUrl } : {}),
    ...(m.apiKey ? { apiKey: m.apiKey } : {}),
    ...(m.jsonMode ? { jsonMode: m.jsonMode } : {}),
    ...(m.timeoutMs !== undefined ? { timeoutMs: m.timeoutMs } : {}),
    retry,
  });
}

/**
 * The entry point `hitl worker` loads (`--module` picks another): the actors to host and where
 * tickets go.
 */
export function createActors(config: HitlConfig): {
  definitions: ActorDefinition[];
  intake: TicketIntake;
} {
  return {
    definitions: supportActors({
      model: modelFromConfig(config),
      approvalCategories: config.approvalCategories,
    }),
    intake: supportIntake,
  };
}
