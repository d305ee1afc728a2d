/**
 * How a model call is retried: capped exponential backoff with jitter, or the wait the server
 * asked for (`retry-after-ms` / `retry-after`), for at most `maxRetries` retries after the first
 * try. Pure and clock-free (sleep and randomness are injected) so the policy is testable.
 */
export interface RetryPolicy {
  /** Retries after the first try; 0 means one try only. */
  maxRetries: number;
  /** Ceiling of the delay before the first retry; it doubles per retry. */
  baseDelayMs: number;
  /** No backoff delay is longer than this. */
  maxDelayMs: number;
  /** A server's `retry-after` is honoured up to this long. */
  maxRetryAfterMs: number;
}

/** The retry policy of model calls when the configuration sets none. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  baseDelayMs: 500,
  maxDelayMs: 8_000,
  maxRetryAfterMs: 60_000,
};

/** What to do about a failed try: give up, or try again (after the server's wait, if it named one). */
export type FailureVerdict = { retry: false } | { retry: true; afterMs?: number };

/**
 * A call that failed for good: its last error (also the `cause`), how many tries it took, and
 * whether it stopped because the budget ran out (`exhausted`) or because no retry could help.
 */
export class GaveUpError extends Error {
  override name = 'GaveUpError';
  constructor(
    readonly lastError: unknown,
    readonly attempts: number,
    readonly exhausted: boolean,
  ) {
    super(lastError instanceof Error ? lastError.message : String(lastError), {
      cause: lastError,
    });
  }
}

/**
 * The backoff before retry number `retry` (1-based): the ceiling `baseDelayMs * 2^(retry-1)`,
 * capped at `maxDelayMs`, of which half is fixed and half random ("equal jitter"), so workers
 * that failed together do not retry together, and none retries at once.
 *
 * @example
 * backoffDelayMs(3, { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100 }, () => 1); // 400
 */
export function backoffDelayMs(
  retry: number,
  policy: RetryPolicy,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/**
 * The wait a server asks for before trying again, in milliseconds: `retry-after-ms` (OpenAI's
 * own), else `retry-after` as seconds or an HTTP date. Undefined when neither is usable.
 *
 * @example
 * retryAfterMs(new Headers({ 'retry-after': '2' })); // 2000
 */
export function retryAfterMs(
  headers: { get(name: string): string | null } | undefined,
  now: number = Date.now(),
): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const n = Number(ms);
    if (Number.isFinite(n) && n >= 0) return Math.round(n);
  }
  const after = headers.get('retry-after');
  if (after === null || after.trim() === '') return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const date = Date.parse(after);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** How {@link withRetries} retries: the policy, the judge of each failure, and hooks for tests. */
export interface RetryOptions {
  policy: RetryPolicy;
  /** Decides, per failed try, whether another try may help. */
  judge: (error: unknown) => FailureVerdict;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Called before each retry's wait; for logs and tests. */
  onRetry?: (info: { retry: number; delayMs: number; error: unknown }) => void;
}

/**
 * Runs `attempt` until it succeeds, the judge says a retry cannot help, or the budget is spent.
 * Resolves with the value and the number of tries; rejects with a {@link GaveUpError}.
 *
 * @example
 * const { value, attempts } = await withRetries(() => fetchIt(), { policy, judge: () => ({ retry: true }) });
 */
export async function withRetries<T>(
  attempt: (tryNumber: number) => Promise<T>,
  options: RetryOptions,
): Promise<{ value: T; attempts: number }> {
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const random = options.random ?? Math.random;
  for (let tryNumber = 1; ; tryNumber++) {
    try {
      return { value: await attempt(tryNumber), attempts: tryNumber };
    } catch (error) {
      const verdict = options.judge(error);
      if (!verdict.retry) throw new GaveUpError(error, tryNumber, false);
      if (tryNumber > options.policy.maxRetries) throw new GaveUpError(error, tryNumber, true);
      const delayMs =
        verdict.afterMs !== undefined
          ? Math.min(verdict.afterMs, options.policy.maxRetryAfterMs)
          : backoffDelayMs(tryNumber, options.policy, random);
      options.onRetry?.({ retry: tryNumber, delayMs, error });
      await sleep(delayMs);
    }
  }
}
