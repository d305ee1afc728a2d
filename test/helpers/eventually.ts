import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Calls `fn` every `interval` ms until it returns without throwing (or rejecting) and resolves
 * with its value. A return of exactly `false` counts as "not yet" too, so a predicate works as
 * well as an `expect(…)`. On timeout (default 10 s) throws the last error, its message prefixed
 * with `opts.message` when given. Use it instead of fixed sleeps.
 *
 * @example
 * ```ts
 * const entry = await eventually(async () => {
 *   const e = await kv.get(key);
 *   expect(e?.string()).toBe('done');
 *   return e;
 * }, { timeout: 5_000, message: 'snapshot never reached done' });
 * ```
 */
export async function eventually<T>(
  fn: () => T | Promise<T>,
  opts: { timeout?: number; interval?: number; message?: string } = {},
): Promise<T> {
  const timeout = opts.timeout ?? 10_000;
  const interval = opts.interval ?? 20;
  const deadline = Date.now() + timeout;
  for (;;) {
    let lastError: unknown;
    try {
      const value = await fn();
      if (value !== false) return value;
      lastError = new Error('returned false');
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) throw timeoutError(lastError, timeout, opts.message);
    await sleep(interval);
  }
}

function timeoutError(lastError: unknown, timeout: number, message: string | undefined): Error {
  const prefix = `${message ?? 'condition not met'} (after ${timeout} ms)`;
  if (lastError instanceof Error) {
    // Keep the original error (an AssertionError carries expected/actual for vitest's diff).
    lastError.message = `${prefix}: ${lastError.message}`;
    return lastError;
  }
  return new Error(`${prefix}: ${String(lastError)}`, { cause: lastError });
}

/** A promise with its resolve and reject functions exposed: a latch for tests. */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

/**
 * Creates a {@link Deferred}.
 *
 * @example
 * ```ts
 * const seen = deferred<string>();
 * sub.callback = (_err, msg) => seen.resolve(msg.string());
 * expect(await seen.promise).toBe('hello');
 * ```
 */
export function deferred<T>(): Deferred<T> {
  let resolve!: Deferred<T>['resolve'];
  let reject!: Deferred<T>['reject'];
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
