import { RequestError } from '@nats-io/nats-core';
import { RequestOne } from '@nats-io/nats-core/internal';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tuneConnection } from '../../src/nats/natsTuning.js';
import type { Logger } from '../../src/index.js';
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

describe('the check that the patches reach the connection', () => {
  const coalesced = (nc: unknown) =>
    (nc as { protocol: { hitlCoalesced?: boolean } }).protocol.hitlCoalesced === true;

  it('tunes a connection built from the patched nats-core', async () => {
    const nc = await connectNats({ url: server.url });
    try {
      expect(coalesced(nc)).toBe(true);
    } finally {
      await nc.close();
    }
  });

  it('leaves a connection of another nats-core copy unpatched, with a warning', async () => {
    const nc = await connect({ servers: server.url });
    const warnings: string[] = [];
    const log: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: (msg) => void warnings.push(msg),
      error: () => undefined,
      child: () => log,
    };
    // The classes a second installed copy would have: same names, other identities.
    class NatsConnectionImpl {}
    class ProtocolHandler {}
    try {
      const tuned = tuneConnection(nc, log, {
        connection: NatsConnectionImpl,
        protocol: ProtocolHandler,
      });
      expect(tuned).toBe(false);
      expect(coalesced(nc)).toBe(false);
      expect(warnings).toEqual([expect.stringContaining('nats.js tuning not applied')]);
      // Unpatched, it still works.
      const sub = nc.subscribe('echo2', { callback: (_e, m) => void m.respond(m.data) });
      expect((await nc.request('echo2', 'hi', { timeout: 2_000 })).string()).toBe('hi');
      sub.unsubscribe();
    } finally {
      await nc.close();
    }
  });

  it('is installed as one nats-core, pinned to one exact version for the four packages', () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const natsVersions = Object.entries(pkg.dependencies)
      .filter(([name]) =>
        ['jetstream', 'kv', 'nats-core', 'transport-node'].some((n) => name === `@nats-io/${n}`),
      )
      .map(([, version]) => version);
    expect(natsVersions).toHaveLength(4);
    expect(new Set(natsVersions).size).toBe(1);
    expect(natsVersions[0]).toMatch(/^\d+\.\d+\.\d+$/);
    const require = createRequire(import.meta.url);
    const ours = require.resolve('@nats-io/nats-core');
    for (const name of ['@nats-io/transport-node', '@nats-io/jetstream', '@nats-io/kv']) {
      expect(createRequire(require.resolve(name)).resolve('@nats-io/nats-core')).toBe(ours);
    }
  });
});
