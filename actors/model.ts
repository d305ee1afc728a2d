import { hitlEvent, type HitlEmitted } from '../src/index.js';
import type { Category } from './categories.js';

/** Tokens one model call used, as the endpoint reported them. */
export interface ModelUsage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
}

/**
 * What a model call cost: which model answered, its token usage and how long the call took
 * (retries included). A model that does not measure leaves these out; whatever is present goes
 * into the `triaged` / `drafted` event, so a tap shows cost as it happens.
 */
export interface CallReport {
  model?: string;
  usage?: ModelUsage;
  latencyMs?: number;
  /** Tries it took, when more than one. */
  attempts?: number;
}

/** What triage's model returns. `category` is null when it cannot tell. */
export interface Classification extends CallReport {
  category: Category | null;
  confidence: number;
  rationale?: string;
}

/** What a specialist asks the model to draft a reply for. */
export interface DraftRequest {
  category: Category;
  request: string;
  customer?: string;
}

/** A drafted reply with the cost of the call that wrote it. */
export interface Draft extends CallReport {
  text: string;
}

/** A model may answer a draft with plain text (no cost report) or a {@link Draft}. */
export type DraftResult = string | Draft;

/** The model behind the support agents. */
export interface SupportModel {
  readonly name: string;
  classify(request: string): Promise<Classification>;
  draft(request: DraftRequest): Promise<DraftResult>;
}

/** The longest reply a specialist may hand to the gate (the approval's `update.draft` limit). */
export const MAX_DRAFT_CHARS = 4_000;

/** The text of a draft result. */
export function draftText(result: DraftResult): string {
  return typeof result === 'string' ? result : result.text;
}

/**
 * The cost fields of a call present in `result`, ready to spread into event data.
 *
 * @example
 * hitlEvent('triaged', { category, confidence, by: 'model', ...callReport(output) })
 */
export function callReport(result: DraftResult | Classification): CallReport {
  if (typeof result === 'string') return {};
  const report: CallReport = {};
  if (result.model !== undefined) report.model = result.model;
  if (result.usage !== undefined) report.usage = result.usage;
  if (result.latencyMs !== undefined) report.latencyMs = result.latencyMs;
  if (result.attempts !== undefined) report.attempts = result.attempts;
  return report;
}

/** Why a draft cannot be handed to the gate, or undefined when it can. */
export function unusableDraft(text: string): string | undefined {
  if (text.trim().length === 0) return 'the model returned an empty draft';
  if (text.length > MAX_DRAFT_CHARS) {
    return `the model returned a draft of ${text.length} characters (at most ${MAX_DRAFT_CHARS})`;
  }
  return undefined;
}

/** What went wrong with a model call, in words. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * The `failed` event of a step whose model call failed after its retries: the actor parks,
 * and `hitl retry` runs the step again.
 */
export function modelFailed(step: string, error: unknown): HitlEmitted {
  return hitlEvent('failed', { reason: errorMessage(error), step, retryable: true });
}
