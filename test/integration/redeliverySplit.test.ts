import { describe, expect, it } from 'vitest';
import type { EventEnvelope, HitlClient, Worker } from '../../src/index.js';
import { Subjects } from '../../src/index.js';
import { exitOf, spawnCli, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  mapLimit,
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  testConfig,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';
import { tapSubjects, type Tapped } from '../helpers/tap.js';

// Issue 17's second scenario: the gate on two workers of its own (`--actors gate`), one of
// them killed while the answers arrive. Its unacknowledged messages (responses, and responses
// forwarded to the gate's mailbox by the worker that hosts no gate) come back to the other
// one after the ack wait, find their steps applied, and must publish nothing that the streams
// hold: no tap sees a question, an event or a reply twice.

const shared = serverPerFile();
const WORKFLOWS = 50;
const ACK_WAIT_MS = '1000';

describe('the gate on workers of its own, one killed while answers arrive', () => {
  it('completes every workflow once and shows nothing twice', { timeout: 180_000 }, async () => {
    const prefix = uniquePrefix('rds');
    const subjects = new Subjects(prefix);
    const config = testConfig(shared.server, prefix, { HITL_ACK_WAIT_MS: ACK_WAIT_MS });
    const ids = Array.from({ length: WORKFLOWS }, (_, i) => `split-${i}`);
    const tap = await tapSubjects(shared.nc, `${prefix}.>`);
    const workers: Worker[] = [];
    let client: HitlClient | undefined;
    let doomed: ReturnType<typeof spawnCli> | undefined;
    try {
      workers.push(await startWorker(config, { kinds: ['triage', 'specialist'] }));
      workers.push(await startWorker(config, { kinds: ['gate'], intake: null }));
      client = await connectClient(config);
      const c = client;
      await mapLimit(ids, 10, (id) =>
        publishRaw(shared.nc, subjects.ticketsNew, { id, request: 'I want a refund' }),
      );
      const pending = await eventually(
        async () => {
          const all = await c.pending();
          expect(all).toHaveLength(WORKFLOWS);
          return all;
        },
        { timeout: 60_000, interval: 250, message: 'the workflows did not all pause' },
      );

      // The second gate worker, a process that dies right after publishing the first answer
      // it applies, before its ack; whatever else it holds at that moment dies with it.
      doomed = spawnCli(['worker', '--actors', 'gate'], {
        NATS_URL: shared.server.url,
        HITL_PREFIX: prefix,
        HITL_MODEL_PROVIDER: 'mock',
        HITL_ACK_WAIT_MS: ACK_WAIT_MS,
        HITL_FAULT: 'after-publish:gate',
      });
      await waitForOutput(doomed, /hitl worker ready/, 120_000);
      await mapLimit(pending, 10, (p) =>
        publishRaw(shared.nc, subjects.respond(p.workflowId), {
          answer: 'yes',
          reviewer: 'ana',
          interruptId: p.interruptId,
        }),
      );
      const exit = await exitOf(doomed, 60_000, 'the second gate worker to die');
      expect(exit.signal).toBe('SIGKILL');

      await eventually(
        async () => {
          const events = (await readStream(shared.nc, subjects.streams.events, subjects.events()))
            .map((r) => r.data as EventEnvelope)
            .filter((e) => e.type === 'completed');
          expect(events).toHaveLength(WORKFLOWS);
        },
        { timeout: 60_000, interval: 250, message: 'the workflows did not all complete' },
      );
      // Every message the dead worker held has come back and been handled.
      await workersIdle(shared.nc, subjects, 30_000);
      await tap.flush();

      const isPublic = (m: Tapped): boolean =>
        [`${prefix}.events.`, `${prefix}.human.request.`, `${prefix}.outbound.`].some((head) =>
          m.subject.startsWith(head),
        );
      expect(tap.repeated(isPublic), 'published twice on a public subject').toEqual({});
      const asked = tap.seen.filter((m) => m.subject.startsWith(`${prefix}.human.request.`));
      expect(asked).toHaveLength(WORKFLOWS);
      const replies = tap.seen.filter((m) => m.subject.startsWith(`${prefix}.outbound.`));
      expect(replies).toHaveLength(WORKFLOWS);
      const completed = tap.seen.filter((m) => /\.completed$/.test(m.subject));
      expect(completed).toHaveLength(WORKFLOWS);
      expect(await c.pending()).toEqual([]);
    } finally {
      if (doomed && doomed.exitCode === null && doomed.signalCode === null) {
        doomed.kill('SIGKILL');
      }
      tap.close();
      await client?.close();
      await Promise.all(workers.map((w) => w.stop()));
    }
  });
});
