export type { Category } from './categories.js';
export type { Classification, DraftRequest, SupportModel } from './model.js';
export type { SupportOptions } from './support.js';
export { CATEGORIES, CONFIDENCE_THRESHOLD, isCategory } from './categories.js';
export { gateMachine, GATE_VERSION } from './gate.machine.js';
export { MOCK_KEYWORDS, mockModel } from './mockModel.js';
export { openAiModel } from './openaiModel.js';
export { specialistMachine, SPECIALIST_VERSION } from './specialist.machine.js';
export {
  ApprovalUpdateSchema,
  createActors,
  modelFromConfig,
  supportActors,
  supportIntake,
} from './support.js';
export { triageMachine, TRIAGE_VERSION } from './triage.machine.js';
