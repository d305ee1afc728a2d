/** How long JetStream remembers a `Nats-Msg-Id` to drop a duplicate publish. */
export const DUPLICATE_WINDOW_MS = 10 * 60_000;

/** How to reach and authenticate with NATS. */
export interface NatsSettings {
  url: string;
  /** `NATS_CREDS`: a credentials file (a user JWT and its nkey seed). */
  credsFile?: string;
  /** `NATS_NKEY`: a file holding a user nkey seed (`SU…`). */
  nkeyFile?: string;
  user?: string;
  pass?: string;
  token?: string;
  /**
   * `NATS_INBOX_PREFIX`: where this client's request replies come (`_INBOX` by default). A
   * role of its own per kind of user, which only that role may subscribe to (contract v2).
   */
  inboxPrefix?: string;
  /** `NATS_TLS_CA`, `NATS_TLS_CERT`, `NATS_TLS_KEY`: TLS, with a client certificate when the server verifies clients. */
  tls?: { caFile?: string; certFile?: string; keyFile?: string };
}

/** Runtime configuration, read from the environment by {@link loadConfig}. */
export interface HitlConfig {
  nats: NatsSettings;
  prefix: string;
  /** Interrupt types 'approval' may be answered only by these reviewers, when set. */
  approvers?: string[];
  /** Categories whose drafted replies wait at the approval gate. */
  approvalCategories: string[];
  /**
   * `HITL_SEPARATE_APPROVER`: a reviewer who answered a workflow's escalation may not also
   * answer its approval.
   */
  separateApprover?: boolean;
  /**
   * `HITL_REVIEWER_FROM_SUBJECT`: workers accept only responses that name their reviewer in
   * the subject (`hitl.human.respond.<wf>.<reviewer>`), where NATS permissions prove it.
   */
  reviewerFromSubject?: boolean;
  /**
   * `HITL_RESPOND_WITH_SUBJECT` (implied by `HITL_REVIEWER_FROM_SUBJECT`): `hitl respond` and
   * the client publish on the reviewer's own subject. Set it once every worker runs a version
   * that reads that subject: an older worker dead-letters such a response.
   */
  respondWithSubject?: boolean;
  /**
   * `HITL_LOCAL_DELIVERY=false`: every message between actors goes through its mailbox stream,
   * even to an actor this worker runs (by default it is applied in-process).
   */
  localDelivery?: boolean;
  /**
   * `HITL_STORAGE_FORMAT`: 2 (the default) compresses the large snapshots of actors that wait
   * and the tombstones of finished ones; 1 writes plain JSON, which workers of releases that do
   * not know this variable read, for a rollout from one of them: see docs/upgrading.md.
   */
  storageFormat?: 1 | 2;
  /** Deadline of each human answer, when set. */
  gateTimeoutMs?: number;
  /**
   * `HITL_MAX_DELIVER`: tries of a failing step (10) before its workflow is parked (`failed`,
   * retryable, for `hitl retry`); a message that fails outside any step is dead-lettered.
   * Tries put back to wait (a rolling upgrade) do not count.
   */
  maxDeliver?: number;
  /**
   * `HITL_STEP_TIMEOUT_MS`: a step whose machine has not settled after this long (an invoked
   * promise, a model call, that never answers) fails like any failure (default 10 minutes).
   */
  stepTimeoutMs?: number;
  /** `HITL_RETRY_BACKOFF_MS`: a failed step is redelivered after `min(30 s, this × 2^n)` (100). */
  retryBackoffMs?: number;
  /** `HITL_ACK_WAIT_MS`: how long a consumer waits for a silent worker to redeliver (30 s). */
  ackWaitMs?: number;
  /** `HITL_DRAIN_TIMEOUT_MS`: how long a stopping `hitl worker` lets steps finish (10 s). */
  drainTimeoutMs?: number;
  /** `HITL_MAX_PAYLOAD_BYTES`: larger inbound messages are dead-lettered unread (default 64 KiB). */
  maxPayloadBytes?: number;
  /**
   * The age and size limits of the streams, each named by its variable
   * (`HITL_<STREAM>_MAX_AGE_MS`, `HITL_<STREAM>_MAX_BYTES`): see {@link StreamLimitSettings}.
   */
  streamLimits?: StreamLimitSettings;
  /**
   * `HITL_FINISHED_RETENTION_MS`: a completed workflow's actor snapshots are removed this long
   * after its `completed` event; kept for ever when unset. Paused and parked workflows are
   * never removed. At least JetStream's duplicate window (10 minutes) when read from the
   * variable: a workflow started again under the same id (a ticket re-sent after the removal)
   * reuses the old one's message ids, which the streams must have forgotten.
   */
  finishedRetentionMs?: number;
  /**
   * `HITL_REPLICAS` (1, 3 or 5): replicas of every stream, bucket and durable consumer the
   * workers create (default 1).
   */
  replicas?: number;
  /**
   * `HITL_METRICS_PORT`: the worker serves `/healthz`, `/readyz` and Prometheus `/metrics` on
   * this port (0: any free port); off when unset. `HITL_METRICS_HOST`: the address it listens
   * on (127.0.0.1; 0.0.0.0 in a container).
   */
  metrics?: { port: number; host?: string };
  model: ModelSettings;
}

/** Default of `HITL_STEP_TIMEOUT_MS`: 10 minutes, above a model call's own timeouts and retries. */
export const DEFAULT_STEP_TIMEOUT_MS = 10 * 60_000;

/**
 * Size and age limits of the streams, each from its variable: the tickets, responses, dead
 * letters and events streams have a size and an age (`HITL_TICKETS_MAX_BYTES`,
 * `HITL_TICKETS_MAX_AGE_MS`, and so on; `HITL_EVENTS_MAX_BYTES` needs `HITL_EVENTS_MAX_AGE_MS`),
 * the outbound replies an age (`HITL_OUTBOUND_MAX_AGE_MS`). Unset ones take the defaults of
 * src/nats/streamLimits.ts (the events and outbound streams: kept for ever). An age is at least
 * JetStream's duplicate window (10 minutes). The mailboxes and timers are work queues: a
 * message goes once it is handled, so they take no age.
 */
export interface StreamLimitSettings {
  ticketsMaxBytes?: number;
  ticketsMaxAgeMs?: number;
  responsesMaxBytes?: number;
  responsesMaxAgeMs?: number;
  dlqMaxBytes?: number;
  dlqMaxAgeMs?: number;
  eventsMaxBytes?: number;
  eventsMaxAgeMs?: number;
  outboundMaxAgeMs?: number;
}

/** The variables of {@link StreamLimitSettings}, each with its field: their one parser. */
const LIMIT_VARIABLES: [string, keyof StreamLimitSettings][] = [
  ['HITL_TICKETS_MAX_BYTES', 'ticketsMaxBytes'],
  ['HITL_TICKETS_MAX_AGE_MS', 'ticketsMaxAgeMs'],
  ['HITL_RESPONSES_MAX_BYTES', 'responsesMaxBytes'],
  ['HITL_RESPONSES_MAX_AGE_MS', 'responsesMaxAgeMs'],
  ['HITL_DLQ_MAX_BYTES', 'dlqMaxBytes'],
  ['HITL_DLQ_MAX_AGE_MS', 'dlqMaxAgeMs'],
  ['HITL_EVENTS_MAX_BYTES', 'eventsMaxBytes'],
  ['HITL_EVENTS_MAX_AGE_MS', 'eventsMaxAgeMs'],
  ['HITL_OUTBOUND_MAX_AGE_MS', 'outboundMaxAgeMs'],
];

function streamLimitSettings(
  env: Record<string, string | undefined>,
): StreamLimitSettings | undefined {
  const limits: StreamLimitSettings = {};
  for (const [name, field] of LIMIT_VARIABLES) {
    const n = name.endsWith('_MS')
      ? maxAge(name, env[name])
      : positiveInt(name, env[name], 'bytes');
    if (n !== undefined) limits[field] = n;
  }
  if (limits.eventsMaxBytes !== undefined && env.HITL_EVENTS_MAX_AGE_MS === undefined) {
    throw new Error(
      'HITL_EVENTS_MAX_BYTES needs HITL_EVENTS_MAX_AGE_MS: a size limit is paired with an age, so that a full audit log says how far back it goes',
    );
  }
  return Object.keys(limits).length > 0 ? limits : undefined;
}

/** Default of `HITL_MAX_PAYLOAD_BYTES`: 64 KiB, well above any valid ticket or response. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 64 * 1024;

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
/** How triage asks the model for structured output: one of {@link JSON_MODES}. */
export type JsonMode = (typeof JSON_MODES)[number];

function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function positiveInt(
  name: string,
  value: string | undefined,
  unit = 'milliseconds',
): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) {
    throw new Error(`${name} must be a positive integer of ${unit}, got '${value}'`);
  }
  return n;
}

/** A stream retention: at least JetStream's duplicate window, within which copies are dropped. */
function maxAge(name: string, value: string | undefined): number | undefined {
  const age = positiveInt(name, value);
  if (age !== undefined && age < DUPLICATE_WINDOW_MS) {
    throw new Error(
      `${name} must be at least ${DUPLICATE_WINDOW_MS} (10 minutes, JetStream's duplicate window, which drops messages re-published after a crash), got '${value}'`,
    );
  }
  return age;
}

function replicas(value: string): number {
  const n = Number(value);
  // Odd counts only: a group of 2 or 4 survives no more node losses than one of 1 or 3.
  if (n !== 1 && n !== 3 && n !== 5) {
    throw new Error(`HITL_REPLICAS must be 1, 3 or 5 (3 on a three-node cluster), got '${value}'`);
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

/** Subject tokens without wildcards: what nats.js accepts as an inbox prefix. */
function inboxPrefix(value: string): string {
  const v = value.trim();
  if (!/^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$/.test(v)) {
    throw new Error(
      `NATS_INBOX_PREFIX must be subject tokens of letters, digits, '_', '-' and '$' joined by '.', without wildcards, got '${value}'`,
    );
  }
  return v;
}

function flag(name: string, value: string | undefined): boolean {
  if (value === undefined) return false;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off', ''].includes(v)) return false;
  throw new Error(`${name} must be true or false, got '${value}'`);
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
  // Set only when given, so a default configuration stays the short one above.
  if (flag('HITL_SEPARATE_APPROVER', env.HITL_SEPARATE_APPROVER)) config.separateApprover = true;
  if (flag('HITL_REVIEWER_FROM_SUBJECT', env.HITL_REVIEWER_FROM_SUBJECT)) {
    config.reviewerFromSubject = true;
    config.respondWithSubject = true;
  }
  if (flag('HITL_RESPOND_WITH_SUBJECT', env.HITL_RESPOND_WITH_SUBJECT)) {
    config.respondWithSubject = true;
  }
  if (
    env.HITL_LOCAL_DELIVERY !== undefined &&
    !flag('HITL_LOCAL_DELIVERY', env.HITL_LOCAL_DELIVERY)
  )
    config.localDelivery = false;
  if (env.HITL_STORAGE_FORMAT !== undefined && env.HITL_STORAGE_FORMAT.trim() !== '') {
    const format = env.HITL_STORAGE_FORMAT.trim();
    if (format !== '1' && format !== '2') {
      throw new Error(
        `HITL_STORAGE_FORMAT must be 1 (plain JSON) or 2 (compressed snapshots), got '${format}'`,
      );
    }
    if (format === '1') config.storageFormat = 1;
  }
  const maxPayload = positiveInt('HITL_MAX_PAYLOAD_BYTES', env.HITL_MAX_PAYLOAD_BYTES, 'bytes');
  if (maxPayload !== undefined) config.maxPayloadBytes = maxPayload;
  if (env.HITL_REPLICAS !== undefined) config.replicas = replicas(env.HITL_REPLICAS);
  const metricsPort = nonNegativeInt('HITL_METRICS_PORT', env.HITL_METRICS_PORT);
  if (metricsPort !== undefined) {
    if (metricsPort > 65_535) {
      throw new Error(`HITL_METRICS_PORT must be a port number (0 to 65535), got '${metricsPort}'`);
    }
    config.metrics = {
      port: metricsPort,
      ...(env.HITL_METRICS_HOST ? { host: env.HITL_METRICS_HOST } : {}),
    };
  }
  if (env.NATS_CREDS) config.nats.credsFile = env.NATS_CREDS;
  if (env.NATS_NKEY) config.nats.nkeyFile = env.NATS_NKEY;
  if (env.NATS_USER) config.nats.user = env.NATS_USER;
  if (env.NATS_PASS) config.nats.pass = env.NATS_PASS;
  if (env.NATS_TOKEN) config.nats.token = env.NATS_TOKEN;
  if (env.NATS_INBOX_PREFIX) config.nats.inboxPrefix = inboxPrefix(env.NATS_INBOX_PREFIX);
  if (env.NATS_USER && !env.NATS_PASS) throw new Error('NATS_USER needs NATS_PASS');
  if (env.NATS_PASS && !env.NATS_USER) throw new Error('NATS_PASS needs NATS_USER');
  if (Boolean(env.NATS_TLS_CERT) !== Boolean(env.NATS_TLS_KEY)) {
    throw new Error(
      'NATS_TLS_CERT and NATS_TLS_KEY go together (a client certificate and its key)',
    );
  }
  if (env.NATS_TLS_CA || env.NATS_TLS_CERT) {
    config.nats.tls = {
      ...(env.NATS_TLS_CA ? { caFile: env.NATS_TLS_CA } : {}),
      ...(env.NATS_TLS_CERT ? { certFile: env.NATS_TLS_CERT } : {}),
      ...(env.NATS_TLS_KEY ? { keyFile: env.NATS_TLS_KEY } : {}),
    };
  }
  const approvers = list(env.HITL_APPROVERS);
  if (approvers && approvers.length > 0) config.approvers = approvers;
  const timeout = positiveInt('HITL_GATE_TIMEOUT_MS', env.HITL_GATE_TIMEOUT_MS);
  if (timeout !== undefined) config.gateTimeoutMs = timeout;
  const maxDeliver = positiveInt('HITL_MAX_DELIVER', env.HITL_MAX_DELIVER, 'deliveries');
  if (maxDeliver !== undefined) config.maxDeliver = maxDeliver;
  const stepTimeout = positiveInt('HITL_STEP_TIMEOUT_MS', env.HITL_STEP_TIMEOUT_MS);
  if (stepTimeout !== undefined) config.stepTimeoutMs = stepTimeout;
  const backoff = positiveInt('HITL_RETRY_BACKOFF_MS', env.HITL_RETRY_BACKOFF_MS);
  if (backoff !== undefined) config.retryBackoffMs = backoff;
  const ackWait = positiveInt('HITL_ACK_WAIT_MS', env.HITL_ACK_WAIT_MS);
  if (ackWait !== undefined) config.ackWaitMs = ackWait;
  const limits = streamLimitSettings(env);
  if (limits) config.streamLimits = limits;
  const finished = positiveInt('HITL_FINISHED_RETENTION_MS', env.HITL_FINISHED_RETENTION_MS);
  if (finished !== undefined && finished < DUPLICATE_WINDOW_MS) {
    // A ticket re-sent after the removal starts the workflow again, under the same message ids.
    throw new Error(
      `HITL_FINISHED_RETENTION_MS must be at least ${DUPLICATE_WINDOW_MS} (10 minutes, JetStream's duplicate window: a workflow started again under the same id after its removal would have its messages dropped as copies of the old one's), got '${env.HITL_FINISHED_RETENTION_MS}'`,
    );
  }
  if (finished !== undefined) config.finishedRetentionMs = finished;
  const drain = positiveInt('HITL_DRAIN_TIMEOUT_MS', env.HITL_DRAIN_TIMEOUT_MS);
  if (drain !== undefined) config.drainTimeoutMs = drain;
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
