/** How to reach and authenticate with NATS. */
export interface NatsSettings {
  url: string;
  credsFile?: string;
  user?: string;
  pass?: string;
  token?: string;
}

/** Runtime configuration, read from the environment by {@link loadConfig}. */
export interface HitlConfig {
  nats: NatsSettings;
  prefix: string;
  /** Interrupt types 'approval' may be answered only by these reviewers, when set. */
  approvers?: string[];
  /** Categories whose drafted replies wait at the approval gate. */
  approvalCategories: string[];
  /** Deadline of each human answer, when set. */
  gateTimeoutMs?: number;
  model: ModelSettings;
}

/** How the support agents reach a model. Unset fields take the provider's defaults. */
export interface ModelSettings {
  provider: 'mock' | 'openai';
  /** `HITL_MODEL`: the model of both roles unless a role names its own. */
  model?: string;
  /** `HITL_TRIAGE_MODEL`: the model that classifies tickets. */
  triageModel?: string;
  /** `HITL_DRAFT_MODEL`: the model that drafts replies. */
  draftModel?: string;
  baseUrl?: string;
  apiKey?: string;
  /** How triage asks for structured output; see {@link JSON_MODES}. */
  jsonMode?: JsonMode;
  /** Deadline of one request to the model. */
  timeoutMs?: number;
  /** Retries of a call after its first try, for timeouts, 429 and 5xx. */
  maxRetries?: number;
  /** First backoff delay; it doubles per retry, with jitter, up to `retryMaxMs`. */
  retryBaseMs?: number;
  retryMaxMs?: number;
}

/**
 * `json_schema`: the endpoint constrains the answer to a JSON schema (OpenAI, vLLM, Ollama 0.5+).
 * `json_object`: the endpoint guarantees JSON only; the schema is in the prompt.
 * `none`: no `response_format` at all; the answer is parsed strictly all the same.
 */
export const JSON_MODES = ['json_schema', 'json_object', 'none'] as const;
export type JsonMode = (typeof JSON_MODES)[number];

function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`${name} must be a positive integer of milliseconds, got '${value}'`);
  }
  return n;
}

function nonNegativeInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`${name} must be a whole number (0 or more), got '${value}'`);
  }
  return n;
}

/**
 * Reads the contract's environment variables, and the runtime's own (`HITL_LOG_LEVEL` aside):
 * per-role models, the model's JSON mode, request timeout and retry budget.
 *
 * @example
 * const config = loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', HITL_APPROVERS: 'ana,bo' });
 */
export function loadConfig(
  environment: Record<string, string | undefined> = process.env,
): HitlConfig {
  // An empty variable means the same as an unset one.
  const env = Object.fromEntries(
    Object.entries(environment).filter(([, v]) => v !== undefined && v.trim() !== ''),
  );
  const provider = env.HITL_MODEL_PROVIDER ?? (env.OPENAI_API_KEY ? 'openai' : 'mock');
  if (provider !== 'mock' && provider !== 'openai') {
    throw new Error(`HITL_MODEL_PROVIDER must be 'mock' or 'openai', got '${provider}'`);
  }
  const config: HitlConfig = {
    nats: { url: env.NATS_URL ?? 'nats://127.0.0.1:4222' },
    prefix: env.HITL_PREFIX ?? 'hitl',
    approvalCategories: list(env.HITL_APPROVAL_CATEGORIES) ?? ['refund', 'billing'],
    model: { provider },
  };
  if (env.NATS_CREDS) config.nats.credsFile = env.NATS_CREDS;
  if (env.NATS_USER) config.nats.user = env.NATS_USER;
  if (env.NATS_PASS) config.nats.pass = env.NATS_PASS;
  if (env.NATS_TOKEN) config.nats.token = env.NATS_TOKEN;
  const approvers = list(env.HITL_APPROVERS);
  if (approvers && approvers.length > 0) config.approvers = approvers;
  const timeout = positiveInt('HITL_GATE_TIMEOUT_MS', env.HITL_GATE_TIMEOUT_MS);
  if (timeout !== undefined) config.gateTimeoutMs = timeout;
  if (env.HITL_MODEL) config.model.model = env.HITL_MODEL;
  if (env.OPENAI_BASE_URL) config.model.baseUrl = env.OPENAI_BASE_URL;
  if (env.OPENAI_API_KEY) config.model.apiKey = env.OPENAI_API_KEY;
  if (env.HITL_TRIAGE_MODEL) config.model.triageModel = env.HITL_TRIAGE_MODEL;
  if (env.HITL_DRAFT_MODEL) config.model.draftModel = env.HITL_DRAFT_MODEL;
  const jsonMode = env.HITL_MODEL_JSON_MODE;
  if (jsonMode !== undefined && jsonMode.trim() !== '') {
    if (!(JSON_MODES as readonly string[]).includes(jsonMode)) {
      throw new Error(
        `HITL_MODEL_JSON_MODE must be one of ${JSON_MODES.join(', ')}, got '${jsonMode}'`,
      );
    }
    config.model.jsonMode = jsonMode as JsonMode;
  }
  const modelTimeout = positiveInt('HITL_MODEL_TIMEOUT_MS', env.HITL_MODEL_TIMEOUT_MS);
  if (modelTimeout !== undefined) config.model.timeoutMs = modelTimeout;
  const maxRetries = nonNegativeInt('HITL_MODEL_MAX_RETRIES', env.HITL_MODEL_MAX_RETRIES);
  if (maxRetries !== undefined) config.model.maxRetries = maxRetries;
  const retryBase = positiveInt('HITL_MODEL_RETRY_BASE_MS', env.HITL_MODEL_RETRY_BASE_MS);
  if (retryBase !== undefined) config.model.retryBaseMs = retryBase;
  const retryMax = positiveInt('HITL_MODEL_RETRY_MAX_MS', env.HITL_MODEL_RETRY_MAX_MS);
  if (retryMax !== undefined) config.model.retryMaxMs = retryMax;
  return config;
}
