import OpenAI, {
  APIConnectionError,
  APIConnectionTimeoutError,
  APIError,
  APIUserAbortError,
} from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import type { ChatCompletion, ChatCompletionCreateParamsNonStreaming } from 'openai/resources';
import { z } from 'zod';
import type { JsonMode } from '../src/index.js';
import { CATEGORIES } from './categories.js';
import {
  unusableDraft,
  type CallReport,
  type Classification,
  type Draft,
  type DraftRequest,
  type ModelUsage,
  type SupportModel,
} from './model.js';
import {
  DEFAULT_RETRY_POLICY,
  GaveUpError,
  retryAfterMs,
  withRetries,
  type FailureVerdict,
  type RetryPolicy,
} from './modelRetry.js';
import { draftInstructions, ticketMessage, triageInstructions } from './prompts.js';

/** Where {@link openAiModel} calls, with which models, key and retries. */
export interface OpenAiModelOptions {
  /** The model of both roles unless a role names its own (default `gpt-4.1-mini`). */
  model?: string;
  triageModel?: string;
  draftModel?: string;
  /** An OpenAI-compatible base URL, ending in `/v1` (default: OpenAI's). */
  baseUrl?: string;
  apiKey?: string;
  /** How triage asks for structured output (default `json_schema`). */
  jsonMode?: JsonMode;
  /** Deadline of one request (default 30 s). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** Test seams: how to wait between tries, and the jitter's randomness. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** The model of both roles when the options name none. */
export const DEFAULT_OPENAI_MODEL = 'gpt-4.1-mini';
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * What triage's model must answer. The JSON schema sent to the endpoint is derived from it, and
 * every answer is parsed with it: an unknown category, a confidence outside 0..1, a missing or
 * extra key all fail, and a failed answer escalates to a human.
 */
export const TriageAnswerSchema = z
  .object({
    category: z
      .enum(CATEGORIES)
      .nullable()
      .describe('the category that fits the ticket, or null when none fits'),
    confidence: z.number().min(0).max(1).describe('how sure, from 0 to 1'),
    rationale: z.string().max(1_000).describe('why, in one short sentence'),
  })
  .strict();
/** The model's triage answer, as {@link TriageAnswerSchema} decodes it. */
export type TriageAnswer = z.infer<typeof TriageAnswerSchema>;

/**
 * Reads a triage answer strictly: the whole content must be one JSON object matching
 * {@link TriageAnswerSchema} (a single surrounding markdown code fence, which chat models add
 * when no response format constrains them, is tolerated). Returns why it was refused otherwise.
 *
 * @example
 * parseTriageAnswer('{"category":"refund","confidence":0.9,"rationale":"wants money back"}');
 */
export function parseTriageAnswer(
  content: string,
): { ok: true; answer: TriageAnswer } | { ok: false; reason: string } {
  const text = content
    .trim()
    .replace(/^```(?:json)?\s*\n([\s\S]*)\n\s*```$/i, '$1')
    .trim();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, reason: `answer is not JSON: '${clip(text)}'` };
  }
  const parsed = TriageAnswerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
    return {
      ok: false,
      reason: `answer outside the schema (${where}${issue?.message ?? 'invalid'}): '${clip(text)}'`,
    };
  }
  return { ok: true, answer: parsed.data };
}

/**
 * The support model on any OpenAI-compatible chat-completions endpoint (OpenAI, OCI Generative
 * AI, vLLM, Ollama). Triage asks for structured output and validates it; an answer outside the
 * schema or the category set comes back as `category: null`, which escalates to a human. A
 * request that times out or meets 429 or 5xx is retried with capped exponential backoff and
 * jitter (or the server's `retry-after`); when the budget is spent the call rejects, and the
 * calling actor parks until `hitl retry`.
 *
 * @example
 * const model = openAiModel({ baseUrl: 'http://localhost:11434/v1', model: 'llama3.1' });
 */
export function openAiModel(options: OpenAiModelOptions = {}): SupportModel {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const client = new OpenAI({
    // Local endpoints (Ollama, vLLM) want no key, but the client insists on one.
    apiKey: options.apiKey ?? 'not-needed',
    ...(options.baseUrl ? { baseURL: options.baseUrl } : {}),
    timeout: timeoutMs,
    // The retry policy is ours (below), so it is the same for every endpoint and testable.
    maxRetries: 0,
  });
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const jsonMode = options.jsonMode ?? 'json_schema';
  const triageModel = options.triageModel ?? options.model ?? DEFAULT_OPENAI_MODEL;
  const draftModel = options.draftModel ?? options.model ?? DEFAULT_OPENAI_MODEL;
  const responseFormat =
    jsonMode === 'json_schema'
      ? { response_format: zodResponseFormat(TriageAnswerSchema, 'ticket_triage') }
      : jsonMode === 'json_object'
        ? { response_format: { type: 'json_object' as const } }
        : {};

  async function complete(
    role: 'triage' | 'draft',
    params: ChatCompletionCreateParamsNonStreaming,
  ): Promise<{ completion: ChatCompletion; report: CallReport }> {
    const started = Date.now();
    try {
      const { value, attempts } = await withRetries(() => client.chat.completions.create(params), {
        policy,
        judge,
        ...(options.sleep ? { sleep: options.sleep } : {}),
        ...(options.random ? { random: options.random } : {}),
      });
      const report: CallReport = {
        model: value.model || params.model,
        latencyMs: Date.now() - started,
      };
      const usage = usageOf(value);
      if (usage) report.usage = usage;
      if (attempts > 1) report.attempts = attempts;
      return { completion: value, report };
    } catch (err) {
      throw callFailed(role, params.model, timeoutMs, err);
    }
  }

  return {
    name: `openai:${triageModel === draftModel ? triageModel : `${triageModel}+${draftModel}`}`,
    async classify(request: string): Promise<Classification> {
      const { completion, report } = await complete('triage', {
        model: triageModel,
        temperature: 0,
        messages: [
          { role: 'system', content: triageInstructions(jsonMode !== 'json_schema') },
          { role: 'user', content: ticketMessage(request) },
        ],
        ...responseFormat,
      });
      const message = completion.choices[0]?.message;
      const refused = !message
        ? 'the endpoint returned no choices'
        : message.refusal
          ? `the model refused: ${clip(message.refusal)}`
          : completion.choices[0]?.finish_reason === 'length'
            ? 'the answer was cut off (finish_reason: length)'
            : undefined;
      const verdict = refused
        ? { ok: false as const, reason: refused }
        : parseTriageAnswer(message?.content ?? '');
      if (!verdict.ok) {
        // Not a failure of the call: a human decides instead (category null escalates).
        return { category: null, confidence: 0, rationale: verdict.reason, ...report };
      }
      const { category, confidence, rationale } = verdict.answer;
      return { category, confidence, rationale, ...report };
    },
    async draft(request: DraftRequest): Promise<Draft> {
      const { completion, report } = await complete('draft', {
        model: draftModel,
        temperature: 0.3,
        messages: [
          { role: 'system', content: draftInstructions(request.category) },
          { role: 'user', content: ticketMessage(request.request, request.customer) },
        ],
      });
      const choice = completion.choices[0];
      const text = (choice?.message.content ?? '').trim();
      const problem =
        choice?.finish_reason === 'length'
          ? `the draft was cut off (finish_reason: length, ${text.length} characters)`
          : choice?.finish_reason === 'content_filter'
            ? 'the draft was withheld by the content filter'
            : unusableDraft(text);
      if (problem) throw new Error(`draft model '${draftModel}': ${problem}`);
      return { text, ...report };
    },
  };
}

/** Timeouts, connection errors, 408, 409, 429 and 5xx may pass; other 4xx will not. */
function judge(err: unknown): FailureVerdict {
  if (err instanceof APIUserAbortError) return { retry: false };
  if (err instanceof APIConnectionError) return { retry: true };
  if (err instanceof APIError && typeof err.status === 'number') {
    // OpenAI answers 429 also when the account is out of credit: waiting does not help.
    if (err.code === 'insufficient_quota') return { retry: false };
    if ([408, 409, 429].includes(err.status) || err.status >= 500) {
      const afterMs = retryAfterMs(err.headers as Headers | undefined);
      return afterMs === undefined ? { retry: true } : { retry: true, afterMs };
    }
  }
  return { retry: false };
}

function callFailed(role: string, model: string, timeoutMs: number, err: unknown): Error {
  const attempts = err instanceof GaveUpError ? err.attempts : 1;
  const last = err instanceof GaveUpError ? err.lastError : err;
  let what: string;
  if (last instanceof APIConnectionTimeoutError) what = `request timed out after ${timeoutMs} ms`;
  else if (last instanceof APIConnectionError) what = `cannot reach the endpoint (${last.message})`;
  else if (last instanceof APIError && typeof last.status === 'number') {
    const status: number = last.status;
    what = `HTTP ${status}: ${last.message.replace(/^\d{3}\s*/, '')}${hint(status, last.message)}`;
  } else what = last instanceof Error ? last.message : String(last);
  const tries = attempts === 1 ? '1 try' : `${attempts} tries`;
  return new Error(`${role} model '${model}' failed after ${tries}: ${what}`, { cause: last });
}

function hint(status: number, message: string): string {
  if (status === 401 || status === 403) return ' (check OPENAI_API_KEY)';
  if (status === 404) return ' (check HITL_MODEL and OPENAI_BASE_URL)';
  if (status === 400 && /response_format|json_schema|json_object/i.test(message)) {
    return ' (the endpoint may not support this response format: try HITL_MODEL_JSON_MODE=json_object or none)';
  }
  return '';
}

function usageOf(completion: ChatCompletion): ModelUsage | undefined {
  const u = completion.usage;
  if (!u) return undefined;
  return {
    promptTokens: u.prompt_tokens,
    completionTokens: u.completion_tokens,
    totalTokens: u.total_tokens,
  };
}

function clip(text: string, max = 120): string {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
