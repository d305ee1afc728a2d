import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import {
  serverPerFile,
  storedEvents,
  types,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';

// A consumer may hand out again a response it had delivered and had acked without counting the
// delivery: on a NATS cluster, the new leader of the responses consumer after a node died may
// not have heard of deliveries and acks its dead predecessor had not yet replicated. Recreating
// the consumer does the same for every response stored, deterministically. A response applied
// already is recognised as such, however it comes back, and is neither applied again nor
// rejected.

const shared = serverPerFile();

/**
 * Runs workflow `id` to completion on a worker of its own, stops it, and deletes the responses
 * consumer, so that the next worker creates it again and it delivers the stored response once
 * more, with a delivery count of one. Returns the event types stored until then.
 */
async function answeredThenForgotten(
  t: ReturnType<typeof workflowScope>,
  id: string,
): Promise<string[]> {
  const first = await t.worker();
  const run = await t.client.start({ id, request: 'I want a refund' });
  expect(run.status).toBe('paused');
  const done = await t.client.resume(id, { resume: 'yes', reviewer: 'ana' });
  expect(done.status).toBe('completed');
  await workersIdle(shared.nc, t.subjects);
  await first.stop();
  const before = types(await storedEvents(shared.nc, t.subjects, id));
  const jsm = await jetstreamManager(shared.nc);
  await jsm.consumers.delete(t.subjects.streams.responses, t.subjects.consumer('responses'));
  return before;
}

describe('a response delivered again as if for the first time', () => {
  it('is recognised as applied: no rejection, nothing published twice', async () => {
    await using t = workflowScope(shared.server, 'again');
    const before = await answeredThenForgotten(t, 'again-1');
    await t.worker();
    await workersIdle(shared.nc, t.subjects);

    const after = types(await storedEvents(shared.nc, t.subjects, 'again-1'));
    expect(after).not.toContain('response_rejected');
    expect(after).toEqual(before);
  });

  it('is recognised by a worker that does not host the actor that applied it', async () => {
    await using t = workflowScope(shared.server, 'again-split');
    const before = await answeredThenForgotten(t, 'split-1');
    // Handed out again to a worker without the gate: it finds the gate among the kinds that
    // have a mailbox, and hands the response to it instead of rejecting it.
    await t.worker({ kinds: ['triage', 'specialist'] });
    await t.worker({ kinds: ['gate'], intake: null });
    await workersIdle(shared.nc, t.subjects);

    const after = types(await storedEvents(shared.nc, t.subjects, 'split-1'));
    expect(after).not.toContain('response_rejected');
    expect(after).toEqual(before);
  });
});
