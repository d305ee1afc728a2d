import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import {
  countTypes,
  publishRaw,
  serverPerFile,
  storedEvents,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';
import { tapSubjects } from '../helpers/tap.js';

// Contract v2, "Tickets": a ticket re-sent for a workflow that exists (a service retrying its
// publish: the same `id`, a new Nats-Msg-Id or none) is acknowledged and changes nothing;
// nothing is published again, so no tap, bot or notifier sees anything twice. Only a
// redelivery of the very message that was applied re-publishes (see redeliveryCrash.test.ts).

const shared = serverPerFile();

describe('a ticket re-sent for a workflow that exists', () => {
  it.each([
    { when: 'it waits at the approval gate', request: 'Please refund my order', answer: null },
    { when: 'it waits at triage', request: 'Something feels off', answer: null },
    { when: 'it completed without a human', request: 'The login is broken', answer: null },
    { when: 'it completed after an approval', request: 'Please refund my order', answer: 'yes' },
  ])(
    'is acknowledged and publishes nothing when $when',
    { timeout: 60_000 },
    async ({ request, answer }) => {
      await using t = workflowScope(shared.server, 'rsd');
      await t.worker();
      const tap = await tapSubjects(shared.nc, `${t.subjects.prefix}.>`);
      try {
        const id = 'resent-1';
        const run = await t.client.start({ id, request });
        if (answer !== null) {
          expect(run.status).toBe('paused');
          await t.client.resume(id, { resume: answer, reviewer: 'ana' });
        }
        await workersIdle(shared.nc, t.subjects);
        await tap.flush();
        const before = tap.seen.length;
        const pendingBefore = await t.client.pending();

        // A service retrying its publish: a new Nats-Msg-Id, then none at all.
        const copies = [
          await publishRaw(shared.nc, t.subjects.ticketsNew, { id, request }, { msgId: 'retry-a' }),
          await publishRaw(shared.nc, t.subjects.ticketsNew, { id, request }),
        ];
        expect(copies.map((c) => c.duplicate)).toEqual([false, false]);
        await workersIdle(shared.nc, t.subjects);
        await tap.flush();

        // Only the two copies themselves went over the wire: no event, no question, no reply.
        const after = tap.seen.slice(before);
        expect(after.map((m) => m.subject)).toEqual([t.subjects.ticketsNew, t.subjects.ticketsNew]);
        expect(tap.repeated((m) => m.subject !== t.subjects.ticketsNew)).toEqual({});
        expect(await t.client.pending()).toEqual(pendingBefore);
        const counts = countTypes(await storedEvents(shared.nc, t.subjects, id));
        expect(counts.received).toBe(1);
        expect(counts.completed ?? 0).toBe(answer !== null || run.status === 'completed' ? 1 : 0);
      } finally {
        tap.close();
      }
    },
  );

  it("changes nothing once the ticket id is no longer among the actor's applied ids", async () => {
    await using t = workflowScope(shared.server, 'rso');
    await t.worker();
    const id = 'resent-2';
    const run = await t.client.start({ id, request: 'Something feels off' });
    expect(run.status).toBe('paused');
    await workersIdle(shared.nc, t.subjects);
    // An actor that took many steps since forgets its oldest applied ids: the ticket's is gone.
    const triage = (await t.client.snapshots(id)).find((s) => s.envelope.kind === 'triage');
    if (!triage) throw new Error('no triage snapshot');
    const forgot = { ...triage.envelope, applied: [], appliedAt: [], outboxes: [] };
    const kv = await new Kvm(shared.nc).open(t.subjects.buckets.snapshots);
    await kv.update(t.subjects.snapshotKey('triage', id), JSON.stringify(forgot), triage.revision);
    const tap = await tapSubjects(shared.nc, `${t.subjects.prefix}.>`);
    try {
      await publishRaw(shared.nc, t.subjects.ticketsNew, { id, request: 'Something else' });
      await workersIdle(shared.nc, t.subjects);
      await tap.flush();
      expect(tap.seen.map((m) => m.subject)).toEqual([t.subjects.ticketsNew]);
      const after = (await t.client.snapshots(id)).find((s) => s.envelope.kind === 'triage');
      expect(after?.envelope.steps).toBe(triage.envelope.steps);
      expect(after?.envelope.applied).toEqual([]);
    } finally {
      tap.close();
    }
  });
});
