import { describe, expect, it } from 'vitest';
import { mockModel } from '../../actors/mockModel.js';
import { modelFromConfig } from '../../actors/support.js';
import { loadConfig } from '../../src/base/config.js';

describe('loadConfig: model settings', () => {
  it('reads per-role models, JSON mode, timeout and retry budget', () => {
    expect(
      loadConfig({
        HITL_MODEL_PROVIDER: 'openai',
        OPENAI_BASE_URL: 'http://vllm:8000/v1',
        HITL_MODEL: 'base',
        HITL_TRIAGE_MODEL: 'small',
        HITL_DRAFT_MODEL: 'large',
        HITL_MODEL_JSON_MODE: 'json_object',
        HITL_MODEL_TIMEOUT_MS: '15000',
        HITL_MODEL_MAX_RETRIES: '0',
        HITL_MODEL_RETRY_BASE_MS: '250',
        HITL_MODEL_RETRY_MAX_MS: '4000',
      }).model,
    ).toEqual({
      provider: 'openai',
      baseUrl: 'http://vllm:8000/v1',
      model: 'base',
      triageModel: 'small',
      draftModel: 'large',
      jsonMode: 'json_object',
      timeoutMs: 15_000,
      maxRetries: 0,
      retryBaseMs: 250,
      retryMaxMs: 4_000,
    });
  });

  it('leaves every model setting unset when absent or blank', () => {
    expect(
      loadConfig({ HITL_MODEL_JSON_MODE: '', HITL_MODEL_TIMEOUT_MS: ' ', HITL_TRIAGE_MODEL: '' })
        .model,
    ).toEqual({ provider: 'mock' });
  });

  it.each(['json_schema', 'json_object', 'none'])('accepts HITL_MODEL_JSON_MODE=%s', (mode) => {
    expect(loadConfig({ HITL_MODEL_JSON_MODE: mode }).model.jsonMode).toBe(mode);
  });

  it('rejects an unknown JSON mode, naming the allowed ones', () => {
    expect(() => loadConfig({ HITL_MODEL_JSON_MODE: 'json' })).toThrow(
      "HITL_MODEL_JSON_MODE must be one of json_schema, json_object, none, got 'json'",
    );
  });

  it.each<[string, string, string]>([
    ['HITL_MODEL_TIMEOUT_MS', '0', 'must be a positive integer of milliseconds'],
    ['HITL_MODEL_TIMEOUT_MS', '30s', 'must be a positive integer of milliseconds'],
    ['HITL_MODEL_MAX_RETRIES', '-1', 'must be a whole number (0 or more)'],
    ['HITL_MODEL_MAX_RETRIES', '2.5', 'must be a whole number (0 or more)'],
    ['HITL_MODEL_RETRY_BASE_MS', 'fast', 'must be a positive integer of milliseconds'],
    ['HITL_MODEL_RETRY_MAX_MS', '0', 'must be a positive integer of milliseconds'],
  ])('rejects %s=%s, quoting the value', (name, value, rule) => {
    expect(() => loadConfig({ [name]: value })).toThrow(`${name} ${rule}, got '${value}'`);
  });
});

describe('modelFromConfig', () => {
  it('is the mock by default', () => {
    expect(modelFromConfig(loadConfig({})).name).toBe(mockModel().name);
  });

  it('names the per-role models of an OpenAI-compatible endpoint', () => {
    const config = loadConfig({
      HITL_MODEL_PROVIDER: 'openai',
      OPENAI_BASE_URL: 'http://localhost:11434/v1',
      HITL_TRIAGE_MODEL: 'llama3.2',
      HITL_DRAFT_MODEL: 'llama3.3',
    });
    expect(modelFromConfig(config).name).toBe('openai:llama3.2+llama3.3');
    expect(modelFromConfig(loadConfig({ OPENAI_API_KEY: 'sk-x' })).name).toBe(
      'openai:gpt-4.1-mini',
    );
  });

  it('refuses the openai provider with neither a key nor an endpoint, saying what to set', () => {
    expect(() => modelFromConfig(loadConfig({ HITL_MODEL_PROVIDER: 'openai' }))).toThrow(
      'HITL_MODEL_PROVIDER=openai needs OPENAI_API_KEY, or OPENAI_BASE_URL for an endpoint that takes no key (Ollama, vLLM)',
    );
  });
});
