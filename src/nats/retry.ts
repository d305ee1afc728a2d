import type { JetStreamClient } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { describeError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';

/**
 * JetStream's "wrong last sequence" (10071): a compare-and-set write (a KV `update`, `create`,
 * or a publish with an expected last subject sequence) found the key changed since.
 *
 * @example
 * try { await kv.update(key, value, revision); } catch (err) { if (!isWrongLastSequence(err)) throw err; }
 */
export function isWrongLastSequence(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 10071 || (err instanceof Error && /wrong last sequence/i.test(err.message));
}

/**
 * Whether `err` is what NATS answers while a JetStream leader is being elected or a server is
 * away (a request that timed out, no responders, "jetstream is not enabled", 503 "temporarily
 * unavailable"): the same request a little later is likely to succeed.
 *
 * @example
 * if (isTransientNatsError(err)) m.nak(1_000); else throw err;
 */
export function isTransientNatsError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; depth++) {
    if (e.name === 'TimeoutError' || e.name === 'NoResponders' || e.name === 'JetStreamNotEnabled')
      return true;
    const status = (e as { status?: unknown }).status;
    if (status === 503 || status === 408) return true;
    if (
      /^timeout$|no responders|jetstream is not enabled|temporarily unavailable|jetstream not (enabled|available)|disconnect/i.test(
        e.message,
      )
    )
      return true;
    e = e.cause;
  }
  return false;
}

/**
 * One line about a NATS failure a person can act on: a bare `timeout` or `no responders`
 * says what it likely means; anything else is described as it is.
 *
 * @example
 * process.stderr.write(`hitl: ${describeNatsError(err)}\n`);
 */
export function describeNatsError(err: unknown): string {
  const message = describeError(err);
  if (!isTransientNatsError(err)) return message;
  if (/no responders|not enabled|unavailable/i.test(message)) {
    return `JetStream did not answer (${message}): a JetStream leader is being elected, or JetStream is not enabled on the server NATS_URL names`;
  }
  return `NATS did not answer in time (${message}): a JetStream leader is being elected, or no server is reachable at NATS_URL`;
}

/**
 * Tracks one outage of NATS as seen by a process: the first failure is logged, the rest are
 * counted, and the recovery is logged once with how long it took and how many retries it cost.
 */
export class Outage {
  private since: number | undefined;
  private retries = 0;

  /** `onOutage`: called once as each outage starts (a metric, say). */
  constructor(
    private readonly log: Logger,
    private readonly onOutage?: () => void,
  ) {}

  /** True while requests fail. */
  get ongoing(): boolean {
    return this.since !== undefined;
  }

  failed(what: string, err: unknown): void {
    this.retries += 1;
    if (this.since !== undefined) return;
    this.since = Date.now();
    this.onOutage?.();
    this.log.warn('NATS unavailable, retrying', { during: what, reason: describeNatsError(err) });
  }

  recovered(): void {
    if (this.since === undefined) return;
    this.log.info('NATS available again', {
      afterMs: Date.now() - this.since,
      retries: this.retries,
    });
    this.since = undefined;
    this.retries = 0;
  }
}

/** How long a request is retried, and how the delay between tries grows. */
export interface RetryPolicy {
  /** Give up (rethrow the last error) once this long has passed since the first try. */
  budgetMs: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
}

/** Inside a step: long enough for a leader election (a few seconds), short of a stuck step. */
export const STEP_RETRY: RetryPolicy = { budgetMs: 20_000, firstDelayMs: 100, maxDelayMs: 2_000 };
/** At start-up: a worker started with its cluster waits for it rather than exit. */
export const STARTUP_RETRY: RetryPolicy = {
  budgetMs: 120_000,
  firstDelayMs: 250,
  maxDelayMs: 5_000,
};

/**
 * Runs `fn`, and again with a growing, jittered delay while it fails with a
 * {@link isTransientNatsError transient NATS error}, for at most `policy.budgetMs`. Any other
 * error is thrown at once.
 *
 * @example
 * const info = await withRetry('stream info', () => jsm.streams.info('HITL_EVENTS'), outage, STARTUP_RETRY);
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  outage: Outage,
  policy: RetryPolicy = STEP_RETRY,
): Promise<T> {
  const started = Date.now();
  let delay = policy.firstDelayMs ?? 100;
  for (;;) {
    try {
      const value = await fn();
      outage.recovered();
      return value;
    } catch (err) {
      if (!isTransientNatsError(err) || Date.now() - started + delay > policy.budgetMs) throw err;
      outage.failed(what, err);
      await new Promise((resolve) => setTimeout(resolve, delay * (0.5 + Math.random() / 2)));
      delay = Math.min(delay * 2, policy.maxDelayMs ?? 2_000);
    }
  }
}

/** The KV operations a step makes, each safe to try again (see {@link retryingKv}). */
const KV_RETRIED = new Set(['get', 'put', 'create', 'update', 'delete', 'purge', 'status']);

/**
 * `kv` with its reads and writes retried through an election ({@link withRetry}). A write that
 * timed out may have been stored: tried again, a compare-and-set then fails as a conflict (the
 * step is read afresh and recognised as applied) and a plain put writes the same value again.
 */
export function retryingKv(kv: KV, outage: Outage, policy: RetryPolicy = STEP_RETRY): KV {
  // One wrapper per method, made on first use: a step reads them many times.
  const wrapped = new Map<string | symbol, unknown>();
  return new Proxy(kv, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      const known = wrapped.get(prop);
      if (known !== undefined) return known;
      const fn = value as (...args: unknown[]) => Promise<unknown>;
      const made =
        typeof prop !== 'string' || !KV_RETRIED.has(prop)
          ? fn.bind(target)
          : (...args: unknown[]) =>
              withRetry(`kv ${prop}`, () => fn.apply(target, args), outage, policy);
      wrapped.set(prop, made);
      return made;
    },
  });
}

/**
 * `js` whose publishes that carry a `Nats-Msg-Id` are retried through an election: a copy that
 * was stored already is dropped by the stream as a duplicate. A publish without an id is sent
 * once, as nats.js does.
 */
export function retryingJetStream(
  js: JetStreamClient,
  outage: Outage,
  policy: RetryPolicy = STEP_RETRY,
): JetStreamClient {
  const publish = js.publish.bind(js);
  const retried = (...args: Parameters<JetStreamClient['publish']>) =>
    args[2]?.msgID === undefined
      ? publish(...args)
      : withRetry('publish', () => publish(...args), outage, policy);
  const bound = new Map<string | symbol, unknown>();
  return new Proxy(js, {
    get(target, prop, receiver) {
      if (prop === 'publish') return retried;
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      let fn = bound.get(prop);
      if (fn === undefined) {
        fn = (value as (...args: unknown[]) => unknown).bind(target);
        bound.set(prop, fn);
      }
      return fn;
    },
  });
}
