import { fromPromise } from 'xstate';
import { z } from 'zod';
import { defineActor } from '../src/index.js';
import type { ActorDefinition, HitlConfig, TicketIntake } from '../src/index.js';
import { gateMachine, GATE_VERSION } from './gate.machine.js';
import { mockModel } from './mockModel.js';
import type { Classification, DraftRequest, SupportModel } from './model.js';
import { openAiModel } from './openaiModel.js';
import { specialistMachine, SPECIALIST_VERSION } from './specialist.machine.js';
import { triageMachine, TRIAGE_VERSION } from './triage.machine.js';

/** What a response to an approval may change: the draft that is sent. */
export const ApprovalUpdateSchema = z
  .object({ draft: z.string().min(1).max(4_000) })
  .partial()
  .strict();

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
          draft: fromPromise<string, DraftRequest>(({ input }) => model.draft(input)),
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

/** The model the configuration names: the offline mock, or an OpenAI-compatible endpoint. */
export function modelFromConfig(config: HitlConfig): SupportModel {
  if (config.model.provider === 'mock') return mockModel();
  return openAiModel({
    ...(config.model.model ? { model: config.model.model } : {}),
    ...(config.model.baseUrl ? { baseUrl: config.model.baseUrl } : {}),
    ...(config.model.apiKey ? { apiKey: config.model.apiKey } : {}),
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
