import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { describe, expect, it } from 'vitest';
import type { Logger } from '../../src/index.js';
import {
  describeNatsError,
  isTransientNatsError,
  Outage,
  withRetry,
} from '../../src/nats/retry.js';

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (msg: string) => {
    lines.push(`${level} ${msg}`);
  };
  return {
    lines,
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  } as Logger & { lines: string[] };
}

describe('transient NATS errors', () => {
  it('tells an election (timeout, no responders, jetstream not enabled, 503) from a real error', () => {
    expect(isTransientNatsError(new TimeoutError())).toBe(true);
    const noResponders = new RequestError('no responders', {
      cause: new NoRespondersError('$JS.API.INFO'),
    });
    expect(isTransientNatsError(noResponders)).toBe(true);
    expect(isTransientNatsError(new Error('jetstream is not enabled'))).toBe(true);
    expect(isTransientNatsError(Object.assign(new Error('unavailable'), { status: 503 }))).toBe(
      true,
    );
    expect(isTransientNatsError(new Error('wrong last sequence: 4'))).toBe(false);
    expect(isTransientNatsError(new Error("machine 'ledger' failed"))).toBe(false);
  });

  it('never describes a failure as a bare timeout', () => {
    const line = describeNatsError(new TimeoutError());
    expect(line).not.toBe('timeout');
    expect(line).toMatch(/leader is being elected.*NATS_URL/);
    expect(describeNatsError(new Error('stream not found'))).toBe('stream not found');
  });
});

describe('withRetry', () => {
  it('retries through an outage, logging it once and its end once', async () => {
    const logger = recordingLogger();
    const outage = new Outage(logger);
    let calls = 0;
    const value = await withRetry(
      'kv get',
      () => {
        calls += 1;
        return calls < 4 ? Promise.reject(new TimeoutError()) : Promise.resolve('ok');
      },
      outage,
      { budgetMs: 5_000, firstDelayMs: 1, maxDelayMs: 5 },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(4);
    expect(logger.lines).toEqual(['warn NATS unavailable, retrying', 'info NATS available again']);
    expect(outage.ongoing).toBe(false);
  });

  it('throws a non-transient error at once, and a transient one past its budget', async () => {
    const outage = new Outage(recordingLogger());
    let calls = 0;
    const conflict = withRetry(
      'kv update',
      () => {
        calls += 1;
        return Promise.reject(new Error('wrong last sequence: 4'));
      },
      outage,
    );
    await expect(conflict).rejects.toThrow('wrong last sequence');
    expect(calls).toBe(1);
    const started = Date.now();
    await expect(
      withRetry('publish', () => Promise.reject(new TimeoutError()), outage, {
        budgetMs: 50,
        firstDelayMs: 5,
        maxDelayMs: 10,
      }),
    ).rejects.toThrow('timeout');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
