import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/index.js';
import { serverPerFile, startWorker, testConfig, workflowScope } from '../helpers/harness.js';
import { DEFAULT_STREAM_LIMITS } from '../../src/nats/streamLimits.js';

// What the workers make of the streams when they start: here, the event log's retention
// (HITL_EVENTS_MAX_AGE_MS), applied when the variable names it, and otherwise left as it is
// (contract v2, "Storage": what no variable names is the operator's).

const shared = serverPerFile();

const DAY_MS = 24 * 60 * 60_000;

describe('the event log retention', () => {
  it('is HITL_EVENTS_MAX_AGE_MS when set, and left as it is by a worker started without it', async () => {
    const jsm = await jetstreamManager(shared.nc);
    const maxAgeMs = async (stream: string) =>
      (await jsm.streams.info(stream)).config.max_age / 1_000_000;
    await using limited = workflowScope(shared.server, 'age', {
      HITL_EVENTS_MAX_AGE_MS: String(DAY_MS),
    });
    await limited.worker();
    const streams = limited.subjects.streams;
    expect(await maxAgeMs(streams.events)).toBe(DAY_MS);
    // Only the event log: responses keep their own limit, replies none.
    expect(await maxAgeMs(streams.responses)).toBe(DEFAULT_STREAM_LIMITS.responsesMaxAgeMs);
    expect(await maxAgeMs(streams.outbound)).toBe(0);

    // A worker of the same prefix started without the setting leaves the limit as it is.
    const unlimited = await startWorker(testConfig(shared.server, limited.config.prefix));
    try {
      expect(await maxAgeMs(streams.events)).toBe(DAY_MS);
    } finally {
      await unlimited.stop();
    }
  });
});

describe('the retention of the other streams', () => {
  it('is HITL_<STREAM>_MAX_AGE_MS for tickets, responses, outbound and dead letters, applied to existing streams', async () => {
    const jsm = await jetstreamManager(shared.nc);
    const maxAgeMs = async (stream: string) =>
      (await jsm.streams.info(stream)).config.max_age / 1_000_000;
    await using t = workflowScope(shared.server, 'ret', {
      HITL_TICKETS_MAX_AGE_MS: String(2 * DAY_MS),
      HITL_RESPONSES_MAX_AGE_MS: String(30 * DAY_MS),
      HITL_OUTBOUND_MAX_AGE_MS: String(7 * DAY_MS),
      HITL_DLQ_MAX_AGE_MS: String(14 * DAY_MS),
    });
    // The streams exist already, created by a worker that names no age.
    const plain = await startWorker(testConfig(shared.server, t.config.prefix));
    await plain.stop();
    const streams = t.subjects.streams;
    expect(await maxAgeMs(streams.outbound)).toBe(0);
    await t.worker();
    expect(await maxAgeMs(streams.tickets)).toBe(2 * DAY_MS);
    expect(await maxAgeMs(streams.responses)).toBe(30 * DAY_MS);
    expect(await maxAgeMs(streams.outbound)).toBe(7 * DAY_MS);
    expect(await maxAgeMs(streams.dlq)).toBe(14 * DAY_MS);
    expect(await maxAgeMs(streams.events)).toBe(0);
  });

  it('refuses a retention shorter than the duplicate window', () => {
    expect(() => loadConfig({ HITL_DLQ_MAX_AGE_MS: '60000' })).toThrow(
      "HITL_DLQ_MAX_AGE_MS must be at least 600000 (10 minutes, JetStream's duplicate window",
    );
  });
});
