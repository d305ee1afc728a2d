import { describe, expect, it } from 'vitest';
import { assign, emit, fromPromise, setup as machineSetup } from 'xstate';
import {
  hitlEvent,
  releaseReply,
  requestHuman,
  sendToActor,
  type HitlEmitted,
  type ResumeEvent,
  type RetryEvent,
} from '../../src/runtime/effects.js';
import { defineActor, loadConfig, type EventEnvelope } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  countTypes,
  readStream,
  serverPerFile,
  storedEvents,
  types,
  workersIdle,
  workflowScope,
} from '../helpers/harness.js';

// Item 2 of issue 10: effects are checked before the compare-and-set write, so a step that
// emits one that cannot be carried out fails with nothing stored (and parks its workflow, at
// once when the same step would emit it again). Item 12: a step whose invoked promise never
// answers fails after HITL_STEP_TIMEOUT_MS like any other failure, and parks after its tries.

const shared = serverPerFile();
const limits = { HITL_MAX_DELIVER: '2', HITL_RETRY_BACKOFF_MS: '10' };

/** The effects a custom machine emits once its human says 'go', by name. */
const badEffects: Record<string, () => HitlEmitted> = {
  'an event type that is no subject token': () => hitlEvent('not a token', {}),
  'event data that does not serialise': () => hitlEvent('note', { n: BigInt(7) }),
  'event data over the max payload': () => hitlEvent('note', { text: 'x'.repeat(1_100_000) }),
  'a message to an illegal actor kind': () => sendToActor('Not.A.Kind', { type: 'x' }),
  'an interrupt record that fails its schema': () => requestHuman({ type: '', question: 'q?' }),
  'an interrupt whose deadline is no date': () =>
    requestHuman({ type: 'more', question: 'q?', timeoutMs: 8_700_000_000_000_000 }),
  'a reply that fails its schema': () =>
    releaseReply({ category: 42 as unknown as string, reply: 'hello' }),
  'an effect the runtime does not know': () =>
    ({ type: 'hitl.telegram', to: 'ops' }) as unknown as HitlEmitted,
};

/** How many times the step emitting each effect ran. */
const runs = new Map<string, number>();

/** Asks a human; on 'go', emits the effect named by its input, then `completed`, and ends. */
const emitter = defineActor({
  kind: 'emitter',
  machine: machineSetup({
    types: {
      input: {} as { effect: string },
      context: {} as { effect: string },
      events: {} as ResumeEvent,
      emitted: {} as HitlEmitted,
    },
  }).createMachine({
    id: 'emitter',
    context: ({ input }) => ({ effect: input.effect }),
    initial: 'asking',
    states: {
      asking: {
        entry: emit(() => requestHuman({ type: 'go', question: 'Go?', options: ['go'] })),
        on: { 'hitl.resume': 'done' },
      },
      done: {
        type: 'final',
        entry: [
          ({ context }) => void runs.set(context.effect, (runs.get(context.effect) ?? 0) + 1),
          emit(({ context }) =>
            context.effect === 'a custom event type'
              ? hitlEvent('my_custom-event', { ok: true })
              : context.effect === 'a message to a kind with no mailbox'
                ? sendToActor('nobody', { type: 'hello' })
                : (badEffects[context.effect] ?? (() => hitlEvent('unexpected', {})))(),
          ),
          emit(() => hitlEvent('completed', { outcome: 'sent' })),
        ],
      },
    },
  }),
});

async function snapshotValue(
  t: ReturnType<typeof workflowScope>,
  wf: string,
): Promise<{ value: unknown; parked: unknown }> {
  const [stored] = await t.client.snapshots(wf);
  const snapshot = stored?.envelope.snapshot as { value?: unknown } | undefined;
  return { value: snapshot?.value, parked: stored?.envelope.parked };
}

describe('effects checked before the commit', () => {
  it.each(Object.keys(badEffects))(
    'fails a step that emits %s with nothing stored, and parks it at once',
    async (effect) => {
      await using t = workflowScope(shared.server, 'eff', limits);
      await t.worker({ definitions: [emitter], intake: null });
      const run = await t.client.startActor('emitter', { effect }, { workflowId: 'eff-1' });
      expect(run).toMatchObject({ status: 'paused' });
      if (run.status !== 'paused') return;

      const verdict = await t.client.respond('eff-1', { answer: 'go', reviewer: 'ana' });
      expect(verdict).toMatchObject({ accepted: false });
      if (verdict.accepted) return;
      expect(verdict.reason).toMatch(/actor 'emitter' emitted an (invalid effect|effect this)/);
      await workersIdle(shared.nc, t.subjects);
      // Nothing of the step was stored: the machine still asks, its question still pending.
      expect(await snapshotValue(t, 'eff-1')).toMatchObject({ value: 'asking' });
      expect(await t.client.interrupt('eff-1')).toEqual(run.interrupt);
      const events = await storedEvents(shared.nc, t.subjects, 'eff-1');
      expect(types(events)).toEqual(['interrupted', 'failed']);
      expect(events[1]?.data).toMatchObject({ step: 'emitter', retryable: true });
      expect(await t.client.parked()).toMatchObject([{ workflowId: 'eff-1', actor: 'emitter' }]);
      expect(await readStream(shared.nc, t.subjects.streams.dlq, t.subjects.dlqAll)).toEqual([]);
      // Parked at once: the same step would emit the same effect again (HITL_MAX_DELIVER is 2).
      expect(runs.get(effect)).toBe(1);
    },
  );

  it('takes an event type of a machine’s own, checking its form, not its name', async () => {
    await using t = workflowScope(shared.server, 'eff', limits);
    await t.worker({ definitions: [emitter], intake: null });
    const effect = 'a custom event type';
    await t.client.startActor('emitter', { effect }, { workflowId: 'eff-2' });
    const done = await t.client.resume('eff-2', { resume: 'go', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    const events = await storedEvents(shared.nc, t.subjects, 'eff-2');
    expect(types(events)).toEqual(['interrupted', 'resumed', 'my_custom-event', 'completed']);
  });

  it('retries a message to a kind with no mailbox, parks it, and sends it once one exists', async () => {
    await using t = workflowScope(shared.server, 'eff', limits);
    await t.worker({ definitions: [emitter], intake: null });
    const effect = 'a message to a kind with no mailbox';
    await t.client.startActor('emitter', { effect }, { workflowId: 'eff-3' });
    const verdict = await t.client.respond('eff-3', { answer: 'go', reviewer: 'ana' });
    expect(verdict).toMatchObject({ accepted: false });
    if (verdict.accepted) return;
    expect(verdict.reason).toMatch(
      /a message to actor kind 'nobody', which has no mailbox: no worker hosts it \(start one with --actors nobody\)$/,
    );
    expect(await snapshotValue(t, 'eff-3')).toMatchObject({ value: 'asking' });
    // Tried HITL_MAX_DELIVER times: a worker hosting the kind might have started meanwhile.
    expect(runs.get(effect)).toBe(2);

    // A worker that hosts 'nobody' starts (its mailbox now exists): the retry goes through.
    const nobody = defineActor({
      kind: 'nobody',
      machine: machineSetup({ types: { emitted: {} as HitlEmitted } }).createMachine({
        id: 'nobody',
        entry: emit(() => hitlEvent('greeted', {})),
        type: 'final',
      }),
    });
    await t.worker({ definitions: [nobody], intake: null });
    const retried = await t.client.retry('eff-3', { wait: true });
    expect(retried.run).toMatchObject({ status: 'completed', outcome: 'sent' });
    await eventually(async () =>
      expect(countTypes(await storedEvents(shared.nc, t.subjects, 'eff-3'))).toMatchObject({
        greeted: 1,
        completed: 1,
      }),
    );
    expect(await t.client.parked()).toEqual([]);
  });
});

/** A model of your own whose call hangs while `hang.now` says so. */
function hangingActor(hang: { now: boolean; calls: number }) {
  return defineActor({
    kind: 'oracle',
    machine: machineSetup({
      types: {
        context: {},
        events: {} as RetryEvent,
        emitted: {} as HitlEmitted,
      },
      actors: {
        ask: fromPromise<string>(() => {
          hang.calls += 1;
          return hang.now ? new Promise<string>(() => undefined) : Promise.resolve('42');
        }),
      },
    }).createMachine({
      id: 'oracle',
      context: {},
      initial: 'asking',
      states: {
        asking: {
          invoke: {
            src: 'ask',
            onDone: {
              target: 'answered',
              actions: assign({ answer: ({ event }) => event.output }),
            },
          },
        },
        answered: {
          type: 'final',
          entry: emit(({ context }) => hitlEvent('completed', { outcome: 'sent', ...context })),
        },
      },
    }),
  });
}

describe('HITL_STEP_TIMEOUT_MS', () => {
  it('is read from the environment, 10 minutes by default', () => {
    expect(loadConfig({ HITL_STEP_TIMEOUT_MS: '1500' }).stepTimeoutMs).toBe(1_500);
    expect(loadConfig({})).not.toHaveProperty('stepTimeoutMs');
    expect(() => loadConfig({ HITL_STEP_TIMEOUT_MS: 'soon' })).toThrow(
      "HITL_STEP_TIMEOUT_MS must be a positive integer of milliseconds, got 'soon'",
    );
  });

  it('fails a step whose invoked promise never answers, parks it, and retries it', async () => {
    const hang = { now: true, calls: 0 };
    await using t = workflowScope(shared.server, 'hang', {
      ...limits,
      HITL_STEP_TIMEOUT_MS: '300',
    });
    await t.worker({ definitions: [hangingActor(hang)], intake: null });
    const run = await t.client.startActor('oracle', {}, { workflowId: 'hang-1' });
    expect(run).toMatchObject({
      status: 'parked',
      actor: 'oracle',
      reason:
        "step of 'oracle' did not settle within 300 ms (HITL_STEP_TIMEOUT_MS): an invoked promise never answered",
    });
    // Each try ran until the timeout, and the last parked it: the message was let go.
    expect(hang.calls).toBe(2);
    await workersIdle(shared.nc, t.subjects);
    expect(await t.client.parked()).toMatchObject([{ workflowId: 'hang-1', actor: 'oracle' }]);

    hang.now = false;
    const retried = await t.client.retry('hang-1', { wait: true });
    expect(retried.run).toMatchObject({ status: 'completed', outcome: 'sent' });
    const events: EventEnvelope[] = await storedEvents(shared.nc, t.subjects, 'hang-1');
    expect(types(events)).toEqual(['failed', 'completed']);
    expect(events[1]?.data).toEqual({ outcome: 'sent', answer: '42' });
  });
});
