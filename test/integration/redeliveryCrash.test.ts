import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { HitlClient, Worker } from '../../src/index.js';
import { exitOf, spawnCli, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  publishRaw,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  types,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';
import { tapSubjects, type Tapped } from '../helpers/tap.js';
import { Subjects } from '../../src/index.js';

// Issue 17 / contract v2: after a crash, the redelivery of the message that was applied
// publishes only what the streams do not hold yet, and never asks again a question that has
// been answered since. A `hitl worker` process started with HITL_FAULT=<point>:<kind> takes a
// ticket and dies there (SIGKILL, no ack). A worker that takes no tickets then answers every
// question the dead one asked, so that the workflow goes as far as it can (completed, when the
// question was published); only then does a worker that takes tickets start, and the ticket
// comes back to it. A core subscription, as a tap or a notifier has, sees every publish,
// including those JetStream drops as duplicates: no public subject may carry anything twice,
// and each question must be published once.

const ACK_WAIT_MS = '1000';
const POINTS = ['before-kv-write', 'after-kv-write', 'after-publish'] as const;
const KINDS = [
  // Triage asks its own question (an escalation) in the step that dies.
  { kind: 'triage', request: 'hello?' },
  { kind: 'specialist', request: 'I want a refund' },
  { kind: 'gate', request: 'I want a refund' },
] as const;

const shared = serverPerFile();

function answerTo(type: string): string {
  return type === 'escalation' ? 'refund' : 'yes';
}

/** Answers each pending question of `wf` once, until the workflow completes. */
async function answerUntilCompleted(
  client: HitlClient,
  subjects: Subjects,
  wf: string,
  answered: Set<string>,
): Promise<void> {
  await eventually(
    async () => {
      const pending = await client.interrupt(wf);
      if (pending && !answered.has(pending.interruptId)) {
        answered.add(pending.interruptId);
        await publishRaw(shared.nc, subjects.respond(wf), {
          answer: answerTo(pending.type),
          reviewer: 'ana',
          interruptId: pending.interruptId,
        });
      }
      const done = types(await storedEvents(shared.nc, subjects, wf)).includes('completed');
      if (!done) throw new Error(`'${wf}' has not completed`);
    },
    { timeout: 30_000, interval: 100, message: `workflow '${wf}' did not complete` },
  );
}

/** One case: a worker process armed to die at `point` of the first step of a `kind` actor. */
interface Armed {
  kind: string;
  request: string;
  point: string;
  prefix: string;
  child: ChildProcess;
}

const cases = KINDS.flatMap((k) => POINTS.map((point) => ({ ...k, point })));
const armed = new Map<string, Armed>();

// Starting a worker process is most of each case's time: all are started at once, up front.
beforeAll(async () => {
  await Promise.all(
    cases.map(async (c) => {
      const prefix = uniquePrefix(`rd${c.kind.slice(0, 2)}`);
      const child = spawnCli(['worker'], {
        ...env(prefix),
        HITL_FAULT: `${c.point}:${c.kind}`,
      });
      armed.set(`${c.point}:${c.kind}`, { ...c, prefix, child });
      await waitForOutput(child, /hitl worker ready/, 200_000);
    }),
  );
}, 240_000);

afterAll(() => {
  for (const { child } of armed.values()) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
});

function env(prefix: string): Record<string, string> {
  return {
    NATS_URL: shared.server.url,
    HITL_PREFIX: prefix,
    HITL_MODEL_PROVIDER: 'mock',
    HITL_ACK_WAIT_MS: ACK_WAIT_MS,
  };
}

describe.concurrent('a redelivery after a worker died mid-step', () => {
  it.for(cases)(
    're-publishes only what is missing after a SIGKILL at $point of a $kind step',
    { timeout: 60_000 },
    async ({ kind, point }, { expect }) => {
      const { request, prefix, child } = armed.get(`${point}:${kind}`) as Armed;
      const subjects = new Subjects(prefix);
      const config = testConfig(shared.server, prefix, { HITL_ACK_WAIT_MS: ACK_WAIT_MS });
      const wf = 'crash-1';
      const tap = await tapSubjects(shared.nc, `${prefix}.>`);
      const workers: Worker[] = [];
      let client: HitlClient | undefined;
      try {
        await publishRaw(shared.nc, subjects.ticketsNew, { id: wf, request });
        const exit = await exitOf(child, 30_000, `the worker to die at ${point}:${kind}`);
        expect(exit.signal).toBe('SIGKILL');
        // No tickets taken: whatever the dead worker asked is answered before its ticket
        // comes back.
        workers.push(await startWorker(config, { intake: null }));
        client = await connectClient(config);
        const answered = new Set<string>();
        let pending = await client.interrupt(wf);
        while (pending) {
          answered.add(pending.interruptId);
          const run = await client.resume(wf, {
            resume: answerTo(pending.type),
            reviewer: 'ana',
            interruptId: pending.interruptId,
          });
          pending = run.status === 'paused' ? run.interrupt : undefined;
        }

        // Now the ticket comes back, to a worker that takes tickets.
        workers.push(await startWorker(config));
        await answerUntilCompleted(client, subjects, wf, answered);
        await workersIdle(shared.nc, subjects, 15_000);
        await tap.flush();

        const isPublic = (m: Tapped): boolean =>
          [`${prefix}.events.`, `${prefix}.human.request.`, `${prefix}.outbound.`].some((head) =>
            m.subject.startsWith(head),
          );
        expect(tap.repeated(isPublic), 'published twice on a public subject').toEqual({});
        const asked = tap.seen
          .filter((m) => m.subject === subjects.humanRequest(wf))
          .map((m) => (m.data as { interruptId: string }).interruptId);
        expect(asked.length, 'questions asked').toBeGreaterThan(0);
        expect(new Set(asked).size, 'each question published once').toBe(asked.length);
        expect([...answered].sort()).toEqual([...asked].sort());

        const stored = await storedEvents(shared.nc, subjects, wf);
        const seenEvents = tap.seen
          .filter((m) => m.subject.startsWith(`${prefix}.events.`))
          .map((m) => (m.data as { type: string }).type);
        expect(seenEvents, 'what the tap saw is what the stream holds').toEqual(types(stored));
        expect(types(stored).filter((t) => t === 'completed')).toEqual(['completed']);
        const replies = tap.seen.filter((m) => m.subject === subjects.outboundReply(wf));
        expect(replies).toHaveLength(1);
        expect(await client.pending()).toEqual([]);
      } finally {
        tap.close();
        await client?.close();
        await Promise.all(workers.map((w) => w.stop()));
      }
    },
  );
});
