import { describe, it } from 'vitest';
import type { EventEnvelope, Worker } from '../../src/index.js';
import { InterruptRecordSchema, Subjects } from '../../src/index.js';
import { exitOf, spawnCli, waitForOutput } from './cli.js';
import { eventually } from './eventually.js';
import {
  connectClient,
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  testConfig,
  uniquePrefix,
  workersIdle,
} from './harness.js';

// The crash test of one actor kind, shared by workerKilledTriage.test.ts and
// workerKilledGate.test.ts (two files, so that each stays well within a file's time budget).

const ACK_WAIT_MS = '1000';
const POINTS = ['before-kv-write', 'after-kv-write', 'after-publish'] as const;

/** Each workflow of a run, its ticket, and the events it must publish, once each, in order. */
const GATED = ['received', 'triaged', 'drafted', 'interrupted', 'resumed', 'approved', 'sent'];
const WORKFLOWS: { id: string; request: string; events: string[] }[] = [
  { id: 'g1', request: 'I want a refund', events: [...GATED, 'completed'] },
  { id: 'g2', request: 'I was charged twice', events: [...GATED, 'completed'] },
  { id: 'g3', request: 'Where is my refund', events: [...GATED, 'completed'] },
  {
    id: 'e1',
    request: 'hello?',
    events: ['received', 'interrupted', 'resumed', ...GATED.slice(1), 'completed'],
  },
  {
    id: 'e2',
    request: 'something odd happened',
    events: ['received', 'interrupted', 'resumed', ...GATED.slice(1), 'completed'],
  },
  {
    id: 't1',
    request: 'The login is broken',
    events: ['received', 'triaged', 'drafted', 'sent', 'completed'],
  },
];

/** Runs a `hitl worker` process with the fault armed; resolves once it died of SIGKILL. */
async function killedWorker(
  env: Record<string, string>,
  fault: string,
  act: () => Promise<void>,
): Promise<void> {
  const child = spawnCli(['worker'], { ...env, HITL_FAULT: fault });
  try {
    // Roomy: several worker processes start at once here, on a machine shared with other tests.
    await waitForOutput(child, /hitl worker ready/, 40_000);
    await act();
    const exit = await exitOf(child, 20_000, `the worker to reach fault point ${fault}`);
    if (exit.signal !== 'SIGKILL') {
      throw new Error(`worker with ${fault} ended with ${JSON.stringify(exit)}, not SIGKILL`);
    }
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
}

/** What a reviewer answers to an interrupt: the category to escalations, yes to approvals. */
function answerTo(type: string): string {
  return type === 'escalation' ? 'refund' : 'yes';
}

/**
 * For each fault point: a worker process dies there in a step that creates an actor of `kind`,
 * and another in a step that a human's answer leads to (the answer applied to a triage or gate
 * actor; for the specialist, the step that the answer to a triage escalation sets off, in
 * process); normal workers finish, and every workflow's events, reply and `completed` are
 * counted.
 */
export function describeKillsAtEveryPoint(kind: 'triage' | 'specialist' | 'gate'): void {
  // The actor whose interrupts are answered to reach a step of `kind` after a human's answer.
  const answeredActor = kind === 'specialist' ? 'triage' : kind;
  const shared = serverPerFile();

  describe.concurrent(`a worker killed at every point of a ${kind} step`, () => {
    const cases = POINTS.map((point) => ({ kind, point }));
    it.for(cases)(
      'finishes every workflow exactly once after a SIGKILL at $point of $kind steps',
      { timeout: 90_000 },
      async ({ kind, point }, { expect }) => {
        const prefix = uniquePrefix(`kill${kind}`);
        const env = {
          NATS_URL: shared.server.url,
          HITL_PREFIX: prefix,
          HITL_MODEL_PROVIDER: 'mock',
          HITL_ACK_WAIT_MS: ACK_WAIT_MS,
        };
        const config = testConfig(shared.server, prefix, { HITL_ACK_WAIT_MS: ACK_WAIT_MS });
        const subjects = new Subjects(prefix);
        const fault = `${point}:${kind}`;
        const answered = new Set<string>();
        const workers: Worker[] = [];
        let client: Awaited<ReturnType<typeof connectClient>> | undefined;

        /** Answers every pending interrupt (of actor `only`, if given) not answered before. */
        const answerPending = async (only?: string): Promise<number> => {
          const pending = await readStream(
            shared.nc,
            subjects.streams.events,
            subjects.humanRequestAll,
          );
          let sent = 0;
          for (const row of pending) {
            const record = InterruptRecordSchema.parse(row.data);
            if (only !== undefined && record.actor !== only) continue;
            const key = `${record.workflowId}/${record.interruptId}`;
            if (answered.has(key)) continue;
            answered.add(key);
            await publishRaw(shared.nc, subjects.respond(record.workflowId), {
              answer: answerTo(record.type),
              reviewer: 'ana',
              interruptId: record.interruptId,
            });
            sent += 1;
          }
          return sent;
        };

        try {
          // 1. The step that creates an actor of `kind` dies at the point.
          await killedWorker(env, fault, async () => {
            const submitter = await connectClient(config);
            try {
              for (const w of WORKFLOWS) await submitter.submit({ id: w.id, request: w.request });
            } finally {
              await submitter.close();
            }
          });

          // A normal worker takes over until everything waits for a human.
          workers.push(await startWorker(config));
          client = await connectClient(config);
          const c = client;
          // Paused: the interrupts in KV, and their requests published (the KV record is
          // written first, so both are awaited).
          await eventually(
            async () => {
              expect(await c.pending()).toHaveLength(5);
              const asked = await readStream(
                shared.nc,
                subjects.streams.events,
                subjects.humanRequestAll,
              );
              expect(asked).toHaveLength(5);
            },
            {
              timeout: 20_000,
              interval: 100,
              message: 'workflows did not all pause after the first crash',
            },
          );
          // And nothing else in flight (the technical ticket, which never pauses, may still be
          // running): a message handed back by the stop would reach the next, faulty worker
          // before it says it is ready, and kill it there.
          await workersIdle(shared.nc, subjects, 20_000);
          await (workers.pop() as Worker).stop();

          // 2. The step that applies a human's answer to an actor of `kind` dies at the point.
          await killedWorker(env, fault, async () => {
            expect(await answerPending(answeredActor)).toBeGreaterThan(0);
          });

          // A normal worker finishes: answering whatever comes to wait for a human.
          workers.push(await startWorker(config));
          await eventually(
            async () => {
              await answerPending();
              const all = await readStream(shared.nc, subjects.streams.events, subjects.events());
              const events = all.map((r) => r.data as EventEnvelope);
              // Named with their events so far, should one never complete.
              const unfinished = WORKFLOWS.filter(
                (w) => !events.some((e) => e.workflowId === w.id && e.type === 'completed'),
              ).map(
                (w) =>
                  `${w.id}: ${events
                    .filter((e) => e.workflowId === w.id)
                    .map((e) => e.type)
                    .join(' ')}`,
              );
              expect(unfinished).toEqual([]);
            },
            { timeout: 30_000, interval: 200, message: 'workflows did not all complete' },
          );
          await workersIdle(shared.nc, subjects, 10_000);

          const events = (
            await readStream(shared.nc, subjects.streams.events, subjects.events())
          ).map((r) => r.data as EventEnvelope);
          for (const w of WORKFLOWS) {
            const mine = events.filter((e) => e.workflowId === w.id).map((e) => e.type);
            expect(mine, `events of ${w.id}`).toEqual(w.events);
          }
          const replies = await readStream(
            shared.nc,
            subjects.streams.outbound,
            subjects.outboundAll,
          );
          expect(
            replies.map((r) => (r.data as { workflowId: string }).workflowId).sort(),
            'one reply per workflow',
          ).toEqual(WORKFLOWS.map((w) => w.id).sort());
          expect(await c.pending()).toEqual([]);
          expect(await readStream(shared.nc, subjects.streams.dlq, subjects.dlqAll)).toEqual([]);
        } finally {
          await client?.close();
          await Promise.all(workers.map((w) => w.stop()));
        }
      },
    );
  });
}
