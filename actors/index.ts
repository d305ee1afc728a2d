export type { Category } from './categories.js';
export type { MockModel } from './mockModel.js';
export type {
  CallReport,
  Classification,
  Draft,
  DraftRequest,
  DraftResult,
  ModelUsage,
  SupportModel,
} from './model.js';
export type { FailureVerdict, RetryOptions, RetryPolicy } from './modelRetry.js';
export type { OpenAiModelOptions, TriageAnswer } from './openaiModel.js';
export type { SupportOptions } from './support.js';
export { CATEGORIES, CONFIDENCE_THRESHOLD, isCategory } from './categories.js';
export { gateMachine, GATE_VERSION } from './gate.machine.js';
export { MOCK_KEYWORDS, mockModel } from './mockModel.js';
export { callReport, draftText, MAX_DRAFT_CHARS, unusableDraft } from './model.js';
export {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  GaveUpError,
  retryAfterMs,
  withRetries,
} from './modelRetry.js';
export {
  DEFAULT_OPENAI_MODEL,
  openAiModel,
  parseTriageAnswer,
  TriageAnswerSchema,
} from './openaiModel.js';
export { draftInstructions, escapeData, ticketMessage, triageInstructions } from './prompts.js';
export { specialistMachine, SPECIALIST_VERSION } from './specialist.machine.js';
export {
  ApprovalUpdateSchema,
  createActors,
  modelFromConfig,
  supportActors,
  supportIntake,
} from './support.js';
export { triageMachine, TRIAGE_VERSION } from './triage.machine.js';
