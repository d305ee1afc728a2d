import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import { InterruptStore } from '../../src/stores/interruptStore.js';
import { outboxEffects, publishOutbox } from '../../src/runtime/outbox.js';
import { jetstream } from '@nats-io/jetstream';
import { runCli } from '../helpers/cli.js';
import { readStream, serverPerFile, workersIdle, workflowScope } from '../helpers/harness.js';

// Issue 10 item 8: answering names the question it answers. `hitl respond` names the interrupt
// pending when it runs (unless --interrupt names one), and the client does when asked, so a
// repeated command cannot answer the question asked after the first; and a step that stalled
// cannot put its answered interrupt back over a newer one.

const shared = serverPerFile();

describe('answering the pending question', () => {
  it('hitl respond names the interrupt pending when it runs', { timeout: 60_000 }, async () => {
    await using t = workflowScope(shared.server, 'rsp');
    await t.worker();
    const run = await t.client.start({ id: 'name-1', request: 'Something feels off' });
    if (run.status !== 'paused') throw new Error(`expected a pause, got ${run.status}`);
    const env = {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.config.prefix,
      HITL_MODEL_PROVIDER: 'mock',
    };
    const first = await runCli(['respond', 'name-1', 'refund', '--reviewer', 'ana'], env);
    expect(first.code).toBe(0);
    const stored = await readStream(shared.nc, t.subjects.streams.responses, t.subjects.respondAll);
    expect(stored.map((r) => r.data)).toEqual([
      expect.objectContaining({ answer: 'refund', interruptId: run.interrupt.interruptId }),
    ]);
  });

  it('the client names it when asked, so a repeated answer cannot answer the next question', async () => {
    await using t = workflowScope(shared.server, 'rsc');
    await t.worker();
    const run = await t.client.start({ id: 'name-2', request: 'Something feels off' });
    if (run.status !== 'paused') throw new Error(`expected a pause, got ${run.status}`);
    const answer = { answer: 'refund', reviewer: 'ana' };
    const first = await t.client.respond('name-2', answer, { namePending: true });
    expect(first.accepted).toBe(true);
    await workersIdle(shared.nc, t.subjects);
    // Now the approval waits. The same answer, named as the client saw the question then:
    const second = await t.client.respond('name-2', {
      ...answer,
      interruptId: run.interrupt.interruptId,
    });
    expect(second).toMatchObject({ accepted: false });
    const next = await t.client.interrupt('name-2');
    expect(next).toMatchObject({ type: 'approval' });
    // Named at the time it runs, an answer goes to the question pending then.
    const third = await t.client.respond(
      'name-2',
      { answer: 'yes', reviewer: 'bo' },
      { namePending: true },
    );
    expect(third.accepted).toBe(true);
    const stored = await readStream(shared.nc, t.subjects.streams.responses, t.subjects.respondAll);
    expect((stored.at(-1)?.data as { interruptId?: string }).interruptId).toBe(next?.interruptId);
  });

  it('a stalled step does not put its interrupt back over a newer one', async () => {
    await using t = workflowScope(shared.server, 'rss');
    await t.worker();
    const run = await t.client.start({ id: 'stall-1', request: 'Please refund my order' });
    if (run.status !== 'paused') throw new Error(`expected a pause, got ${run.status}`);
    // The gate's pause step, as a worker that stalled before writing its record would carry it
    // out late, after a newer question was asked.
    const gate = (await t.client.snapshots('stall-1')).find((s) => s.envelope.kind === 'gate');
    const outbox = gate?.envelope.outboxes.at(-1);
    if (!gate || !outbox) throw new Error('no gate outbox');
    const kv = await new Kvm(shared.nc).open(t.subjects.buckets.interrupts);
    const interrupts = new InterruptStore(kv, t.subjects);
    const newer = { ...run.interrupt, interruptId: 'gate-9', question: 'a newer question' };
    await kv.put(t.subjects.interruptKey('stall-1'), JSON.stringify(newer));

    const effects = outboxEffects(outbox, gate.envelope, t.subjects);
    await publishOutbox(jetstream(shared.nc), interrupts, { ...effects, publishes: [] });
    expect(await interrupts.get('stall-1')).toEqual(newer);
  });
});
