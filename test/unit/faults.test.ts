import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/base/config.js';
import { parseFault } from '../../src/runtime/faults.js';

describe('HITL_FAULT', () => {
  it('reads a point, with or without an actor kind', () => {
    expect(parseFault(undefined)).toBeUndefined();
    expect(parseFault(' ')).toBeUndefined();
    expect(parseFault('before-kv-write')).toEqual({ point: 'before-kv-write', kind: undefined });
    expect(parseFault('after-publish:gate')).toEqual({ point: 'after-publish', kind: 'gate' });
  });

  it('refuses an unknown point, naming the ones there are', () => {
    expect(() => parseFault('after-ack:gate')).toThrow(
      "HITL_FAULT must be '<point>' or '<point>:<actor kind>' with point one of before-kv-write, after-kv-write, after-publish, got 'after-ack:gate'",
    );
    expect(() => parseFault('after-publish:gate:2')).toThrow(/HITL_FAULT must be/);
  });
});

describe('delivery settings', () => {
  it('reads the ack wait, delivery limit, backoff and drain bound', () => {
    const config = loadConfig({
      HITL_ACK_WAIT_MS: '1000',
      HITL_MAX_DELIVER: '3',
      HITL_RETRY_BACKOFF_MS: '10',
      HITL_DRAIN_TIMEOUT_MS: '500',
    });
    expect(config).toMatchObject({
      ackWaitMs: 1000,
      maxDeliver: 3,
      retryBackoffMs: 10,
      drainTimeoutMs: 500,
    });
    expect(loadConfig({})).not.toHaveProperty('maxDeliver');
  });

  it('refuses a delivery limit that is not a positive integer', () => {
    expect(() => loadConfig({ HITL_MAX_DELIVER: '0' })).toThrow(
      "HITL_MAX_DELIVER must be a positive integer of deliveries, got '0'",
    );
  });
});
