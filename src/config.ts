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
  model: {
    provider: 'mock' | 'openai';
    model?: string;
    baseUrl?: string;
    apiKey?: string;
  };
}

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

/**
 * Reads the contract's environment variables.
 *
 * @example
 * const config = loadConfig({ NATS_URL: 'nats://127.0.0.1:4222', HITL_APPROVERS: 'ana,bo' });
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): HitlConfig {
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
  if (approvers) config.approvers = approvers;
  const timeout = positiveInt('HITL_GATE_TIMEOUT_MS', env.HITL_GATE_TIMEOUT_MS);
  if (timeout !== undefined) config.gateTimeoutMs = timeout;
  if (env.HITL_MODEL) config.model.model = env.HITL_MODEL;
  if (env.OPENAI_BASE_URL) config.model.baseUrl = env.OPENAI_BASE_URL;
  if (env.OPENAI_API_KEY) config.model.apiKey = env.OPENAI_API_KEY;
  return config;
}
