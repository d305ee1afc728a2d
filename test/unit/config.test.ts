import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/base/config.js';

describe('loadConfig', () => {
  it('defaults to a local NATS, the hitl prefix, refund and billing approvals, the mock model', () => {
    expect(loadConfig({})).toEqual({
      nats: { url: 'nats://127.0.0.1:4222' },
      prefix: 'hitl',
      approvalCategories: ['refund', 'billing'],
      model: { provider: 'mock' },
    });
  });

  it('defaults the provider to openai when OPENAI_API_KEY is set', () => {
    expect(loadConfig({ OPENAI_API_KEY: 'sk-test' }).model).toEqual({
      provider: 'openai',
      apiKey: 'sk-test',
    });
  });

  it('lets HITL_MODEL_PROVIDER=mock win over OPENAI_API_KEY', () => {
    expect(
      loadConfig({ OPENAI_API_KEY: 'sk-test', HITL_MODEL_PROVIDER: 'mock' }).model.provider,
    ).toBe('mock');
  });

  it('reads the OpenAI-compatible endpoint settings', () => {
    expect(
      loadConfig({
        HITL_MODEL_PROVIDER: 'openai',
        HITL_MODEL: 'llama3',
        OPENAI_BASE_URL: 'http://localhost:11434/v1',
      }).model,
    ).toEqual({ provider: 'openai', model: 'llama3', baseUrl: 'http://localhost:11434/v1' });
  });

  it('rejects an unknown provider, naming the allowed ones', () => {
    expect(() => loadConfig({ HITL_MODEL_PROVIDER: 'anthropic' })).toThrow(
      "HITL_MODEL_PROVIDER must be 'mock' or 'openai', got 'anthropic'",
    );
  });

  it('reads the NATS url and credentials', () => {
    expect(
      loadConfig({
        NATS_URL: 'nats://nats:4222',
        NATS_CREDS: '/etc/nats.creds',
        NATS_USER: 'u',
        NATS_PASS: 'p',
        NATS_TOKEN: 't',
      }).nats,
    ).toEqual({
      url: 'nats://nats:4222',
      credsFile: '/etc/nats.creds',
      user: 'u',
      pass: 'p',
      token: 't',
    });
  });

  it('reads HITL_STORAGE_FORMAT: 1 keeps plain JSON, 2 and unset leave the default (2), others are refused', () => {
    expect(loadConfig({ HITL_STORAGE_FORMAT: '1' }).storageFormat).toBe(1);
    expect(loadConfig({ HITL_STORAGE_FORMAT: '2' }).storageFormat).toBeUndefined();
    expect(loadConfig({}).storageFormat).toBeUndefined();
    expect(() => loadConfig({ HITL_STORAGE_FORMAT: 'zstd' })).toThrow(
      "HITL_STORAGE_FORMAT must be 1 (plain JSON) or 2 (compressed snapshots), got 'zstd'",
    );
  });

  it('reads HITL_PREFIX', () => {
    expect(loadConfig({ HITL_PREFIX: 'acme' }).prefix).toBe('acme');
  });

  it('parses HITL_APPROVAL_CATEGORIES as a trimmed comma-separated list', () => {
    expect(
      loadConfig({ HITL_APPROVAL_CATEGORIES: ' refund , technical,' }).approvalCategories,
    ).toEqual(['refund', 'technical']);
  });

  it('keeps the default approval categories when HITL_APPROVAL_CATEGORIES is blank', () => {
    expect(loadConfig({ HITL_APPROVAL_CATEGORIES: '  ' }).approvalCategories).toEqual([
      'refund',
      'billing',
    ]);
  });

  it('parses HITL_APPROVERS as a trimmed comma-separated list, unset when absent', () => {
    expect(loadConfig({ HITL_APPROVERS: 'ana, bo' }).approvers).toEqual(['ana', 'bo']);
    expect(loadConfig({})).not.toHaveProperty('approvers');
  });

  it('parses HITL_GATE_TIMEOUT_MS as milliseconds, unset when absent or blank', () => {
    expect(loadConfig({ HITL_GATE_TIMEOUT_MS: '60000' }).gateTimeoutMs).toBe(60_000);
    expect(loadConfig({})).not.toHaveProperty('gateTimeoutMs');
    expect(loadConfig({ HITL_GATE_TIMEOUT_MS: '' })).not.toHaveProperty('gateTimeoutMs');
  });

  it.each(['abc', '0', '-5', '1.5', '10s'])(
    "rejects HITL_GATE_TIMEOUT_MS='%s', quoting the value",
    (value) => {
      expect(() => loadConfig({ HITL_GATE_TIMEOUT_MS: value })).toThrow(
        `HITL_GATE_TIMEOUT_MS must be a positive integer of milliseconds, got '${value}'`,
      );
    },
  );

  it('reads HITL_LOCAL_DELIVERY, on unless turned off', () => {
    expect(loadConfig({}).localDelivery).toBeUndefined();
    expect(loadConfig({ HITL_LOCAL_DELIVERY: 'true' }).localDelivery).toBeUndefined();
    expect(loadConfig({ HITL_LOCAL_DELIVERY: 'false' }).localDelivery).toBe(false);
    expect(() => loadConfig({ HITL_LOCAL_DELIVERY: 'sometimes' })).toThrow(
      "HITL_LOCAL_DELIVERY must be true or false, got 'sometimes'",
    );
  });

  it('reads HITL_EVENTS_MAX_AGE_MS, no shorter than the duplicate window', () => {
    expect(loadConfig({}).streamLimits?.eventsMaxAgeMs).toBeUndefined();
    expect(loadConfig({ HITL_EVENTS_MAX_AGE_MS: '2592000000' }).streamLimits).toEqual({
      eventsMaxAgeMs: 2_592_000_000,
    });
    expect(() => loadConfig({ HITL_EVENTS_MAX_AGE_MS: '60000' })).toThrow(
      /^HITL_EVENTS_MAX_AGE_MS must be at least 600000 \(10 minutes, JetStream's duplicate window/,
    );
  });

  it('reads every stream age once, into streamLimits', () => {
    const config = loadConfig({
      HITL_TICKETS_MAX_AGE_MS: '700000',
      HITL_RESPONSES_MAX_AGE_MS: '800000',
      HITL_OUTBOUND_MAX_AGE_MS: '900000',
      HITL_DLQ_MAX_AGE_MS: '1000000',
      HITL_EVENTS_MAX_AGE_MS: '1100000',
    });
    expect(config.streamLimits).toEqual({
      ticketsMaxAgeMs: 700_000,
      responsesMaxAgeMs: 800_000,
      outboundMaxAgeMs: 900_000,
      dlqMaxAgeMs: 1_000_000,
      eventsMaxAgeMs: 1_100_000,
    });
    expect(Object.keys(config)).not.toContain('streamMaxAgeMs');
    expect(() => loadConfig({ HITL_OUTBOUND_MAX_AGE_MS: '599999' })).toThrow(
      /^HITL_OUTBOUND_MAX_AGE_MS must be at least 600000 \(10 minutes/,
    );
  });

  it('reads HITL_FINISHED_RETENTION_MS, unset by default', () => {
    expect(loadConfig({}).finishedRetentionMs).toBeUndefined();
    expect(loadConfig({ HITL_FINISHED_RETENTION_MS: '86400000' }).finishedRetentionMs).toBe(
      86_400_000,
    );
    expect(() => loadConfig({ HITL_FINISHED_RETENTION_MS: '-5' })).toThrow(
      "HITL_FINISHED_RETENTION_MS must be a positive integer of milliseconds, got '-5'",
    );
    expect(() => loadConfig({ HITL_FINISHED_RETENTION_MS: '300' })).toThrow(
      /^HITL_FINISHED_RETENTION_MS must be at least 600000 \(10 minutes, JetStream's duplicate window: a workflow started again under the same id/,
    );
  });
});
