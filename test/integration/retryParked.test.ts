import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { FLAKY_REASON, flaky } from '../helpers/flakyActor.js';
import { serverPerFile, storedEvents, types, workflowScope } from '../helpers/harness.js';

// Issue 10 item 10: `hitl retry` and `hitl parked` agree. Both find a parked step from the
// parked mark in the actor's snapshot, not from the event log, which HITL_EVENTS_MAX_AGE_MS
// may have trimmed.

const shared = serverPerFile();

describe('hitl retry', () => {
  it('finds the parked step from the snapshot after the event log was purged', async () => {
    await using t = workflowScope(shared.server, 'rtp');
    await t.worker({ definitions: [flaky], intake: null });
    const run = await t.client.startActor('flaky', {}, { workflowId: 'park-1' });
    expect(run).toMatchObject({ status: 'parked', actor: 'flaky', step: 'flaky' });
    const listed = await t.client.parked();
    expect(listed).toMatchObject([{ workflowId: 'park-1', actor: 'flaky' }]);

    // The event log is gone (as after HITL_EVENTS_MAX_AGE_MS): only the snapshot knows.
    const jsm = await jetstreamManager(shared.nc);
    await jsm.streams.purge(t.subjects.streams.events);
    expect(await storedEvents(shared.nc, t.subjects, 'park-1')).toEqual([]);

    const retried = await t.client.retry('park-1', { wait: true });
    expect(retried).toMatchObject({
      duplicate: false,
      parked: { actor: 'flaky', step: 'flaky', reason: FLAKY_REASON, at: listed[0]?.at },
      run: { status: 'completed', outcome: 'sent' },
    });
    await eventually(async () =>
      expect(types(await storedEvents(shared.nc, t.subjects, 'park-1'))).toEqual(['completed']),
    );
    expect(await t.client.parked()).toEqual([]);
    await expect(t.client.retry('park-1')).rejects.toThrow(/is not parked/);
  });
});
