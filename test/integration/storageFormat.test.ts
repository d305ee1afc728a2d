import { Kvm } from '@nats-io/kv';
import { describe, expect, it } from 'vitest';
import {
  SnapshotEnvelopeSchema,
  type HitlClient,
  type SnapshotEnvelope,
  type Subjects,
} from '../../src/index.js';
import { DEFLATE_DICT_1, decodeValue } from '../../src/stores/snapshotCodec.js';
import { DoneActorShrinker } from '../../src/stores/doneActorShrinker.js';
import { exitOf, runCli, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import {
  FORMAT_2_LANDED_COMMIT,
  landedVersion,
  LAST_LANDED_COMMIT,
  type LandedVersion,
} from '../helpers/landedVersion.js';
import {
  connectClient,
  countTypes,
  publishRaw,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  types,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';

// Issue 15: a paused workflow's state in fewer bytes. Format 2 (the default; HITL_STORAGE_FORMAT=1
// writes plain JSON) compresses the value of an actor that waits; the finished actors of a paused
// workflow shrink to tombstones, compressed too, once no redelivery can need their outboxes; what
// the landed versions stored still reads, and the landed version that reads format 2 reads what
// this one writes.

const shared = serverPerFile();

async function storedValue(subjects: Subjects, kind: string, wf: string): Promise<Uint8Array> {
  const kv = await new Kvm(shared.nc).open(subjects.buckets.snapshots);
  const entry = await kv.get(subjects.snapshotKey(kind, wf));
  if (!entry || entry.operation !== 'PUT') throw new Error(`no snapshot ${kind}.${wf}`);
  return entry.value;
}

async function storedEnvelope(
  subjects: Subjects,
  kind: string,
  wf: string,
): Promise<SnapshotEnvelope> {
  const key = subjects.snapshotKey(kind, wf);
  return SnapshotEnvelopeSchema.parse(decodeValue(await storedValue(subjects, kind, wf), key));
}

/** The environment of a `hitl` process of a landed version, on this file's server. */
function landedEnv(subjects: Subjects, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NATS_URL: shared.server.url,
    HITL_PREFIX: subjects.prefix,
    HITL_MODEL_PROVIDER: 'mock',
    ...extra,
  };
}

/** A `hitl worker` of `landed`, ready. */
async function landedWorker(landed: LandedVersion, env: Record<string, string>) {
  const child = landed.spawnCli(['worker'], env);
  await waitForOutput(child, /hitl worker ready/, 60_000);
  return child;
}

/**
 * A ticket for `wf` sent again (nothing may happen), then its answer, applied: the workflow
 * completes.
 */
async function resendThenAnswer(
  subjects: Subjects,
  client: HitlClient,
  ticket: { id: string; request: string },
  reviewer: string,
): Promise<void> {
  await publishRaw(shared.nc, subjects.ticketsNew, ticket, { msgId: `resent-${ticket.id}` });
  const verdict = await client.respond(ticket.id, { answer: 'yes', reviewer });
  expect(verdict).toMatchObject({ accepted: true });
  await eventually(
    async () =>
      expect(types(await storedEvents(shared.nc, subjects, ticket.id)).at(-1)).toBe('completed'),
    { timeout: 20_000 },
  );
}

/** Each workflow asked, was answered and sent once, and nothing failed. */
async function expectEachOnce(subjects: Subjects, workflows: string[]): Promise<void> {
  for (const wf of workflows) {
    const counts = countTypes(await storedEvents(shared.nc, subjects, wf));
    expect(counts, wf).toMatchObject({
      received: 1,
      interrupted: 1,
      resumed: 1,
      sent: 1,
      completed: 1,
    });
    expect(counts, wf).not.toHaveProperty('failed');
  }
}

/** Whether the actor's value is a tombstone: finished, nothing kept for redeliveries. */
async function expectTombstone(subjects: Subjects, kind: string, wf: string): Promise<void> {
  const env = await storedEnvelope(subjects, kind, wf);
  expect(env).toMatchObject({ status: 'done', applied: [], outboxes: [] });
  expect(env.snapshot).toEqual({ status: 'done', value: expect.any(String) });
}

describe('storage format 2, the default', () => {
  it('compresses a paused actor, and the worker, the client and hitl show read it', async () => {
    // Format 2 by default; pinned, so that a run with HITL_STORAGE_FORMAT=1 still tests it.
    await using t = workflowScope(shared.server, 'fmt', { HITL_STORAGE_FORMAT: '2' });
    await t.worker();
    const paused = await t.client.start({ id: 'fmt-1', request: 'I want a refund' });
    expect(paused).toMatchObject({ status: 'paused', interrupt: { type: 'approval' } });
    const raw = await storedValue(t.subjects, 'gate', 'fmt-1');
    expect(raw[0]).toBe(DEFLATE_DICT_1);
    const gate = (await t.client.snapshots('fmt-1')).find((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope).toMatchObject({
      status: 'active',
      interrupt: { interruptId: paused.status === 'paused' ? paused.interrupt.interruptId : '' },
      snapshot: { value: 'awaitingApproval' },
    });
    // `nats kv get` shows bytes; `hitl show --snapshots` the decoded envelopes.
    const shown = await runCli(['show', 'fmt-1', '--snapshots'], {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
    });
    expect(shown.code, shown.stderr).toBe(0);
    const lines = shown.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; envelope: SnapshotEnvelope });
    expect(lines.map((l) => l.key).sort()).toEqual([
      'gate.fmt-1',
      'specialist.fmt-1',
      'triage.fmt-1',
    ]);
    expect(lines.find((l) => l.key === 'gate.fmt-1')?.envelope.snapshot).toMatchObject({
      value: 'awaitingApproval',
      context: { category: 'refund' },
    });
    const done = await t.client.resume('fmt-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
  });

  it('is not written under HITL_STORAGE_FORMAT=1: plain JSON, for a rollout from an earlier release', async () => {
    await using t = workflowScope(shared.server, 'fmt1', { HITL_STORAGE_FORMAT: '1' });
    await t.worker();
    const paused = await t.client.start({ id: 'fmt1-1', request: 'I want a refund' });
    expect(paused).toMatchObject({ status: 'paused' });
    const raw = await storedValue(t.subjects, 'gate', 'fmt1-1');
    expect(new TextDecoder().decode(raw.subarray(0, 10))).toBe('{"format":');
    expect(JSON.parse(new TextDecoder().decode(raw))).toMatchObject({ status: 'active' });
  });
});

describe('finished actors of a paused workflow', () => {
  // Four ack waits of 250 ms: applied ids and outboxes are kept for one second.
  const env = { HITL_ACK_WAIT_MS: '250', HITL_STORAGE_FORMAT: '2' };

  it('shrink to tombstones once no redelivery can need them, and take nothing twice', async () => {
    await using t = workflowScope(shared.server, 'tomb', env);
    await t.worker();
    // Completed at once: left whole, for the retention of finished workflows to remove.
    const sent = await t.client.start({ id: 'tomb-0', request: 'login error' });
    expect(sent).toMatchObject({ status: 'completed', outcome: 'sent' });
    const paused = await t.client.start({ id: 'tomb-1', request: 'I want a refund' });
    expect(paused).toMatchObject({ status: 'paused' });
    await eventually(
      async () => {
        await expectTombstone(t.subjects, 'triage', 'tomb-1');
        await expectTombstone(t.subjects, 'specialist', 'tomb-1');
      },
      { timeout: 10_000 },
    );
    // Compressed (format 2, the default): about 50 bytes each.
    for (const kind of ['triage', 'specialist']) {
      const raw = await storedValue(t.subjects, kind, 'tomb-1');
      expect(raw[0], kind).toBe(DEFLATE_DICT_1);
      expect(raw.length, kind).toBeLessThan(80);
    }
    // tomb-0 was due first: by now it was passed over, not shrunk.
    expect((await storedEnvelope(t.subjects, 'triage', 'tomb-0')).outboxes).toHaveLength(1);
    // The actor that waits keeps its state.
    expect((await storedEnvelope(t.subjects, 'gate', 'tomb-1')).interrupt).toBeDefined();
    const before = countTypes(await storedEvents(shared.nc, t.subjects, 'tomb-1'));

    // A ticket re-sent, and a copy of the message triage sent the specialist: nothing happens.
    await publishRaw(
      shared.nc,
      t.subjects.ticketsNew,
      { id: 'tomb-1', request: 'I want a refund' },
      { msgId: 'resent-tomb-1' },
    );
    await publishRaw(
      shared.nc,
      t.subjects.mailbox('specialist', 'tomb-1'),
      { type: 'triaged', category: 'refund', confidence: 0.95, by: 'model', request: 'refund' },
      { msgId: 'tomb-1.triage.1.2' },
    );
    await workersIdle(shared.nc, t.subjects);
    expect(countTypes(await storedEvents(shared.nc, t.subjects, 'tomb-1'))).toEqual(before);

    const done = await t.client.resume('tomb-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'tomb-1'));
    expect(counts).toMatchObject({ received: 1, triaged: 1, drafted: 1, sent: 1, completed: 1 });
    const show = (await t.client.snapshots('tomb-1')).map((s) => [
      s.envelope.kind,
      s.envelope.status,
    ]);
    expect(show.sort()).toEqual([
      ['gate', 'done'],
      ['specialist', 'done'],
      ['triage', 'done'],
    ]);
  });
});

describe('finished actors of a burst past what a worker remembers', () => {
  it('are read back from the bucket when due, and shrink where their workflow still waits', async () => {
    // The worker's own shrinking is four minutes away; this shrinker remembers no workflow in full.
    await using t = workflowScope(shared.server, 'burst', { HITL_ACK_WAIT_MS: '60000' });
    await t.worker();
    const kv = await new Kvm(shared.nc).open(t.subjects.buckets.snapshots);
    const interrupts = await new Kvm(shared.nc).open(t.subjects.buckets.interrupts);
    const shrinker = new DoneActorShrinker(kv, t.subjects, {
      afterMs: 200,
      maxPending: 0,
      pendingQuestion: async (wf) => {
        const entry = await interrupts.get(t.subjects.interruptKey(wf));
        if (entry?.operation !== 'PUT') return undefined;
        return entry.json<{ actor: string; interruptId: string }>();
      },
    });
    try {
      expect(await t.client.start({ id: 'burst-1', request: 'I want a refund' })).toMatchObject({
        status: 'paused',
      });
      expect(await t.client.start({ id: 'burst-2', request: 'login error' })).toMatchObject({
        status: 'completed',
      });
      for (const wf of ['burst-1', 'burst-2']) {
        for (const kind of ['triage', 'specialist']) {
          const entry = await kv.get(t.subjects.snapshotKey(kind, wf));
          if (entry?.operation !== 'PUT') throw new Error(`no snapshot ${kind}.${wf}`);
          const key = t.subjects.snapshotKey(kind, wf);
          shrinker.written(
            SnapshotEnvelopeSchema.parse(decodeValue(entry.value, key)),
            entry.revision,
          );
        }
      }
      expect(shrinker.overflowSize).toBe(4);
      await eventually(
        async () => {
          await expectTombstone(t.subjects, 'triage', 'burst-1');
          await expectTombstone(t.subjects, 'specialist', 'burst-1');
        },
        { timeout: 5_000 },
      );
      expect(shrinker.overflowSize).toBe(0);
      await eventually(() => expect(shrinker.shrunk).toBe(2));
      // Completed, with no question pending: left whole.
      expect((await storedEnvelope(t.subjects, 'triage', 'burst-2')).outboxes).toHaveLength(1);
      // The paused one goes on from its tombstones.
      const done = await t.client.resume('burst-1', { resume: 'yes', reviewer: 'ana' });
      expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    } finally {
      shrinker.stop();
    }
  });
});

describe('finished actors of a workflow answered on another worker', () => {
  it('stay whole: the interrupt resolved tells the worker that committed them', async () => {
    await using t = workflowScope(shared.server, 'tomb2', { HITL_ACK_WAIT_MS: '250' });
    await t.worker({ kinds: ['triage', 'specialist'] });
    await t.worker({ kinds: ['gate'], intake: null });
    const answered = await t.client.start({ id: 'tomb2-0', request: 'I want a refund' });
    expect(answered).toMatchObject({ status: 'paused' });
    const done = await t.client.resume('tomb2-0', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    const paused = await t.client.start({ id: 'tomb2-1', request: 'I want a refund' });
    expect(paused).toMatchObject({ status: 'paused' });
    await eventually(() => expectTombstone(t.subjects, 'specialist', 'tomb2-1'), {
      timeout: 10_000,
    });
    // tomb2-0 was due first and passed over: its gate completed it on the other worker.
    expect((await storedEnvelope(t.subjects, 'specialist', 'tomb2-0')).outboxes).toHaveLength(1);
  });
});

describe('a worker of the last landed version', () => {
  it('stored what format 2 resumes, and resumes what format 1 paused and shrank', async () => {
    using landed = landedVersion(LAST_LANDED_COMMIT);
    // The scope's workers write format 1, as in a rollout from that release.
    await using t = workflowScope(shared.server, 'lfmt', {
      HITL_ACK_WAIT_MS: '250',
      HITL_STORAGE_FORMAT: '1',
    });
    const env = landedEnv(t.subjects);

    // The landed worker pauses one at the gate (its plain JSON), then stops.
    let old = await landedWorker(landed, env);
    await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'lfmt-1', request: 'refund please' });
    await eventually(
      async () =>
        expect(types(await storedEvents(shared.nc, t.subjects, 'lfmt-1'))).toContain('interrupted'),
      { timeout: 20_000 },
    );
    old.kill('SIGTERM');
    expect(await exitOf(old, 30_000)).toMatchObject({ code: 0 });

    // A new worker writing format 2 (the default) resumes it.
    const format2 = testConfig(shared.server, t.subjects.prefix, { HITL_STORAGE_FORMAT: '2' });
    const fresh = await startWorker(format2);
    const client = await connectClient(format2);
    try {
      const sent = await client.resume('lfmt-1', { resume: 'yes', reviewer: 'ana' });
      expect(sent).toMatchObject({ status: 'completed', outcome: 'sent' });
    } finally {
      await client.close();
      await fresh.stop();
    }
    // A new worker writing format 1 (as in a rollout from that release) pauses another, whose
    // finished actors shrink.
    const format1 = await t.worker();
    const paused = await t.client.start({ id: 'lfmt-2', request: 'my invoice is wrong' });
    expect(paused).toMatchObject({ status: 'paused' });
    await eventually(() => expectTombstone(t.subjects, 'triage', 'lfmt-2'), { timeout: 10_000 });
    await eventually(() => expectTombstone(t.subjects, 'specialist', 'lfmt-2'), {
      timeout: 10_000,
    });
    await format1.stop();

    // The landed worker takes a re-sent ticket (nothing happens) and the answer.
    old = await landedWorker(landed, env);
    try {
      const ticket = { id: 'lfmt-2', request: 'my invoice is wrong' };
      await resendThenAnswer(t.subjects, t.client, ticket, 'bo');
    } finally {
      old.kill('SIGTERM');
      await exitOf(old, 30_000);
    }
    await expectEachOnce(t.subjects, ['lfmt-1', 'lfmt-2']);
  }, 120_000);
});

describe('a worker of the landed version that reads format 2', () => {
  it('takes over what the default writes, compressed tombstones included, and the other way', async () => {
    using landed = landedVersion(FORMAT_2_LANDED_COMMIT);
    await using t = workflowScope(shared.server, 'l2fmt', {
      HITL_ACK_WAIT_MS: '250',
      HITL_STORAGE_FORMAT: '2',
    });
    const env = landedEnv(t.subjects, { HITL_ACK_WAIT_MS: '250' });

    // A new worker (format 2 by default) pauses one; its gate and tombstones are compressed.
    const fresh = await t.worker();
    const paused = await t.client.start({ id: 'l2fmt-1', request: 'I want a refund' });
    expect(paused).toMatchObject({ status: 'paused' });
    await eventually(
      async () => {
        for (const kind of ['triage', 'specialist']) {
          expect((await storedValue(t.subjects, kind, 'l2fmt-1'))[0], kind).toBe(DEFLATE_DICT_1);
          await expectTombstone(t.subjects, kind, 'l2fmt-1');
        }
      },
      { timeout: 10_000 },
    );
    expect((await storedValue(t.subjects, 'gate', 'l2fmt-1'))[0]).toBe(DEFLATE_DICT_1);

    // The landed worker joins, side by side for a while, then takes over alone.
    const old = await landedWorker(landed, env);
    await fresh.stop();
    try {
      // A re-sent ticket finds the compressed tombstone: nothing happens. The answer completes it.
      const ticket = { id: 'l2fmt-1', request: 'I want a refund' };
      await resendThenAnswer(t.subjects, t.client, ticket, 'ana');
      // The landed CLI shows the compressed tombstones.
      const shown = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
        const child = landed.spawnCli(['show', 'l2fmt-1', '--snapshots'], env);
        let stdout = '';
        child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
        child.on('exit', (code) => resolve({ code, stdout }));
      });
      expect(shown.code).toBe(0);
      const kinds = shown.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { envelope: SnapshotEnvelope }).envelope)
        .map((e) => `${e.kind}:${e.status}`);
      expect(kinds.sort()).toEqual(['gate:done', 'specialist:done', 'triage:done']);

      // The landed worker pauses another (its own default, plain JSON), then stops.
      await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'l2fmt-2', request: 'refund' });
      await eventually(
        async () =>
          expect(types(await storedEvents(shared.nc, t.subjects, 'l2fmt-2'))).toContain(
            'interrupted',
          ),
        { timeout: 20_000 },
      );
    } finally {
      old.kill('SIGTERM');
      expect(await exitOf(old, 30_000)).toMatchObject({ code: 0 });
    }
    // A new worker resumes it.
    await t.worker();
    const sent = await t.client.resume('l2fmt-2', { resume: 'yes', reviewer: 'bo' });
    expect(sent).toMatchObject({ status: 'completed', outcome: 'sent' });
    await expectEachOnce(t.subjects, ['l2fmt-1', 'l2fmt-2']);
  }, 120_000);
});
