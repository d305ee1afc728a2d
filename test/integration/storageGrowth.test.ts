import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { listDeadLetters } from '../../src/client/deadLetters.js';
import { createLogger } from '../../src/index.js';
import { ensureTopology } from '../../src/nats/topology.js';
import {
  publishRaw,
  serverPerFile,
  storedEvents,
  types,
  workflowScope,
} from '../helpers/harness.js';

// Storage does not grow with finished workflows: a resolved interrupt leaves no delete marker
// in the interrupts bucket.

const shared = serverPerFile();

describe('the interrupts bucket', () => {
  it('keeps nothing of an interrupt once it is answered', async () => {
    await using t = workflowScope(shared.server, 'grow');
    await t.worker();
    const jsm = await jetstreamManager(shared.nc);
    const stored = async () =>
      (await jsm.streams.info(`KV_${t.subjects.buckets.interrupts}`)).state.messages;
    for (const wf of ['g-1', 'g-2', 'g-3']) {
      const run = await t.client.start({ id: wf, request: 'refund please' });
      if (run.status !== 'paused') throw new Error('expected a pause');
    }
    expect(await stored()).toBe(3);
    for (const wf of ['g-1', 'g-2', 'g-3']) {
      await t.client.resume(wf, { resume: 'yes', reviewer: 'ana' });
      await eventually(async () =>
        expect(types(await storedEvents(shared.nc, t.subjects, wf))).toContain('completed'),
      );
    }
    await eventually(async () => expect(await stored()).toBe(0));
    expect(await t.client.pending()).toEqual([]);
  });
});

describe('the interrupts bucket with history kept by an operator', () => {
  it('keeps nothing of an answered interrupt, and no older value comes back', async () => {
    await using t = workflowScope(shared.server, 'hist');
    const s = t.subjects;
    // An operator keeps three values per key: the delete marker then hides older values,
    // which must go with it.
    await ensureTopology(shared.nc, s, [], {}, {}, createLogger({}, 'silent'));
    const jsm = await jetstreamManager(shared.nc);
    const bucket = `KV_${s.buckets.interrupts}`;
    const config = (await jsm.streams.info(bucket)).config;
    await jsm.streams.update(bucket, { ...config, max_msgs_per_subject: 3 });
    await t.worker();
    const run = await t.client.start({ id: 'h-1', request: 'refund please' });
    if (run.status !== 'paused') throw new Error('expected a pause');
    await t.client.resume('h-1', { resume: 'yes', reviewer: 'ana' });
    await eventually(async () =>
      expect(types(await storedEvents(shared.nc, t.subjects, 'h-1'))).toContain('completed'),
    );
    await eventually(async () => expect((await jsm.streams.info(bucket)).state.messages).toBe(0));
    expect(await t.client.pending()).toEqual([]);
  });
});

describe('a snapshot over the size limit', () => {
  it('fails its step with the sizes, and is not written', async () => {
    await using t = workflowScope(shared.server, 'big');
    const s = t.subjects;
    // An operator caps the snapshots bucket's messages at 2,000 bytes.
    await ensureTopology(shared.nc, s, [], {}, {}, createLogger({}, 'silent'));
    const jsm = await jetstreamManager(shared.nc);
    const bucket = `KV_${s.buckets.snapshots}`;
    const config = (await jsm.streams.info(bucket)).config;
    await jsm.streams.update(bucket, { ...config, max_msg_size: 2_000 });
    await t.worker();
    await publishRaw(shared.nc, s.ticketsNew, {
      id: 'big-1',
      request: `refund ${'x'.repeat(3_000)}`,
    });
    const [letter] = await eventually(async () => {
      const letters = await listDeadLetters(shared.nc, s);
      expect(letters).toHaveLength(1);
      return letters;
    });
    expect(letter?.reason).toMatch(
      /^snapshot 'triage\.big-1' would be \d+ bytes, over the limit of 2000 bytes/,
    );
    expect((await jsm.streams.info(bucket)).state.messages).toBe(0);
  });
});
