import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { serverPerFile, storedEvents, types, workflowScope } from '../helpers/harness.js';

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
