import { describe, expect, it } from 'vitest';
import { emit, setup as machineSetup } from 'xstate';
import { hitlEvent, requestHuman } from '../../src/runtime/effects.js';
import type { HitlEmitted, ResumeEvent } from '../../src/runtime/effects.js';
import type { ActorDefinition, EventEnvelope, HitlClient, Worker } from '../../src/index.js';
import { DeadLetterSchema, defineActor, Subjects } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  types,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';

// Faults this file injects, each published straight to the public subjects as any service or
// reviewer could: tickets and responses that are not JSON, not UTF-8, of the wrong types, with
// empty or oversize fields or illegal workflow ids; responses a workflow cannot accept (unknown
// workflow, answer outside the options, stale or unknown interruptId, updates the interrupt does
// not take, a reviewer HITL_APPROVERS does not allow, an empty reviewer); and poison: actors
// whose steps throw on every delivery (the workflow is parked for hitl retry), or on the first
// few, with the try limit cut to 3 (HITL_MAX_DELIVER) and the backoff to 10 ms
// (HITL_RETRY_BACKOFF_MS).

const shared = serverPerFile();

async function setup(
  options: { env?: Record<string, string>; definitions?: ActorDefinition[] } = {},
) {
  const prefix = uniquePrefix('bad');
  const config = testConfig(shared.server, prefix, options.env);
  const worker: Worker = await startWorker(config, {
    ...(options.definitions ? { definitions: options.definitions } : {}),
  });
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  return {
    client,
    subjects,
    /** The dead letters of one source, each checked against the contract's shape. */
    async deadLetters(source: string) {
      const rows = await readStream(shared.nc, subjects.streams.dlq, subjects.dlq(source));
      return rows.map((r) => {
        expect(r.subject).toBe(subjects.dlq(source));
        expect(Object.keys(r.data as object).sort()).toEqual([
          'raw',
          'reason',
          'source',
          'subject',
        ]);
        return DeadLetterSchema.parse(r.data);
      });
    },
    /** Every event of the prefix. */
    async events(): Promise<EventEnvelope[]> {
      const rows = await readStream(shared.nc, subjects.streams.events, subjects.events());
      return rows.map((r) => r.data as EventEnvelope);
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await worker.stop();
    },
  };
}

/** What a workflow is: each actor's snapshot revision and status, and its pending interrupt. */
async function stateOf(client: HitlClient, wf: string) {
  const snapshots = await client.snapshots(wf);
  return {
    actors: Object.fromEntries(
      snapshots.map((s) => [s.envelope.kind, { revision: s.revision, status: s.envelope.status }]),
    ),
    pending: (await client.interrupt(wf)) ?? null,
  };
}

const encoder = new TextEncoder();
/** `{"request":"caf<0xE9> refund"}`: Latin-1 bytes, not UTF-8. */
const latin1 = (text: string): Uint8Array =>
  Uint8Array.from([...encoder.encode(text), 0xe9, ...encoder.encode('"}')]);

const badTickets: { what: string; payload: Uint8Array | string; reason: RegExp }[] = [
  { what: 'not JSON', payload: '{oops', reason: /not JSON/ },
  { what: 'empty', payload: '', reason: /not JSON/ },
  { what: 'not UTF-8', payload: latin1('{"request":"caf'), reason: /not valid UTF-8/ },
  { what: 'JSON null', payload: 'null', reason: /payload: .*expected object, received null/ },
  {
    what: 'a JSON array',
    payload: '[{"request":"refund"}]',
    reason: /expected object, received array/,
  },
  { what: 'no request', payload: '{"customer":"ana"}', reason: /request: .*expected string/ },
  {
    what: 'a request of the wrong type',
    payload: '{"request":42}',
    reason: /request: .*expected string, received number/,
  },
  { what: 'an empty request', payload: '{"request":""}', reason: /request: .*>=1 characters/ },
  {
    what: 'a request over 10,000 characters',
    payload: JSON.stringify({ request: 'x'.repeat(10_001) }),
    reason: /request: .*<=10000 characters/,
  },
  {
    what: 'a customer over 200 characters',
    payload: JSON.stringify({ request: 'refund', customer: 'c'.repeat(201) }),
    reason: /customer: .*<=200 characters/,
  },
  {
    what: 'a channel over 200 characters',
    payload: JSON.stringify({ request: 'refund', channel: 'c'.repeat(201) }),
    reason: /channel: .*<=200 characters/,
  },
  {
    what: 'a customer of the wrong type',
    payload: '{"request":"refund","customer":7}',
    reason: /customer: .*expected string, received number/,
  },
  {
    what: 'an illegal id',
    payload: '{"id":"a b/c","request":"refund"}',
    reason: /id: .*letters, digits, '-' and '_'/,
  },
  {
    what: 'an id over 64 characters',
    payload: JSON.stringify({ id: 'a'.repeat(65), request: 'refund' }),
    reason: /id: .*1 to 64 letters/,
  },
  {
    what: 'metadata with a non-string value',
    payload: '{"request":"refund","metadata":{"order":42}}',
    reason: /metadata\.order: .*expected string/,
  },
  {
    what: 'a negative timeoutMs',
    payload: '{"request":"refund","timeoutMs":-5}',
    reason: /timeoutMs: .*>=1000/,
  },
  {
    what: 'a timeoutMs under one second',
    payload: '{"request":"refund","timeoutMs":999}',
    reason: /timeoutMs: .*>=1000/,
  },
  {
    what: 'a timeoutMs over one year',
    payload: '{"request":"refund please","timeoutMs":8700000000000000}',
    reason: /timeoutMs: .*<=31536000000/,
  },
  {
    what: 'a timeoutMs that is not an integer',
    payload: '{"request":"refund","timeoutMs":1500.5}',
    reason: /timeoutMs: .*expected int/,
  },
  {
    what: 'a timeoutMs that is a string',
    payload: '{"request":"refund","timeoutMs":"100"}',
    reason: /timeoutMs: .*expected number, received string/,
  },
];

/** Which workflow a bad response goes to. */
type Target = 'gate' | 'escalation' | 'stale' | 'unknown';

interface BadResponse {
  what: string;
  to: Target;
  payload: Uint8Array | string | object;
  /** Dead-lettered on `hitl.dlq.responses` with a reason matching this. */
  dlq?: RegExp;
  /** Answered with `response_rejected`, its reason matching this. */
  rejected: RegExp;
}

const badResponses: BadResponse[] = [
  { what: 'not JSON', to: 'gate', payload: 'yes please', dlq: /not JSON/, rejected: /not JSON/ },
  {
    what: 'not UTF-8',
    to: 'gate',
    payload: latin1('{"answer":"yes","reviewer":"caf'),
    dlq: /not valid UTF-8/,
    rejected: /not valid UTF-8/,
  },
  {
    what: 'a JSON array',
    to: 'escalation',
    payload: '["refund"]',
    dlq: /expected object, received array/,
    rejected: /expected object, received array/,
  },
  {
    what: 'an answer of the wrong type',
    to: 'gate',
    payload: { answer: true, reviewer: 'ana' },
    dlq: /answer: .*expected string, received boolean/,
    rejected: /answer: .*expected string, received boolean/,
  },
  {
    what: 'an empty answer',
    to: 'gate',
    payload: { answer: '', reviewer: 'ana' },
    dlq: /answer: .*>=1 characters/,
    rejected: /answer: .*>=1 characters/,
  },
  {
    what: 'an answer over 200 characters',
    to: 'escalation',
    payload: { answer: 'y'.repeat(201), reviewer: 'ana' },
    dlq: /answer: .*<=200 characters/,
    rejected: /answer: .*<=200 characters/,
  },
  {
    what: 'no reviewer',
    to: 'gate',
    payload: { answer: 'yes' },
    dlq: /reviewer: .*expected string/,
    rejected: /reviewer: .*expected string/,
  },
  {
    what: 'an empty reviewer',
    to: 'gate',
    payload: { answer: 'yes', reviewer: '  ' },
    dlq: /reviewer must be a non-empty name/,
    rejected: /reviewer must be a non-empty name/,
  },
  {
    what: 'a comment over 4,000 characters',
    to: 'gate',
    payload: { answer: 'yes', reviewer: 'ana', comment: 'c'.repeat(4_001) },
    dlq: /comment: .*<=4000 characters/,
    rejected: /comment: .*<=4000 characters/,
  },
  {
    what: 'an update that is not an object',
    to: 'gate',
    payload: { answer: 'yes', reviewer: 'ana', update: 'shorter please' },
    dlq: /update: .*expected record/,
    rejected: /update: .*expected record/,
  },
  {
    what: 'an unknown workflow',
    to: 'unknown',
    payload: { answer: 'yes', reviewer: 'ana' },
    rejected: /workflow 'nobody-1' is not waiting for a human/,
  },
  {
    what: 'an answer outside the approval options',
    to: 'gate',
    payload: { answer: 'maybe', reviewer: 'ana' },
    rejected: /^answer 'maybe' is not an option; expected one of: yes, no$/,
  },
  {
    what: 'an answer outside the escalation options',
    to: 'escalation',
    payload: { answer: 'yes', reviewer: 'ana' },
    rejected: /answer 'yes' is not an option; expected one of: refund, billing, technical, drop/,
  },
  {
    what: 'a stale interruptId',
    to: 'stale',
    payload: { answer: 'yes', reviewer: 'ana', interruptId: 'triage-1' },
    rejected:
      /interrupt 'triage-1' is not pending \(already answered or replaced\); the pending one is 'gate-1'/,
  },
  {
    what: 'an unknown interruptId',
    to: 'gate',
    payload: { answer: 'yes', reviewer: 'ana', interruptId: 'gate-7' },
    rejected: /interrupt 'gate-7' is not pending/,
  },
  {
    what: 'an update key an approval does not accept',
    to: 'gate',
    payload: { answer: 'yes', reviewer: 'ana', update: { tone: 'friendly' } },
    rejected: /update rejected for an approval interrupt: .*"tone"/,
  },
  {
    what: 'an edited draft over 4,000 characters',
    to: 'gate',
    payload: { answer: 'yes', reviewer: 'ana', update: { draft: 'd'.repeat(4_001) } },
    rejected: /update rejected for an approval interrupt: draft: .*<=4000 characters/,
  },
  {
    what: 'any update to an escalation',
    to: 'escalation',
    payload: { answer: 'technical', reviewer: 'ana', update: { category: 'billing' } },
    rejected:
      /update key 'category' is not accepted by an escalation interrupt \(it accepts none\)/,
  },
  {
    what: 'a reviewer HITL_APPROVERS does not allow',
    to: 'gate',
    payload: { answer: 'yes', reviewer: 'eve' },
    rejected: /reviewer 'eve' may not answer approvals \(HITL_APPROVERS allows: ana, bo\)/,
  },
];

describe('malformed tickets', () => {
  it('dead-letters each with a reason naming the problem, starts nothing and goes on', async () => {
    await using t = await setup();
    for (const bad of badTickets) await publishRaw(shared.nc, t.subjects.ticketsNew, bad.payload);
    const good = await t.client.start({ id: 'good-1', request: 'The app shows an error' });
    expect(good).toMatchObject({ status: 'completed', outcome: 'sent', category: 'technical' });

    const letters = await eventually(async () => {
      const found = await t.deadLetters('tickets');
      expect(found).toHaveLength(badTickets.length);
      return found;
    });
    for (const bad of badTickets) {
      const raw =
        typeof bad.payload === 'string' ? bad.payload : Buffer.from(bad.payload).toString('base64');
      const letter = letters.find((l) => l.raw === raw);
      expect(letter, `dead letter for ${bad.what}`).toMatchObject({
        source: 'tickets',
        subject: t.subjects.ticketsNew,
        reason: expect.stringMatching(bad.reason),
      });
    }
    await workersIdle(shared.nc, t.subjects);
    // None of them started a workflow: only the good ticket published events.
    const events = await t.events();
    expect(new Set(events.map((e) => e.workflowId))).toEqual(new Set(['good-1']));
  });
});

describe('responses that cannot be accepted', () => {
  it('rejects each with a reason naming the problem and leaves every workflow as it was', async () => {
    await using t = await setup({ env: { HITL_APPROVERS: 'ana,bo' } });
    const gate = await t.client.start({ id: 'at-gate', request: 'I want a refund' });
    expect(gate).toMatchObject({ status: 'paused', interrupt: { type: 'approval' } });
    const escalation = await t.client.start({ id: 'at-triage', request: 'hello?' });
    expect(escalation).toMatchObject({ status: 'paused', interrupt: { type: 'escalation' } });
    // Escalated, routed by a human, now at the gate: its escalation 'triage-1' is stale.
    const asked = await t.client.start({ id: 'moved-on', request: 'something odd' });
    expect(asked).toMatchObject({ status: 'paused', interrupt: { interruptId: 'triage-1' } });
    const moved = await t.client.resume('moved-on', { resume: 'refund', reviewer: 'cy' });
    expect(moved).toMatchObject({ status: 'paused', interrupt: { interruptId: 'gate-1' } });

    const workflows: Record<Target, string> = {
      gate: 'at-gate',
      escalation: 'at-triage',
      stale: 'moved-on',
      unknown: 'nobody-1',
    };
    const before = new Map<string, Awaited<ReturnType<typeof stateOf>>>();
    for (const wf of Object.values(workflows)) before.set(wf, await stateOf(t.client, wf));

    const seqs: number[] = [];
    for (const bad of badResponses) {
      const { seq } = await publishRaw(
        shared.nc,
        t.subjects.respond(workflows[bad.to]),
        bad.payload,
      );
      seqs.push(seq);
    }
    // One with a subject that names no legal workflow: there is nobody to tell but the DLQ.
    // (`…respond.a.b` would be workflow 'a' answered by reviewer 'b', contract v2.)
    const illegal = `${t.subjects.prefix}.human.respond.a!b`;
    await publishRaw(shared.nc, illegal, { answer: 'yes', reviewer: 'ana' });

    const rejections = await eventually(async () => {
      const found = (await t.events()).filter((e) => e.type === 'response_rejected');
      expect(found).toHaveLength(badResponses.length);
      return found;
    });
    const expectedLetters = badResponses.filter((b) => b.dlq).length + 1;
    const letters = await eventually(async () => {
      const found = await t.deadLetters('responses');
      expect(found).toHaveLength(expectedLetters);
      return found;
    });
    badResponses.forEach((bad, i) => {
      const verdicts = rejections.filter((e) => e.data.responseSeq === seqs[i]);
      expect(verdicts, `verdicts on ${bad.what}`).toHaveLength(1);
      expect(verdicts[0]?.workflowId, bad.what).toBe(workflows[bad.to]);
      expect(String(verdicts[0]?.data.reason), bad.what).toMatch(bad.rejected);
      if (bad.dlq) {
        const raw =
          bad.payload instanceof Uint8Array
            ? Buffer.from(bad.payload).toString('base64')
            : typeof bad.payload === 'string'
              ? bad.payload
              : JSON.stringify(bad.payload);
        const letter = letters.find((l) => l.raw === raw);
        expect(letter, `dead letter for ${bad.what}`).toMatchObject({
          source: 'responses',
          subject: t.subjects.respond(workflows[bad.to]),
          reason: expect.stringMatching(bad.dlq),
        });
      }
    });
    expect(letters.find((l) => l.subject === illegal)?.reason).toMatch(/illegal workflow id/);

    await workersIdle(shared.nc, t.subjects);
    for (const wf of Object.values(workflows)) {
      expect(await stateOf(t.client, wf), `state of ${wf}`).toEqual(before.get(wf));
    }
    const events = await t.events();
    expect(events.filter((e) => e.type === 'resumed')).toHaveLength(1); // moved-on's escalation

    // Still waiting, and still answerable.
    const sent = await t.client.resume('at-gate', { resume: 'yes', reviewer: 'ana' });
    expect(sent).toMatchObject({ status: 'completed', outcome: 'sent' });
    const routed = await t.client.resume('at-triage', { resume: 'technical', reviewer: 'cy' });
    expect(routed).toMatchObject({ status: 'completed', outcome: 'sent', category: 'technical' });
  });
});

/** Counts the runs of a step, and throws while `failing(run)` says so. */
function flakyStep(failing: (run: number) => boolean, message: string) {
  const step = {
    runs: 0,
    action: () => {
      step.runs += 1;
      if (failing(step.runs)) throw new Error(message);
    },
  };
  return step;
}

/** An actor that runs `step` as it starts, then completes. */
function startsWith(kind: string, step: ReturnType<typeof flakyStep>): ActorDefinition {
  const machine = machineSetup({
    types: { emitted: {} as HitlEmitted },
    actions: { step: step.action },
  }).createMachine({
    id: kind,
    initial: 'working',
    states: {
      working: { entry: 'step', always: 'done' },
      done: { type: 'final', entry: emit(() => hitlEvent('completed', { outcome: 'sent' })) },
    },
  });
  return defineActor({ kind, machine });
}

/** An actor that asks a human, then runs `step` on the answer. */
function resumesWith(kind: string, step: ReturnType<typeof flakyStep>): ActorDefinition {
  const machine = machineSetup({
    types: { events: {} as ResumeEvent, emitted: {} as HitlEmitted },
    actions: { step: step.action },
  }).createMachine({
    id: kind,
    initial: 'asking',
    states: {
      asking: {
        entry: emit(() =>
          requestHuman({ type: 'payout', question: 'Pay out?', options: ['yes', 'no'] }),
        ),
        on: { 'hitl.resume': { target: 'done', actions: 'step' } },
      },
      done: { type: 'final', entry: emit(() => hitlEvent('completed', { outcome: 'sent' })) },
    },
  });
  return defineActor({ kind, machine });
}

describe('poison: messages that keep failing for reasons other than their content', () => {
  const limits = { HITL_MAX_DELIVER: '3', HITL_RETRY_BACKOFF_MS: '10' };

  it('parks the workflow of a step that fails HITL_MAX_DELIVER times, until hitl retry', async () => {
    let broken = true;
    const ledger = flakyStep(() => broken, 'ledger is read-only');
    await using t = await setup({ env: limits, definitions: [startsWith('ledger', ledger)] });
    const subject = t.subjects.mailbox('ledger', 'poison-1');
    await publishRaw(shared.nc, subject, { type: 'hitl.start', amount: 42 });

    const reason = "machine 'ledger' failed: ledger is read-only";
    const parked = await eventually(async () => {
      const found = await t.client.parked();
      expect(found).toHaveLength(1);
      return found;
    });
    expect(parked[0]).toMatchObject({ workflowId: 'poison-1', actor: 'ledger', reason });
    await workersIdle(shared.nc, t.subjects);
    expect(ledger.runs).toBe(3);
    const events = await storedEvents(shared.nc, t.subjects, 'poison-1');
    expect(events.map((e) => [e.type, e.actor, e.data])).toEqual([
      ['failed', 'ledger', { reason, step: 'ledger', retryable: true }],
    ]);
    // Parked, not dead-lettered: nothing is lost, and the operator sees it.
    expect(await t.deadLetters('mailbox')).toEqual([]);
    const shown = await runCli(['show', 'poison-1', '--json'], {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
    });
    expect(shown.code, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      actors: [{ actor: 'ledger', status: 'active', state: 'not started' }],
    });

    broken = false;
    const retried = await t.client.retry('poison-1', { wait: true });
    expect(retried.run).toMatchObject({ status: 'completed', outcome: 'sent' });
    expect(ledger.runs).toBe(4);
    expect(await t.client.parked()).toEqual([]);
    expect(types(await storedEvents(shared.nc, t.subjects, 'poison-1'))).toEqual([
      'failed',
      'completed',
    ]);
  });

  it('parks a workflow whose response keeps failing, with the response, and retries it', async () => {
    let broken = true;
    const payout = flakyStep(() => broken, 'payment service refused the call');
    await using t = await setup({ env: limits, definitions: [resumesWith('payout', payout)] });
    const run = await t.client.startActor('payout', {}, { workflowId: 'poison-2' });
    expect(run).toMatchObject({ status: 'paused', interrupt: { type: 'payout' } });
    const before = await stateOf(t.client, 'poison-2');

    const verdict = await t.client.respond('poison-2', { answer: 'yes', reviewer: 'ana' });
    expect(verdict).toMatchObject({ accepted: false });
    if (verdict.accepted) return;
    expect(verdict.reason).toMatch(
      /parked until 'hitl retry poison-2' applies it: machine 'payout' failed: payment service refused the call$/,
    );
    expect(await t.deadLetters('responses')).toEqual([]);
    await workersIdle(shared.nc, t.subjects);
    expect(payout.runs).toBe(3);
    // Still waiting for its human as well: the answer was not applied.
    expect((await stateOf(t.client, 'poison-2')).pending).toEqual(before.pending);
    expect(await t.client.parked()).toMatchObject([{ workflowId: 'poison-2', actor: 'payout' }]);

    broken = false;
    const retried = await t.client.retry('poison-2', { wait: true });
    expect(retried.run).toMatchObject({ status: 'completed', outcome: 'sent' });
    expect(await t.client.pending()).toEqual([]);
    expect(await t.client.parked()).toEqual([]);
    const events = await storedEvents(shared.nc, t.subjects, 'poison-2');
    expect(types(events)).toEqual(['interrupted', 'failed', 'resumed', 'completed']);
    expect(events[2]?.data).toMatchObject({ answer: 'yes', reviewer: 'ana' });
  });

  it('applies a step that fails a few times exactly once when it succeeds', async () => {
    const flaky = flakyStep((run) => run < 3, 'ledger busy');
    await using t = await setup({ env: limits, definitions: [startsWith('flaky', flaky)] });
    await publishRaw(shared.nc, t.subjects.mailbox('flaky', 'flaky-1'), { type: 'hitl.start' });
    await eventually(async () =>
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'flaky-1'))).toEqual({
        completed: 1,
      }),
    );
    await workersIdle(shared.nc, t.subjects);
    expect(flaky.runs).toBe(3);
    expect(await t.deadLetters('mailbox')).toEqual([]);
  });
});
