import { jetstreamManager } from '@nats-io/jetstream';
import { describe, expect, it } from 'vitest';
import { assign, emit, setup as machineSetup } from 'xstate';
import {
  hitlEvent,
  requestHuman,
  type HitlEmitted,
  type ResumeEvent,
} from '../../src/runtime/effects.js';
import { defineActor, type ActorDefinition, type Subjects } from '../../src/index.js';
import { exitOf, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { landedVersion } from '../helpers/landedVersion.js';
import {
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  storedEvents,
  types,
  workflowScope,
} from '../helpers/harness.js';

// Item 5 of issue 10: during a rolling upgrade, old and new workers share the consumers. A
// worker that meets a snapshot of a newer machine version than it hosts leaves the message for
// one that hosts it (nak with a delay), however long that takes, and never fails the workflow;
// and a worker of the landed version goes on with what the new one wrote, and the other way.

const shared = serverPerFile();

/** Version `version` of an expense machine: asks for approval, then completes. */
function expense(version: number): ActorDefinition {
  const machine = machineSetup({
    types: {
      context: {} as { amount: number; decision?: string },
      input: {} as { amount: number },
      events: {} as ResumeEvent,
      emitted: {} as HitlEmitted,
    },
  }).createMachine({
    id: 'expense',
    context: ({ input }) => ({ amount: input.amount }),
    initial: 'asking',
    states: {
      asking: {
        entry: emit(() =>
          requestHuman({ type: 'expense', question: 'Pay?', options: ['approve', 'deny'] }),
        ),
        on: {
          'hitl.resume': { target: 'decided', actions: assign({ decision: 'approved' }) },
        },
      },
      decided: {
        type: 'final',
        entry: emit(() => hitlEvent('completed', { outcome: 'sent', version })),
      },
    },
  });
  return defineActor({
    kind: 'expense',
    machine,
    version,
    migrations: version > 1 ? { 1: (s: unknown) => s } : {},
  });
}

async function consumerInfo(subjects: Subjects, role: string) {
  const jsm = await jetstreamManager(shared.nc);
  const stream = role.startsWith('actor-')
    ? subjects.streams.mailbox
    : role === 'tickets'
      ? subjects.streams.tickets
      : subjects.streams.responses;
  return jsm.consumers.info(stream, subjects.consumer(role));
}

describe('a snapshot of a newer machine version', () => {
  it('waits for a worker that hosts it, past any delivery limit, and fails nothing', async () => {
    // One try per failure: were waiting counted, the response would be given up at once.
    await using t = workflowScope(shared.server, 'upg', {
      HITL_MAX_DELIVER: '1',
      HITL_RETRY_BACKOFF_MS: '10',
    });
    const v2 = await t.worker({ definitions: [expense(2)], intake: null });
    const run = await t.client.startActor('expense', { amount: 5 }, { workflowId: 'upg-1' });
    expect(run).toMatchObject({ status: 'paused' });
    expect((await t.client.snapshots('upg-1'))[0]?.envelope.version).toBe(2);
    await v2.stop();

    // Only a worker of version 1 runs when the answer comes.
    await t.worker({ definitions: [expense(1)], intake: null });
    await publishRaw(shared.nc, t.subjects.respond('upg-1'), {
      answer: 'approve',
      reviewer: 'ana',
    });
    // Delivered and put back more often than the old server-side limit (HITL_MAX_DELIVER + 5).
    await eventually(
      async () => {
        const info = await consumerInfo(t.subjects, 'responses');
        expect(info.config.max_deliver).toBe(-1);
        expect(info.delivered.consumer_seq).toBeGreaterThan(1 + 5 + 1);
        expect(info.num_ack_pending).toBe(1);
      },
      { timeout: 20_000 },
    );
    expect(types(await storedEvents(shared.nc, t.subjects, 'upg-1'))).toEqual(['interrupted']);
    expect(await t.client.interrupt('upg-1')).toEqual(run.status === 'paused' && run.interrupt);

    // A worker of version 2 starts beside it: the answer is applied there, once.
    await t.worker({ definitions: [expense(2)], intake: null });
    await eventually(
      async () =>
        expect(types(await storedEvents(shared.nc, t.subjects, 'upg-1'))).toEqual([
          'interrupted',
          'resumed',
          'completed',
        ]),
      { timeout: 20_000 },
    );
    const events = await storedEvents(shared.nc, t.subjects, 'upg-1');
    expect(events.at(-1)?.data).toEqual({ outcome: 'sent', version: 2 });
    expect(await t.client.parked()).toEqual([]);
    expect(await readStream(shared.nc, t.subjects.streams.dlq, t.subjects.dlqAll)).toEqual([]);
  });
});

describe('a worker of the landed version beside a new one', () => {
  it('resumes what the new one paused, and the new one what it paused', async () => {
    using landed = landedVersion();
    // A rollout from a release before storage format 2 writes plain JSON until it is done
    // (docs/upgrading.md): that worker cannot read a compressed snapshot.
    await using t = workflowScope(shared.server, 'roll', { HITL_STORAGE_FORMAT: '1' });
    const env = {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
      HITL_MODEL_PROVIDER: 'mock',
    };
    const startLanded = async () => {
      const child = landed.spawnCli(['worker'], env);
      await waitForOutput(child, /hitl worker ready/, 60_000);
      return child;
    };

    // The landed worker takes a ticket and pauses it at the gate, then stops.
    let old = await startLanded();
    await publishRaw(shared.nc, t.subjects.ticketsNew, { id: 'roll-1', request: 'refund please' });
    await eventually(
      async () =>
        expect(types(await storedEvents(shared.nc, t.subjects, 'roll-1'))).toContain('interrupted'),
      { timeout: 20_000 },
    );
    // It made its consumers with a server-side delivery limit.
    expect((await consumerInfo(t.subjects, 'actor-gate')).config.max_deliver).toBe(15);
    old.kill('SIGTERM');
    expect(await exitOf(old, 30_000)).toMatchObject({ code: 0 });

    // The new worker lifts the limit on the consumers the landed one made, and resumes it.
    const fresh = await t.worker();
    for (const role of ['tickets', 'responses', 'actor-triage', 'actor-gate']) {
      expect((await consumerInfo(t.subjects, role)).config.max_deliver, role).toBe(-1);
    }
    const sent = await t.client.resume('roll-1', { resume: 'yes', reviewer: 'ana' });
    expect(sent).toMatchObject({ status: 'completed', outcome: 'sent' });

    // The new worker pauses another one, then stops; the landed worker resumes it.
    const paused = await t.client.start({ id: 'roll-2', request: 'my invoice is wrong' });
    expect(paused).toMatchObject({ status: 'paused', interrupt: { type: 'approval' } });
    await fresh.stop();
    old = await startLanded();
    try {
      const verdict = await t.client.respond('roll-2', { answer: 'yes', reviewer: 'bo' });
      expect(verdict).toMatchObject({ accepted: true });
      await eventually(
        async () =>
          expect(types(await storedEvents(shared.nc, t.subjects, 'roll-2')).at(-1)).toBe(
            'completed',
          ),
        { timeout: 20_000 },
      );
    } finally {
      old.kill('SIGTERM');
      await exitOf(old, 30_000);
    }
    for (const wf of ['roll-1', 'roll-2']) {
      const counts = countTypes(await storedEvents(shared.nc, t.subjects, wf));
      expect(counts, wf).toMatchObject({ interrupted: 1, resumed: 1, sent: 1, completed: 1 });
      expect(counts, wf).not.toHaveProperty('failed');
    }
    const outbound = await readStream(
      shared.nc,
      t.subjects.streams.outbound,
      t.subjects.outboundAll,
    );
    expect(outbound.map((r) => r.subject).sort()).toEqual([
      t.subjects.outboundReply('roll-1'),
      t.subjects.outboundReply('roll-2'),
    ]);
  });
});
