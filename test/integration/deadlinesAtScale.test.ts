import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import type { InterruptRecord, TimerMessage } from '../../src/base/schemas.js';
import { eventually } from '../helpers/eventually.js';
import {
  mapLimit,
  publishRaw,
  serverPerFile,
  storedEvents,
  types,
  workflowScope,
} from '../helpers/harness.js';

// Deadlines do not queue behind each other (a waiting deadline holds no ack-pending slot of the
// timers consumer), and a response forwarded to another worker's mailbox before the deadline
// wins against the expiry.

const shared = serverPerFile();

const WEEK_MS = 7 * 24 * 3_600_000;
const encoder = new TextEncoder();

describe('deadlines at scale', () => {
  it('fires a 3 s deadline at about 3 s while 10,200 week-long deadlines wait', async () => {
    await using t = workflowScope(shared.server, 'many', { HITL_GATE_TIMEOUT_MS: String(WEEK_MS) });
    const first = await t.worker();
    // 10,200 waiting deadlines as the runtime stores them: the pending interrupt record in KV
    // and its timer message on the timers stream (written in bulk rather than by 10,200 runs).
    const kv = await new Kvm(shared.nc).open(t.subjects.buckets.interrupts);
    const js = jetstream(shared.nc);
    const expiresAt = new Date(Date.now() + WEEK_MS).toISOString();
    const ids = Array.from({ length: 10_200 }, (_, i) => `wait-${i}`);
    await mapLimit(ids, 256, async (wf) => {
      const record: InterruptRecord = {
        workflowId: wf,
        interruptId: 'gate-1',
        actor: 'gate',
        type: 'approval',
        question: 'Send this reply?',
        options: ['yes', 'no'],
        createdAt: new Date().toISOString(),
        expiresAt,
      };
      await kv.put(t.subjects.interruptKey(wf), encoder.encode(JSON.stringify(record)));
      const timer: TimerMessage = {
        workflowId: wf,
        actor: 'gate',
        interruptId: 'gate-1',
        expiresAt,
      };
      await js.publish(t.subjects.timer(wf), encoder.encode(JSON.stringify(timer)), {
        msgID: `${wf}.timer.gate-1`,
      });
    });
    await eventually(() => first.deadlinesWaiting === 10_200, { timeout: 30_000 });
    // Their timer messages are handed back to the scheduler, not held until they are due.
    const jsm = await jetstreamManager(shared.nc);
    await eventually(
      async () => {
        const info = await jsm.consumers.info(
          t.subjects.streams.timers,
          t.subjects.consumer('timers'),
        );
        expect(info.num_pending + info.num_ack_pending).toBe(0);
      },
      { timeout: 60_000 },
    );

    const run = await t.client.start({ id: 'soon', request: 'refund please', timeoutMs: 3_000 });
    if (run.status !== 'paused') throw new Error('expected a pause');
    const events = await eventually(
      async () => {
        const stored = await storedEvents(shared.nc, t.subjects, 'soon');
        expect(types(stored).slice(-2)).toEqual(['expired', 'completed']);
        return stored;
      },
      { timeout: 20_000 },
    );
    const paused = Date.parse(run.interrupt.createdAt);
    const expired = Date.parse(events.at(-2)?.at ?? '');
    expect(expired - paused).toBeGreaterThanOrEqual(3_000);
    expect(expired - paused).toBeLessThan(6_000);
    // An interrupt that ended costs nothing more: its deadline is no longer waited for.
    await eventually(() => first.deadlinesWaiting === 10_200);
  }, 120_000);
});

describe('a response forwarded to another worker', () => {
  it('is applied before the expiry when it was stored before the deadline', async () => {
    await using t = workflowScope(shared.server, 'fwd');
    const all = await t.worker();
    const run = await t.client.start({ id: 'fwd-1', request: 'refund please', timeoutMs: 4_000 });
    if (run.status !== 'paused') throw new Error('expected a pause');
    await all.stop();
    // A worker that does not host the gate takes the response and forwards it to the mailbox.
    const forwarder = await t.worker({ kinds: ['triage', 'specialist'] });
    const jsm = await jetstreamManager(shared.nc);
    const gateConsumer = await jetstream(shared.nc).consumers.get(
      t.subjects.streams.mailbox,
      t.subjects.consumer('actor-gate'),
    );
    await publishRaw(shared.nc, t.subjects.respond('fwd-1'), { answer: 'yes', reviewer: 'ana' });
    // The gate's worker is slow to apply it: the test holds the forwarded message unacked.
    const held = await eventually(async () => {
      const batch = await gateConsumer.fetch({ max_messages: 1, expires: 1_000 });
      for await (const m of batch) return m;
      return false;
    });
    await forwarder.stop();
    await eventually(() => Date.now() > Date.parse(run.interrupt.expiresAt ?? '') + 50, {
      interval: 50,
    });
    // A worker hosting the gate meets the due deadline while the response waits in the mailbox.
    await t.worker({ kinds: ['gate'] });
    await eventually(async () => {
      const info = await jsm.consumers.info(
        t.subjects.streams.timers,
        t.subjects.consumer('timers'),
      );
      const expiredAlready = types(await storedEvents(shared.nc, t.subjects, 'fwd-1')).includes(
        'expired',
      );
      expect(expiredAlready || info.num_redelivered > 0).toBe(true);
    });
    if (held === false) throw new Error('unreachable');
    held.nak();
    const events = await eventually(async () => {
      const stored = await storedEvents(shared.nc, t.subjects, 'fwd-1');
      expect(types(stored)).toContain('completed');
      return stored;
    });
    expect(types(events)).not.toContain('expired');
    expect(events.at(-1)?.data).toMatchObject({ outcome: 'sent' });
  });
});
