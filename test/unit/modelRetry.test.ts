import { describe, expect, it } from 'vitest';
import {
  backoffDelayMs,
  DEFAULT_RETRY_POLICY,
  GaveUpError,
  retryAfterMs,
  withRetries,
  type FailureVerdict,
  type RetryPolicy,
} from '../../actors/modelRetry.js';

const policy: RetryPolicy = {
  maxRetries: 3,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  maxRetryAfterMs: 5_000,
};

/** An attempt function that fails with the given errors in turn, then answers 'ok'. */
function failing(...errors: Error[]) {
  const calls: number[] = [];
  return {
    calls,
    attempt: (n: number) => {
      calls.push(n);
      const next = errors.shift();
      return next === undefined ? Promise.resolve('ok') : Promise.reject(next);
    },
  };
}

/** A sleep that records its waits instead of waiting. */
function recordingSleep() {
  const waits: number[] = [];
  return { waits, sleep: (ms: number) => (waits.push(ms), Promise.resolve()) };
}

const transient = (): FailureVerdict => ({ retry: true });

describe('backoffDelayMs: capped exponential backoff with equal jitter', () => {
  it('doubles the ceiling per retry, up to the cap', () => {
    const ceilings = [1, 2, 3, 4, 5, 6].map((r) => backoffDelayMs(r, policy, () => 1));
    expect(ceilings).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('never waits less than half the ceiling, nor more than it', () => {
    expect(backoffDelayMs(3, policy, () => 0)).toBe(200);
    expect(backoffDelayMs(3, policy, () => 0.5)).toBe(300);
    expect(backoffDelayMs(3, policy, () => 0.999_999)).toBe(400);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelayMs(2, policy);
      expect(d).toBeGreaterThanOrEqual(100);
      expect(d).toBeLessThanOrEqual(200);
    }
  });

  it('defaults to 0.5 s doubling to 8 s, three retries, retry-after honoured up to a minute', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({
      maxRetries: 3,
      baseDelayMs: 500,
      maxDelayMs: 8_000,
      maxRetryAfterMs: 60_000,
    });
  });
});

describe('retryAfterMs: the wait a server asks for', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');

  it.each<[string, Record<string, string>, number | undefined]>([
    ['retry-after in seconds', { 'retry-after': '2' }, 2_000],
    ['fractional seconds', { 'retry-after': '0.5' }, 500],
    ['retry-after-ms, preferred', { 'retry-after-ms': '250', 'retry-after': '9' }, 250],
    ['an HTTP date', { 'retry-after': 'Sun, 01 Jun 2025 12:00:03 GMT' }, 3_000],
    ['an HTTP date in the past', { 'retry-after': 'Sun, 01 Jun 2025 11:00:00 GMT' }, 0],
    ['garbage', { 'retry-after': 'soon' }, undefined],
    ['a negative number', { 'retry-after': '-1' }, undefined],
    ['no header', {}, undefined],
  ])('reads %s', (_label, headers, expected) => {
    expect(retryAfterMs(new Headers(headers), now)).toBe(expected);
  });

  it('reads nothing from no headers at all (a connection error has none)', () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
  });
});

describe('withRetries', () => {
  it('returns the first success with the number of tries', async () => {
    const { attempt, calls } = failing(new Error('500'), new Error('503'));
    const { sleep, waits } = recordingSleep();

    const result = await withRetries(attempt, { policy, judge: transient, sleep, random: () => 1 });

    expect(result).toEqual({ value: 'ok', attempts: 3 });
    expect(calls).toEqual([1, 2, 3]);
    expect(waits).toEqual([100, 200]);
  });

  it('gives up after maxRetries retries with the last error, exhausted', async () => {
    const last = new Error('still 503');
    const { attempt, calls } = failing(new Error('a'), new Error('b'), new Error('c'), last);
    const { sleep, waits } = recordingSleep();

    const err = await withRetries(attempt, {
      policy,
      judge: transient,
      sleep,
      random: () => 0,
    }).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(GaveUpError);
    expect(err).toMatchObject({
      message: 'still 503',
      attempts: 4,
      exhausted: true,
      lastError: last,
    });
    expect((err as Error).cause).toBe(last);
    expect(calls).toEqual([1, 2, 3, 4]);
    expect(waits).toEqual([50, 100, 200]);
  });

  it('tries once only with a budget of zero retries', async () => {
    const { attempt, calls } = failing(new Error('down'));
    const { sleep } = recordingSleep();

    await expect(
      withRetries(attempt, { policy: { ...policy, maxRetries: 0 }, judge: transient, sleep }),
    ).rejects.toMatchObject({ attempts: 1, exhausted: true });
    expect(calls).toEqual([1]);
  });

  it('stops at once when the judge says a retry cannot help', async () => {
    const { attempt, calls } = failing(new Error('401'));
    const { sleep, waits } = recordingSleep();

    await expect(
      withRetries(attempt, { policy, judge: () => ({ retry: false }), sleep }),
    ).rejects.toMatchObject({ message: '401', attempts: 1, exhausted: false });
    expect(calls).toEqual([1]);
    expect(waits).toEqual([]);
  });

  it('waits as long as the server asked instead of backing off, up to maxRetryAfterMs', async () => {
    const { attempt } = failing(new Error('429'), new Error('429'));
    const { sleep, waits } = recordingSleep();
    const asks = [1_500, 60_000];

    await withRetries(attempt, {
      policy,
      judge: () => ({ retry: true, afterMs: asks.shift() ?? 0 }),
      sleep,
    });

    expect(waits).toEqual([1_500, 5_000]);
  });

  it('tells onRetry about each retry before waiting', async () => {
    const boom = new Error('boom');
    const { attempt } = failing(boom);
    const seen: unknown[] = [];

    await withRetries(attempt, {
      policy,
      judge: transient,
      sleep: () => Promise.resolve(),
      random: () => 1,
      onRetry: (info) => seen.push(info),
    });

    expect(seen).toEqual([{ retry: 1, delayMs: 100, error: boom }]);
  });
});
