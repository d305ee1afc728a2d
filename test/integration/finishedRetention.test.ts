import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { nanos } from '@nats-io/transport-node';
import { createLogger, Subjects } from '../../src/index.js';
import { ensureTopology } from '../../src/nats/topology.js';
import { exitOf, runCli, spawnCli, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { flaky } from '../helpers/flakyActor.js';
import { LAST_LANDED_COMMIT, landedVersion } from '../helpers/landedVersion.js';
import {
  countTypes,
  publishRaw,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  uniquePrefix,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';
import { listDeadLetters } from '../../src/client/deadLetters.js';

// Issue 10 item 11, HITL_FINISHED_RETENTION_MS: a completed workflow's actor snapshots are
// removed after that time, leaving nothing in the bucket's stream; paused and parked
// workflows are never touched; unset, everything is kept. The step that completes a workflow
// writes the removal's schedule in its outbox (src/runtime/finished.ts), and the workers'
// `finished` consumer removes it when due (src/worker/finishedPurge.ts).

const shared = serverPerFile();
/**
 * The retention of these tests: far below the 10 minutes HITL_FINISHED_RETENTION_MS takes at
 * least, so set on the configuration itself, as a program embedding the worker may.
 */
const RETENTION_MS = 300;

/** A test's world whose workers remove completed workflows after {@link RETENTION_MS}. */
function retaining(name: string, env: Record<string, string> = {}) {
  const t = workflowScope(shared.server, name, env);
  t.config.finishedRetentionMs = RETENTION_MS;
  return t;
}

/** Messages the snapshots bucket's stream holds for workflow `wf`: values and markers alike. */
async function storedFor(subjects: Subjects, wf: string): Promise<number> {
  const jsm = await jetstreamManager(shared.nc);
  const bucket = subjects.buckets.snapshots;
  const info = await jsm.streams.info(`KV_${bucket}`, {
    subjects_filter: `$KV.${bucket}.*.${wf}`,
  });
  return Object.values(info.state.subjects ?? {}).reduce((sum, n) => sum + n, 0);
}

async function completes(
  t: ReturnType<typeof workflowScope>,
  id: string,
  request = 'The login is broken',
): Promise<void> {
  const run = await t.client.start({ id, request });
  expect(run).toMatchObject({ status: 'completed', outcome: 'sent' });
}

describe('HITL_FINISHED_RETENTION_MS', () => {
  it('removes a completed workflow after it, and never a paused or a parked one', async () => {
    await using t = retaining('fin');
    await t.worker();
    await t.worker({ definitions: [flaky], intake: null });
    const paused = await t.client.start({ id: 'fin-paused', request: 'refund please' });
    expect(paused.status).toBe('paused');
    const parked = await t.client.startActor('flaky', {}, { workflowId: 'fin-parked' });
    expect(parked.status).toBe('parked');
    const kept = {
      paused: await storedFor(t.subjects, 'fin-paused'),
      parked: await storedFor(t.subjects, 'fin-parked'),
    };
    expect(kept.paused).toBeGreaterThan(0);
    expect(kept.parked).toBe(1);

    await completes(t, 'fin-done');
    // Triage, specialist and gate: each actor's snapshot, then nothing at all (no markers).
    expect(await storedFor(t.subjects, 'fin-done')).toBe(3);
    await eventually(async () => expect(await storedFor(t.subjects, 'fin-done')).toBe(0), {
      timeout: 10_000,
    });
    expect(await t.client.snapshots('fin-done')).toEqual([]);

    // Well past the retention (a second workflow completed after them and is gone too): the
    // paused and the parked workflows are as they were.
    await completes(t, 'fin-later');
    await eventually(async () => expect(await storedFor(t.subjects, 'fin-later')).toBe(0), {
      timeout: 10_000,
    });
    expect(await storedFor(t.subjects, 'fin-paused')).toBe(kept.paused);
    expect(await storedFor(t.subjects, 'fin-parked')).toBe(kept.parked);
    expect((await t.client.pending()).map((p) => p.workflowId)).toEqual(['fin-paused']);
    expect((await t.client.parked()).map((p) => p.workflowId)).toEqual(['fin-parked']);
    // The schedules are gone from their stream once done.
    const jsm = await jetstreamManager(shared.nc);
    await eventually(async () =>
      expect((await jsm.streams.info(t.subjects.finishedStream)).state.messages).toBe(0),
    );

    // `hitl show` says what happened to it.
    const env = { NATS_URL: shared.server.url, HITL_PREFIX: t.config.prefix };
    const shown = await runCli(['show', 'fin-done'], env);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/completed/);
    expect(shown.stdout).toMatch(
      /actors: none kept: the workflow completed and its snapshots were removed \(HITL_FINISHED_RETENTION_MS\)/,
    );
    const json = JSON.parse((await runCli(['show', 'fin-done', '--json'], env)).stdout) as {
      removed?: boolean;
      actors: unknown[];
    };
    expect(json).toMatchObject({ removed: true, actors: [] });
    const none = await runCli(['show', 'fin-never'], env);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(
      /^hitl: no workflow 'fin-never' .*snapshots are removed after HITL_FINISHED_RETENTION_MS/,
    );
  });

  it('removes a workflow an operator cancelled, like any completed one', async () => {
    await using t = retaining('fin-c');
    await t.worker();
    const paused = await t.client.start({ id: 'fin-cancelled', request: 'refund please' });
    expect(paused.status).toBe('paused');
    const cancelled = await t.client.cancel('fin-cancelled', { reason: 'duplicate', by: 'ops' });
    expect(cancelled.completed.data).toMatchObject({ outcome: 'cancelled', by: 'ops' });
    await eventually(async () => expect(await storedFor(t.subjects, 'fin-cancelled')).toBe(0), {
      timeout: 10_000,
    });
    expect(await t.client.pending()).toEqual([]);
  });

  it('keeps everything when unset', async () => {
    await using keep = workflowScope(shared.server, 'keep');
    await keep.worker();
    await completes(keep, 'keep-1');
    const [gate] = (await keep.client.snapshots('keep-1')).filter(
      (s) => s.envelope.kind === 'gate',
    );
    expect(gate?.envelope.completedAt).toBeUndefined();
    // A workflow of a deployment with the retention completes after it and is removed ...
    await using short = retaining('short');
    await short.worker();
    await completes(short, 'short-1');
    await eventually(async () => expect(await storedFor(short.subjects, 'short-1')).toBe(0), {
      timeout: 10_000,
    });
    // ... while this one is kept, and nothing waits to remove it.
    expect(await storedFor(keep.subjects, 'keep-1')).toBe(3);
    const jsm = await jetstreamManager(shared.nc);
    await expect(jsm.streams.info(keep.subjects.finishedStream)).rejects.toThrow(/not found/);
  });

  it('starts a ticket re-sent with the same id after the removal as a new workflow', async () => {
    await using t = retaining('again');
    // A workflow started again under its old id publishes under the old one's message ids,
    // which the streams must have forgotten: HITL_FINISHED_RETENTION_MS is at least their
    // duplicate window (10 minutes). Here both are short: the streams' window is cut (as an
    // operator may set it) below the retention.
    await ensureTopology(shared.nc, t.subjects, [], {}, {}, createLogger({}, 'silent'));
    const jsm = await jetstreamManager(shared.nc);
    const streams = t.subjects.streams;
    for (const name of [streams.mailbox, streams.events, streams.outbound]) {
      const { config } = await jsm.streams.info(name);
      await jsm.streams.update(name, { ...config, duplicate_window: nanos(RETENTION_MS / 3) });
    }
    await t.worker();
    const ticket = { id: 'again-1', request: 'The login is broken' };
    await publishRaw(shared.nc, t.subjects.ticketsNew, ticket);
    await eventually(
      async () => {
        expect(countTypes(await storedEvents(shared.nc, t.subjects, 'again-1')).completed).toBe(1);
        expect(await storedFor(t.subjects, 'again-1')).toBe(0);
      },
      { timeout: 10_000 },
    );
    // As documented (docs/configuration.md): once removed, the id is not remembered.
    await publishRaw(shared.nc, t.subjects.ticketsNew, ticket);
    await eventually(
      async () => {
        const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'again-1'));
        expect(counts).toMatchObject({ received: 2, completed: 2 });
        expect(await storedFor(t.subjects, 'again-1')).toBe(0);
      },
      { timeout: 10_000 },
    );
  });

  it('removes nothing for a schedule that does not match the stored completion', async () => {
    // A long retention: the real schedule waits, forged ones are due at once.
    await using t = workflowScope(shared.server, 'forge', {
      HITL_FINISHED_RETENTION_MS: '3600000',
    });
    await t.worker();
    const paused = await t.client.start({ id: 'forge-paused', request: 'refund please' });
    expect(paused.status).toBe('paused');
    await completes(t, 'forge-done');
    const before = {
      paused: await storedFor(t.subjects, 'forge-paused'),
      done: await storedFor(t.subjects, 'forge-done'),
    };
    for (const wf of ['forge-paused', 'forge-done']) {
      await publishRaw(shared.nc, t.subjects.finished(wf), {
        workflowId: wf,
        actor: 'gate',
        completedAt: 1,
      });
    }
    // Both handled (acked, so gone from the work queue), the real schedule still waiting.
    const jsm = await jetstreamManager(shared.nc);
    await eventually(async () => {
      const info = await jsm.streams.info(t.subjects.finishedStream, {
        subjects_filter: t.subjects.finishedAll,
      });
      expect(info.state.subjects).toEqual({ [t.subjects.finished('forge-done')]: 1 });
    });
    expect(await storedFor(t.subjects, 'forge-paused')).toBe(before.paused);
    expect(await storedFor(t.subjects, 'forge-done')).toBe(before.done);
  });

  it('removes a workflow whose worker died after completing it, before publishing', async () => {
    const prefix = uniquePrefix('finkill');
    const env = {
      NATS_URL: shared.server.url,
      HITL_PREFIX: prefix,
      HITL_MODEL_PROVIDER: 'mock',
      HITL_ACK_WAIT_MS: '1000',
      HITL_FINISHED_RETENTION_MS: '600000',
    };
    const config = testConfig(shared.server, prefix, env);
    config.finishedRetentionMs = RETENTION_MS;
    // The gate's step that completes the workflow is written, then the process dies before
    // its outbox (`completed`, and the removal's schedule) is published. The worker that takes
    // over removes it after its own retention (300 ms).
    const child = spawnCli(['worker'], { ...env, HITL_FAULT: 'after-kv-write:gate' });
    try {
      await waitForOutput(child, /hitl worker ready/, 40_000);
      const s = new Subjects(prefix);
      await publishRaw(shared.nc, s.ticketsNew, { id: 'kill-1', request: 'The login is broken' });
      const exit = await exitOf(child, 20_000, 'the worker to reach after-kv-write of gate');
      expect(exit.signal).toBe('SIGKILL');
      expect(await storedFor(s, 'kill-1')).toBe(3);
      expect(countTypes(await storedEvents(shared.nc, s, 'kill-1')).completed).toBeUndefined();

      // Another worker takes the redelivery: it publishes the rest of the outbox, schedule
      // included, and the workflow is removed in time.
      const worker = await startWorker(config);
      try {
        await eventually(
          async () => {
            expect(countTypes(await storedEvents(shared.nc, s, 'kill-1')).completed).toBe(1);
            expect(await storedFor(s, 'kill-1')).toBe(0);
          },
          { timeout: 15_000 },
        );
      } finally {
        await worker.stop();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('leaves what it writes readable by a worker of the landed version', async () => {
    using landed = landedVersion(LAST_LANDED_COMMIT);
    // A release before storage format 2: plain JSON during the rollout (docs/upgrading.md).
    await using t = workflowScope(shared.server, 'finup', { HITL_STORAGE_FORMAT: '1' });
    // Long enough that the workflow is still there for the landed worker.
    t.config.finishedRetentionMs = 3_600_000;
    const fresh = await t.worker();
    await completes(t, 'finup-1');
    const [gate] = (await t.client.snapshots('finup-1')).filter((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope.completedAt).toBeGreaterThan(0);
    await fresh.stop();

    // A landed worker on the same streams (and one it does not know) is given the ticket again: it reads the snapshot with the new field
    // and the schedule in its outbox, and recognises the workflow.
    const child = landed.spawnCli(['worker'], {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
      HITL_MODEL_PROVIDER: 'mock',
    });
    try {
      await waitForOutput(child, /hitl worker ready/, 60_000);
      await publishRaw(shared.nc, t.subjects.ticketsNew, {
        id: 'finup-1',
        request: 'The login is broken',
      });
      await workersIdle(shared.nc, t.subjects, 20_000);
      const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'finup-1'));
      expect(counts).toMatchObject({ received: 1, completed: 1 });
      expect(await listDeadLetters(shared.nc, t.subjects)).toEqual([]);
      expect(child.exitCode).toBeNull();
      child.kill('SIGTERM');
      expect(await exitOf(child, 30_000)).toMatchObject({ code: 0 });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });
});
