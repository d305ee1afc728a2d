import { DiscardPolicy, jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { DeadLetterSchema } from '../../src/index.js';
import { DEFAULT_STREAM_LIMITS, RUNTIME_MAX_MSG_BYTES } from '../../src/nats/streamLimits.js';
import { eventually } from '../helpers/eventually.js';
import {
  publishRaw,
  readStream,
  serverPerFile,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';

// Limits an attacker meets (issue 11, item 4): small stream limits set through the variables,
// and what happens at each: intake refused when full and open again once old tickets age out,
// the runtime's own writes never refused, every stream bounded in message size.
const shared = serverPerFile();
const TEN_MINUTES = String(10 * 60_000);

async function streamInfo(stream: string) {
  return (await jetstreamManager(shared.nc)).streams.info(stream);
}

describe('stream limits', () => {
  it('refuses new tickets when the tickets stream is full, and takes them again once old ones are gone', async () => {
    await using t = workflowScope(shared.server, 'lim', { HITL_TICKETS_MAX_BYTES: '2000' });
    await t.worker();
    const info = await streamInfo(t.subjects.streams.tickets);
    expect(info.config).toMatchObject({
      discard: DiscardPolicy.New,
      max_bytes: 2000,
      max_age: DEFAULT_STREAM_LIMITS.ticketsMaxAgeMs * 1_000_000,
    });

    let refused: Error | undefined;
    const taken: string[] = [];
    for (let i = 0; i < 200 && !refused; i++) {
      try {
        taken.push((await t.client.submit({ request: `The app shows an error ${i}` })).workflowId);
      } catch (err) {
        refused = err as Error;
      }
    }
    expect(refused?.message).toBe(
      `the stream that stores '${t.subjects.ticketsNew}' is full (its size limit, e.g. HITL_TICKETS_MAX_BYTES): try again later, once older messages have aged out`,
    );
    expect(taken.length).toBeGreaterThan(2);
    // The workers keep going: every ticket taken in completes.
    await workersIdle(shared.nc, t.subjects, 30_000);
    // What max_age does in a week, a purge does now: the publisher's retry is taken.
    await (await jetstreamManager(shared.nc)).streams.purge(t.subjects.streams.tickets);
    const retried = await t.client.start({ request: 'The app shows an error again' });
    expect(retried).toMatchObject({ status: 'completed', outcome: 'sent' });
  }, 60_000);

  it('refuses responses when the responses stream is full', async () => {
    await using t = workflowScope(shared.server, 'lim', { HITL_RESPONSES_MAX_BYTES: '1000' });
    await t.worker();
    expect((await streamInfo(t.subjects.streams.responses)).config.discard).toBe(DiscardPolicy.New);
    const answer = { answer: 'yes', reviewer: 'ana', comment: 'x'.repeat(200) };
    let refused = '';
    for (let i = 0; i < 20 && !refused; i++) {
      try {
        await publishRaw(shared.nc, t.subjects.respond(`nobody-${i}`), answer);
      } catch (err) {
        refused = String(err);
      }
    }
    expect(refused).toMatch(/maximum bytes exceeded/);
  });

  it('never refuses a step its events: a full audit log drops its oldest events', async () => {
    await using t = workflowScope(shared.server, 'lim', {
      HITL_EVENTS_MAX_BYTES: '4096',
      HITL_EVENTS_MAX_AGE_MS: TEN_MINUTES,
    });
    await t.worker();
    for (let i = 0; i < 6; i++) {
      expect(await t.client.start({ request: `The login is broken ${i}` })).toMatchObject({
        status: 'completed',
        outcome: 'sent',
      });
    }
    const info = await streamInfo(t.subjects.streams.events);
    expect(info.config).toMatchObject({ discard: DiscardPolicy.Old, max_bytes: 4096 });
    expect(info.state.bytes).toBeLessThanOrEqual(4096);
    expect(info.state.first_seq).toBeGreaterThan(1);
  }, 60_000);

  it('keeps the newest dead letters within the DLQ limit, and the worker goes on', async () => {
    await using t = workflowScope(shared.server, 'lim', { HITL_DLQ_MAX_BYTES: '4096' });
    await t.worker();
    for (let i = 0; i < 30; i++) {
      await publishRaw(shared.nc, t.subjects.ticketsNew, `not json ${i} ${'x'.repeat(100)}`);
    }
    await workersIdle(shared.nc, t.subjects, 30_000);
    const info = await streamInfo(t.subjects.streams.dlq);
    expect(info.config).toMatchObject({ discard: DiscardPolicy.Old, max_bytes: 4096 });
    expect(info.state.bytes).toBeLessThanOrEqual(4096);
    const letters = await readStream(shared.nc, t.subjects.streams.dlq, t.subjects.dlq('tickets'));
    expect(DeadLetterSchema.parse(letters.at(-1)?.data).raw).toMatch(/^not json 29 /);
    expect(await t.client.start({ request: 'The app crashes' })).toMatchObject({
      status: 'completed',
    });
  }, 60_000);

  it('bounds every stream and bucket in message size; refuses at publish what is over', async () => {
    await using t = workflowScope(shared.server, 'lim', { HITL_MAX_PAYLOAD_BYTES: '1024' });
    await t.worker();
    const streams = [
      ...Object.values(t.subjects.streams),
      `KV_${t.subjects.buckets.snapshots}`,
      `KV_${t.subjects.buckets.interrupts}`,
    ];
    for (const stream of streams) {
      const size = (await streamInfo(stream)).config.max_msg_size;
      const inbound = [t.subjects.streams.tickets, t.subjects.streams.responses];
      expect(size, stream).toBe(inbound.includes(stream) ? 2048 : RUNTIME_MAX_MSG_BYTES);
    }
    await expect(
      publishRaw(shared.nc, t.subjects.ticketsNew, { request: 'r'.repeat(3000) }),
    ).rejects.toThrow(/message size exceeds maximum allowed/);
    // Between HITL_MAX_PAYLOAD_BYTES and the stream's limit: stored, then dead-lettered.
    await publishRaw(shared.nc, t.subjects.ticketsNew, { request: 'r'.repeat(1500) });
    await eventually(async () => {
      const letters = await readStream(
        shared.nc,
        t.subjects.streams.dlq,
        t.subjects.dlq('tickets'),
      );
      expect(DeadLetterSchema.parse(letters[0]?.data).reason).toMatch(
        /exceeds the limit of 1024 bytes \(HITL_MAX_PAYLOAD_BYTES\)/,
      );
    });
  });
});
