import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { serverPerFile, startWorker, testConfig, workflowScope } from '../helpers/harness.js';
import { DEFAULT_STREAM_LIMITS } from '../../src/index.js';

// What the workers make of the streams when they start: here, the event log's retention
// (HITL_EVENTS_MAX_AGE_MS), set on every start, so that removing the setting lifts it.

const shared = serverPerFile();

const DAY_MS = 24 * 60 * 60_000;

describe('the event log retention', () => {
  it('is HITL_EVENTS_MAX_AGE_MS when set, and unlimited again when a worker starts without it', async () => {
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

    // A worker of the same prefix started without the setting lifts the limit.
    const unlimited = await startWorker(testConfig(shared.server, limited.config.prefix));
    try {
      expect(await maxAgeMs(streams.events)).toBe(0);
    } finally {
      await unlimited.stop();
    }
  });
});
