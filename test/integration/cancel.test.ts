import { describe, expect, it } from 'vitest';
import { emit, setup as machineSetup } from 'xstate';
import {
  hitlEvent,
  requestHuman,
  type HitlEmitted,
  type ResumeEvent,
} from '../../src/runtime/effects.js';
import {
  defineActor,
  HitlClient,
  WorkflowNotCancelledError,
  type ActorDefinition,
  type EventEnvelope,
} from '../../src/index.js';
import { exitOf, runCli, spawnCli, waitForOutput } from '../helpers/cli.js';
import { LAST_LANDED_COMMIT, landedVersion } from '../helpers/landedVersion.js';
import { eventually } from '../helpers/eventually.js';
import {
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  storedEvents,
  types,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';

// Issue 10 item 13: `hitl cancel <wf> --reason TEXT` ends a paused or parked workflow for an
// operator: `completed` with `outcome: "cancelled"`, the reason and who in the event; exactly
// one `completed` per workflow, however the cancel races a human answer or another cancel.

const shared = serverPerFile();

type Scope = ReturnType<typeof workflowScope>;

const completedOf = async (t: Scope, wf: string): Promise<EventEnvelope[]> =>
  (await storedEvents(shared.nc, t.subjects, wf)).filter((e) => e.type === 'completed');

/** A custom actor whose machine throws on the human's answer (so its workflow parks). */
function throwsOnAnswer(kind: string): ActorDefinition {
  const machine = machineSetup({
    types: { events: {} as ResumeEvent, emitted: {} as HitlEmitted },
    actions: {
      explode: () => {
        throw new Error('ledger unavailable');
      },
    },
  }).createMachine({
    id: kind,
    initial: 'asking',
    states: {
      asking: {
        entry: emit(() => requestHuman({ type: 'payout', question: 'Pay?', options: ['yes'] })),
        on: { 'hitl.resume': { target: 'done', actions: 'explode' } },
      },
      done: { type: 'final', entry: emit(() => hitlEvent('completed', { outcome: 'sent' })) },
    },
  });
  return defineActor({ kind, machine });
}

/** A custom actor whose very first step throws: parked before its machine ever started. */
function throwsAtStart(kind: string): ActorDefinition {
  const machine = machineSetup({
    types: { emitted: {} as HitlEmitted },
    actions: {
      explode: () => {
        throw new Error('config missing');
      },
    },
  }).createMachine({ id: kind, initial: 'working', states: { working: { entry: 'explode' } } });
  return defineActor({ kind, machine });
}

describe('hitl cancel', () => {
  it('ends a workflow paused at the approval gate; its question, deadline and answers are gone', async () => {
    await using t = workflowScope(shared.server, 'cna');
    await t.worker();
    const run = await t.client.start({ id: 'gate-1', request: 'refund please', timeoutMs: 3_000 });
    expect(run).toMatchObject({ status: 'paused', interrupt: { type: 'approval' } });
    if (run.status !== 'paused') return;

    const result = await t.client.cancel('gate-1', { reason: 'customer withdrew', by: 'eve' });
    expect(result).toMatchObject({ actor: 'gate', was: 'paused', by: 'eve' });
    expect(result.completed).toMatchObject({
      type: 'completed',
      actor: 'gate',
      data: {
        outcome: 'cancelled',
        reason: 'customer withdrew',
        by: 'eve',
        cancelId: result.cancelId,
        interruptId: run.interrupt.interruptId,
      },
    });
    expect(await t.client.pending()).toEqual([]);
    expect(await t.client.interrupt('gate-1')).toBeUndefined();
    const [gate] = (await t.client.snapshots('gate-1')).filter((s) => s.envelope.kind === 'gate');
    expect(gate?.envelope).toMatchObject({ status: 'done' });
    expect(gate?.envelope.interrupt).toBeUndefined();

    // A later answer is refused, and the workflow stays as it is.
    const late = await t.client.respond('gate-1', { answer: 'yes', reviewer: 'ana' });
    expect(late).toMatchObject({ accepted: false });
    if (!late.accepted) expect(late.reason).toMatch(/not waiting for a human .*cancelled/);

    // Its deadline passes and does nothing.
    const due = Date.parse(run.interrupt.expiresAt ?? '');
    await eventually(() => expect(Date.now()).toBeGreaterThan(due + 1_000), { timeout: 6_000 });
    await workersIdle(shared.nc, t.subjects);
    const counts = countTypes(await storedEvents(shared.nc, t.subjects, 'gate-1'));
    expect(counts).toMatchObject({ completed: 1, response_rejected: 1 });
    expect(counts).not.toHaveProperty('expired');
    expect(counts).not.toHaveProperty('sent');
    expect(
      await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll),
    ).toEqual([]);

    // Cancelling it again: refused in one line, nothing published.
    const again = await runCli(['cancel', 'gate-1', '--reason', 'again'], {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
    });
    expect(again).toMatchObject({
      code: 1,
      stderr:
        "hitl: workflow 'gate-1' was not cancelled: it has completed (cancelled by eve); there is nothing to cancel\n",
    });
    expect(await completedOf(t, 'gate-1')).toHaveLength(1);
  });

  it('ends a workflow paused at triage, from the CLI, naming the operator', async () => {
    await using t = workflowScope(shared.server, 'cnb');
    await t.worker();
    const run = await t.client.start({ id: 'esc-1', request: 'hello there' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { type: 'escalation' } });
    const cli = await runCli(['cancel', 'esc-1', '--reason', 'spam', '--json'], {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
      HITL_OPERATOR: 'ops-olga',
    });
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({
      workflowId: 'esc-1',
      actor: 'triage',
      was: 'paused',
      by: 'ops-olga',
      completed: { data: { outcome: 'cancelled', reason: 'spam', by: 'ops-olga' } },
    });
    expect(await t.client.pending()).toEqual([]);
    expect(types(await storedEvents(shared.nc, t.subjects, 'esc-1'))).toEqual([
      'received',
      'interrupted',
      'completed',
    ]);
  });

  it('ends parked workflows of custom machines: parked at an answer, and before starting', async () => {
    await using t = workflowScope(shared.server, 'cnc', {
      HITL_MAX_DELIVER: '2',
      HITL_RETRY_BACKOFF_MS: '10',
    });
    await t.worker({
      definitions: [throwsOnAnswer('payout'), throwsAtStart('setup')],
      intake: null,
    });
    // Paused, then parked: its answer's step throws, the question stays pending.
    const asked = await t.client.startActor('payout', {}, { workflowId: 'park-1' });
    expect(asked).toMatchObject({ status: 'paused' });
    const verdict = await t.client.respond('park-1', { answer: 'yes', reviewer: 'ana' });
    expect(verdict).toMatchObject({ accepted: false });
    // Parked at its first message: no machine snapshot yet.
    const started = await t.client.startActor('setup', {}, { workflowId: 'park-2' });
    expect(started).toMatchObject({ status: 'parked', actor: 'setup' });
    await eventually(async () =>
      expect((await t.client.parked()).map((p) => p.workflowId).sort()).toEqual([
        'park-1',
        'park-2',
      ]),
    );

    const first = await t.client.cancel('park-1', { reason: 'ledger retired', by: 'eve' });
    expect(first).toMatchObject({ actor: 'payout', was: 'parked' });
    expect(first.completed.data).toMatchObject({
      outcome: 'cancelled',
      parkedStep: 'payout',
      interruptId: expect.any(String),
    });
    const second = await t.client.cancel('park-2', { reason: 'never configured', by: 'eve' });
    expect(second).toMatchObject({ actor: 'setup', was: 'parked' });

    expect(await t.client.parked()).toEqual([]);
    expect(await t.client.pending()).toEqual([]);
    await expect(t.client.retry('park-1')).rejects.toThrow(/has completed \(cancelled\)/);
    for (const wf of ['park-1', 'park-2']) expect(await completedOf(t, wf)).toHaveLength(1);
  });

  it('refuses what has completed or does not exist, and a blank reason, saying why', async () => {
    await using t = workflowScope(shared.server, 'cnd');
    await t.worker();
    const done = await t.client.start({ id: 'done-1', request: 'login is broken' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    await expect(t.client.cancel('done-1', { reason: 'late', by: 'eve' })).rejects.toThrow(
      "workflow 'done-1' was not cancelled: it has completed (sent); there is nothing to cancel",
    );
    await expect(t.client.cancel('nope-1', { reason: 'x', by: 'eve' })).rejects.toThrow(
      /was not cancelled: there is no such workflow/,
    );
    await expect(t.client.cancel('done-1', { reason: '  ', by: 'eve' })).rejects.toThrow(
      /was not cancelled: reason: a cancel needs a reason/,
    );
    expect(await completedOf(t, 'done-1')).toHaveLength(1);
  });

  it('ends a workflow once when a cancel races a human answer or another cancel', async () => {
    await using t = workflowScope(shared.server, 'cne');
    await t.worker();
    await t.worker();
    const ids = ['race-1', 'race-2', 'race-3', 'race-4', 'race-5', 'race-6'];
    await Promise.all(ids.map((id) => t.client.start({ id, request: 'refund please' })));
    await Promise.all(
      ids.map(async (id, i) => {
        const cancel = t.client.cancel(id, { reason: 'race', by: 'eve' });
        // Half race an answer, half another cancel.
        const other =
          i % 2 === 0
            ? t.client.respond(id, { answer: 'yes', reviewer: 'ana' })
            : t.client.cancel(id, { reason: 'race too', by: 'olga' });
        const [c, o] = await Promise.allSettled([cancel, other]);
        const completed = await eventually(async () => {
          const found = await completedOf(t, id);
          expect(found).toHaveLength(1);
          return found[0];
        });
        if (c.status === 'rejected') expect(c.reason).toBeInstanceOf(WorkflowNotCancelledError);
        if (i % 2 === 0) {
          // Exactly one of the two won, and the events say which.
          const answered = o.status === 'fulfilled' && (o.value as { accepted: boolean }).accepted;
          expect(answered, id).toBe(c.status === 'rejected');
          expect(completed?.data.outcome, id).toBe(answered ? 'sent' : 'cancelled');
        } else {
          expect([c.status, o.status].sort(), id).toEqual(['fulfilled', 'rejected']);
          expect(completed?.data.outcome, id).toBe('cancelled');
        }
      }),
    );
    await workersIdle(shared.nc, t.subjects);
    for (const id of ids) expect(await completedOf(t, id), id).toHaveLength(1);
  });

  it('dead-letters a cancel without a reason, and leaves the workflow as it was', async () => {
    await using t = workflowScope(shared.server, 'cnf');
    await t.worker();
    await t.client.start({ id: 'bad-1', request: 'refund please' });
    await publishRaw(shared.nc, t.subjects.mailbox('gate', 'bad-1'), {
      type: 'hitl.cancel',
      by: 'eve',
    });
    await eventually(async () => {
      const letters = await readStream(shared.nc, t.subjects.streams.dlq, t.subjects.dlqAll);
      expect(letters.map((l) => (l.data as { reason: string }).reason)).toEqual([
        expect.stringMatching(/^invalid cancel: reason: /),
      ]);
    });
    expect(await t.client.interrupt('bad-1')).toMatchObject({ type: 'approval' });
    expect(await completedOf(t, 'bad-1')).toEqual([]);
  });
});

describe('hitl cancel during a rolling upgrade', () => {
  it('leaves a workflow unchanged when a worker of the landed version takes the cancel', async () => {
    // A version without hitl cancel: its machines get the cancel as a message they ignore.
    using landed = landedVersion(LAST_LANDED_COMMIT);
    // A release before storage format 2: plain JSON during the rollout (docs/upgrading.md).
    await using t = workflowScope(shared.server, 'cnu', { HITL_STORAGE_FORMAT: '1' });
    const old = landed.spawnCli(['worker'], {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
      HITL_MODEL_PROVIDER: 'mock',
    });
    try {
      await waitForOutput(old, /hitl worker ready/, 60_000);
      await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'up-1', request: 'refund please' });
      const client = await HitlClient.connect({ config: t.config });
      try {
        await eventually(async () => expect(await client.interrupt('up-1')).toBeDefined(), {
          timeout: 20_000,
        });
        await expect(
          client.cancel('up-1', { reason: 'mid-rollout', by: 'eve', timeoutMs: 3_000 }),
        ).rejects.toThrow(
          /a worker took the cancel without applying it .*the workflow is unchanged: run hitl cancel again once every worker hosting 'gate' is upgraded/,
        );
        expect(await client.interrupt('up-1')).toMatchObject({ type: 'approval' });
        expect(await readStream(shared.nc, t.subjects.streams.dlq, t.subjects.dlqAll)).toEqual([]);
      } finally {
        await client.close();
      }
    } finally {
      old.kill('SIGTERM');
      await exitOf(old, 30_000);
    }
    // Once upgraded, the same command ends it.
    await t.worker();
    const done = await t.client.cancel('up-1', { reason: 'after the rollout', by: 'eve' });
    expect(done.completed.data).toMatchObject({ outcome: 'cancelled' });
    expect(countTypes(await storedEvents(shared.nc, t.subjects, 'up-1'))).toMatchObject({
      interrupted: 1,
      completed: 1,
    });
  }, 120_000);
});

describe('hitl cancel when its worker dies', () => {
  // After the compare-and-set, before the outbox: the step is committed and nothing shows it.
  // (The other fault points are those of every step: workerKilledGate.test.ts.)
  it.for(['after-kv-write'])(
    'ends the workflow once after a SIGKILL at %s of the cancel step',
    { timeout: 90_000 },
    async (point) => {
      // A short ack wait: the killed worker's message comes back to the next one in a second.
      await using t = workflowScope(shared.server, 'cnk', { HITL_ACK_WAIT_MS: '1000' });
      const first = await t.worker();
      const run = await t.client.start({ id: 'kill-1', request: 'refund please' });
      expect(run).toMatchObject({ status: 'paused' });
      await first.stop();
      // The only gate worker running dies in the first gate step it takes: the cancel's.
      const child = spawnCli(['worker', '--actors', 'gate'], {
        NATS_URL: shared.server.url,
        HITL_PREFIX: t.subjects.prefix,
        HITL_MODEL_PROVIDER: 'mock',
        HITL_ACK_WAIT_MS: '1000',
        HITL_FAULT: `${point}:gate`,
      });
      try {
        await waitForOutput(child, /hitl worker ready/, 40_000);
        const cancelled = t.client.cancel('kill-1', { reason: 'crash', by: 'eve' });
        expect(await exitOf(child, 20_000)).toMatchObject({ signal: 'SIGKILL' });
        await t.worker({ kinds: ['gate'] });
        const result = await cancelled;
        expect(result.completed.data).toMatchObject({ outcome: 'cancelled', reason: 'crash' });
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
      await workersIdle(shared.nc, t.subjects);
      expect(await t.client.pending()).toEqual([]);
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'kill-1'))).toEqual({
        received: 1,
        triaged: 1,
        drafted: 1,
        interrupted: 1,
        completed: 1,
      });
    },
  );
});
