import { RequestError } from '@nats-io/nats-core';
import { RequestOne } from '@nats-io/nats-core/internal';
import { jetstream } from '@nats-io/jetstream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectNats } from '../../src/index.js';
import type { NatsServerHandle } from '../../src/cli/natsServer.js';
import { startServer } from '../helpers/harness.js';

// The runtime replaces nats.js's request `cancel` with one that reuses its "cancelled" error,
// and flushes the socket once per event-loop turn (src/natsTuning.ts). What this shows: both
// are in place once connected, answered requests still resolve, failed or timed-out ones still
// reject with the error that says why, and messages queued from many turns and continuations
// all arrive, in order.

let server: NatsServerHandle;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.dispose();
});

describe('request tuning', () => {
  it('keeps requests resolving, failing and timing out as before', async () => {
    const nc = await connectNats({ url: server.url });
    try {
      expect((RequestOne.prototype as unknown as { hitlTuned?: boolean }).hitlTuned).toBe(true);
      const sub = nc.subscribe('echo', {
        callback: (_err, m) => {
          m.respond(m.data);
        },
      });
      const answers = await Promise.all(
        Array.from({ length: 50 }, (_, i) => nc.request('echo', String(i), { timeout: 2_000 })),
      );
      expect(answers.map((m) => m.string())).toEqual(Array.from({ length: 50 }, (_, i) => `${i}`));
      sub.unsubscribe();

      const noResponders = await nc.request('nobody.here', 'x').catch((err: unknown) => err);
      expect(noResponders).toBeInstanceOf(RequestError);
      expect((noResponders as RequestError).isNoResponders()).toBe(true);

      nc.subscribe('silent', { callback: () => undefined });
      const timedOut = await nc.request('silent', 'x', { timeout: 100 }).catch((e: unknown) => e);
      expect((timedOut as Error).name).toBe('TimeoutError');

      // A JetStream publish to a subject no stream stores is refused, not left hanging.
      const js = jetstream(nc);
      const refused = await js.publish('no.stream', 'x', { timeout: 1_000 }).catch((e) => e);
      expect(refused).toBeInstanceOf(Error);
    } finally {
      await nc.close();
    }
  });

  it('sends every message queued across event-loop turns, in order', async () => {
    const nc = await connectNats({ url: server.url });
    const reader = await connectNats({ url: server.url });
    try {
      const coalesced = (c: unknown) =>
        (c as { protocol: { hitlCoalesced?: boolean } }).protocol.hitlCoalesced;
      expect(coalesced(nc)).toBe(true);
      const got: string[] = [];
      const sub = reader.subscribe('order', { max: 300 });
      const done = (async () => {
        for await (const m of sub) got.push(m.string());
      })();
      await reader.flush();
      for (let i = 0; i < 300; i++) {
        nc.publish('order', String(i));
        if (i % 3 === 0) await new Promise((resolve) => setImmediate(resolve));
        else if (i % 3 === 1) await Promise.resolve();
      }
      await nc.flush();
      await done;
      expect(got).toEqual(Array.from({ length: 300 }, (_, i) => `${i}`));
    } finally {
      await nc.close();
      await reader.close();
    }
  });

  it('sends what was published just before close', async () => {
    const reader = await connectNats({ url: server.url });
    try {
      const sub = reader.subscribe('last.words', { max: 1, timeout: 5_000 });
      await reader.flush();
      const nc = await connectNats({ url: server.url });
      nc.publish('last.words', 'bye');
      await nc.close();
      const got: string[] = [];
      for await (const m of sub) got.push(m.string());
      expect(got).toEqual(['bye']);
    } finally {
      await reader.close();
    }
  });
});
