import { jetstreamManager } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { createActors } from '../../actors/index.js';
import { Subjects, Worker, type HitlConfig, type Logger } from '../../src/index.js';
import { publishRaw, serverPerFile, testConfig, uniquePrefix } from '../helpers/harness.js';

// Two prefixes never share storage (contract v2, "Storage"), and one rule for the settings of
// what exists: what a variable names is applied and logged, the rest is left as the operator
// set it, with a warning.

const shared = serverPerFile();

interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}

/** A logger that keeps its lines, to read what a worker said about the settings. */
function recordingLogger(lines: Line[] = []): Logger & { lines: Line[] } {
  const at =
    (level: string) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      void lines.push({ level, msg, fields });
  const logger = {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: () => logger,
  };
  return logger;
}

async function start(config: HitlConfig, logger: Logger = recordingLogger()): Promise<Worker> {
  const { definitions, intake } = createActors(config);
  return Worker.start({ config, definitions, intake, logger });
}

describe('prefixes', () => {
  it('refuses a prefix that maps to the streams of another, naming the clash', async () => {
    const base = uniquePrefix('clash');
    const first = await start(testConfig(shared.server, `${base}-a`));
    try {
      for (const other of [`${base}_a`, `${base.toUpperCase()}-A`, `${base}.a`]) {
        await expect(start(testConfig(shared.server, other))).rejects.toThrow(
          `prefix '${other}' clashes with prefix '${base}-a': both map to stream '${new Subjects(other).streams.tickets}'`,
        );
      }
      // The first deployment's streams still store its tickets.
      const s = new Subjects(`${base}-a`);
      const jsm = await jetstreamManager(shared.nc);
      expect((await jsm.streams.info(s.streams.tickets)).config.subjects).toEqual([s.ticketsNew]);
      const { duplicate } = await publishRaw(shared.nc, s.ticketsNew, { request: 'refund please' });
      expect(duplicate).toBe(false);
    } finally {
      await first.stop();
    }
  });

  it('keeps the default prefix on the contract names', () => {
    const s = new Subjects('hitl');
    expect(s.streams.tickets).toBe('HITL_TICKETS');
    expect(s.buckets).toEqual({ snapshots: 'hitl_snapshots', interrupts: 'hitl_interrupts' });
  });
});

describe('settings of existing streams, buckets and consumers', () => {
  it('leaves what no variable names as the operator set it, with a warning', async () => {
    const prefix = uniquePrefix('ops');
    const s = new Subjects(prefix);
    const jsm = await jetstreamManager(shared.nc);
    const first = await start(testConfig(shared.server, prefix));
    await first.stop();
    // An operator lengthens the ack wait, caps ack-pending and keeps responses a week.
    const week = 7 * 24 * 3_600_000;
    const responses = (await jsm.streams.info(s.streams.responses)).config;
    await jsm.streams.update(s.streams.responses, { ...responses, max_age: nanos(week) });
    const consumers: [string, string][] = [
      [s.streams.tickets, 'tickets'],
      [s.streams.responses, 'responses'],
      [s.streams.timers, 'timers'],
      [s.streams.mailbox, 'actor-triage'],
      [s.streams.mailbox, 'actor-specialist'],
      [s.streams.mailbox, 'actor-gate'],
    ];
    for (const [stream, role] of consumers) {
      await jsm.consumers.update(stream, s.consumer(role), {
        ack_wait: nanos(45_000),
        max_ack_pending: 500,
      });
    }

    const log = recordingLogger();
    const second = await start(testConfig(shared.server, prefix), log);
    try {
      expect((await jsm.streams.info(s.streams.responses)).config.max_age).toBe(nanos(week));
      const gate = await jsm.consumers.info(s.streams.mailbox, s.consumer('actor-gate'));
      expect(gate.config.ack_wait).toBe(nanos(45_000));
      expect(gate.config.max_ack_pending).toBe(500);
      // Applied ids are kept for four of the consumers' real ack waits, not the default's.
      expect(second.ackWaitMs).toBe(45_000);
      const warned = log.lines.filter((l) => l.level === 'warn').map((l) => l.fields);
      expect(warned).toContainEqual(
        expect.objectContaining({ on: `stream '${s.streams.responses}'`, setting: 'max_age' }),
      );
      expect(warned).toContainEqual(
        expect.objectContaining({
          on: `consumer '${s.consumer('actor-gate')}'`,
          setting: 'ack_wait',
        }),
      );
      expect(log.lines.filter((l) => l.msg === 'setting applied')).toEqual([]);
    } finally {
      await second.stop();
    }
  });

  it('applies what a variable names, and logs the change', async () => {
    const prefix = uniquePrefix('vars');
    const s = new Subjects(prefix);
    const jsm = await jetstreamManager(shared.nc);
    const first = await start(testConfig(shared.server, prefix));
    await first.stop();
    await jsm.consumers.update(s.streams.mailbox, s.consumer('actor-gate'), {
      ack_wait: nanos(45_000),
    });

    const day = 24 * 3_600_000;
    const log = recordingLogger();
    const env = {
      HITL_ACK_WAIT_MS: '2000',
      HITL_EVENTS_MAX_AGE_MS: String(day),
      HITL_REPLICAS: '1',
    };
    const second = await start(testConfig(shared.server, prefix, env), log);
    try {
      expect((await jsm.streams.info(s.streams.events)).config.max_age).toBe(nanos(day));
      const gate = await jsm.consumers.info(s.streams.mailbox, s.consumer('actor-gate'));
      expect(gate.config.ack_wait).toBe(nanos(2_000));
      expect(second.ackWaitMs).toBe(2_000);
      // Made without HITL_REPLICAS (following its stream), the consumer now names its replicas.
      expect(gate.config.num_replicas).toBe(1);
      const applied = log.lines.filter((l) => l.msg === 'setting applied').map((l) => l.fields);
      expect(applied).toContainEqual({
        on: `stream '${s.streams.events}'`,
        setting: 'max_age',
        from: 0,
        to: nanos(day),
      });
      expect(applied).toContainEqual({
        on: `consumer '${s.consumer('actor-gate')}'`,
        setting: 'ack_wait',
        from: nanos(45_000),
        to: nanos(2_000),
      });
      expect(applied).toContainEqual({
        on: `consumer '${s.consumer('actor-gate')}'`,
        setting: 'num_replicas',
        from: 0,
        to: 1,
      });
    } finally {
      await second.stop();
    }
  });
});
