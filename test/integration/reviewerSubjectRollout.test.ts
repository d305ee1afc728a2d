import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeadLetterSchema, type Subjects } from '../../src/index.js';
import { exitOf, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  countTypes,
  publishRaw,
  readStream,
  serverPerFile,
  storedEvents,
  testConfig,
  workflowScope,
} from '../helpers/harness.js';
import { LANDED_COMMIT, landedVersion, type LandedVersion } from '../helpers/landedVersion.js';

// Rolling out the reviewer subject (issue 11, item 8): a worker of the landed version (this
// round's base, LANDED_COMMIT) cannot parse hitl.human.respond.<wf>.<reviewer> and dead-letters
// the response. So the workers are upgraded first, and the clients publish there only when told
// to (HITL_RESPOND_WITH_SUBJECT).
const shared = serverPerFile();
let landed: LandedVersion;
const spawned = new Set<ChildProcess>();

beforeAll(() => {
  landed = landedVersion(LANDED_COMMIT);
});

afterAll(() => {
  for (const child of spawned) if (child.exitCode === null) child.kill('SIGKILL');
  landed?.[Symbol.dispose]();
});

/** A `hitl worker` of the landed version, ready. */
async function landedWorker(env: Record<string, string>): Promise<ChildProcess> {
  const child = landed.spawnCli(['worker'], env);
  spawned.add(child);
  await waitForOutput(child, /hitl worker ready/, 60_000);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  expect(await exitOf(child, 30_000, 'the landed worker to drain')).toEqual({
    code: 0,
    signal: null,
  });
}

function cliEnv(subjects: Subjects): Record<string, string> {
  return { NATS_URL: shared.server.url, HITL_PREFIX: subjects.prefix, HITL_MODEL_PROVIDER: 'mock' };
}

describe('rolling out the reviewer subject', () => {
  it('answers through landed and new workers alike by default, and on the reviewer subject once all are new', async () => {
    // From a release before storage format 2: plain JSON during the rollout (docs/upgrading.md).
    await using t = workflowScope(shared.server, 'roll', { HITL_STORAGE_FORMAT: '1' });
    const old = await landedWorker(cliEnv(t.subjects));
    // This version's client, default settings: the landed worker alone applies its answer.
    const client = await connectClient(t.config);
    try {
      expect(await client.start({ id: 'roll-a', request: 'refund please' })).toMatchObject({
        status: 'paused',
      });
      expect(await client.resume('roll-a', { resume: 'yes', reviewer: 'ana' })).toMatchObject({
        status: 'completed',
        outcome: 'sent',
      });

      // Why the workers go first: the landed worker dead-letters a response on the reviewer
      // subject, and the answer is lost (the workflow still waits).
      await client.start({ id: 'roll-x', request: 'refund please' });
      const early = t.subjects.respond('roll-x', 'ana');
      await publishRaw(shared.nc, early, { answer: 'yes', reviewer: 'ana' });
      const letters = await eventually(async () => {
        const rows = await readStream(
          shared.nc,
          t.subjects.streams.dlq,
          t.subjects.dlq('responses'),
        );
        expect(rows).toHaveLength(1);
        return rows.map((r) => DeadLetterSchema.parse(r.data));
      });
      expect(letters[0]).toMatchObject({
        subject: early,
        reason: expect.stringMatching(/illegal workflow id in subject/),
      });
      expect((await client.interrupt('roll-x'))?.type).toBe('approval');
      expect(
        countTypes(await storedEvents(shared.nc, t.subjects, 'roll-x')).resumed,
      ).toBeUndefined();

      // A new worker beside the landed one: both share the consumers.
      await t.worker();
      for (const id of ['roll-b', 'roll-c', 'roll-d']) {
        await client.start({ id, request: 'I was charged twice' });
        expect(await client.resume(id, { resume: 'yes', reviewer: 'bo' })).toMatchObject({
          status: 'completed',
          outcome: 'sent',
        });
      }
      await stop(old);
    } finally {
      await client.close();
    }

    // Every worker is new: the clients may now name the reviewer in the subject.
    const proven = await connectClient(
      testConfig(shared.server, t.subjects.prefix, { HITL_RESPOND_WITH_SUBJECT: 'true' }),
    );
    try {
      expect(await proven.resume('roll-x', { resume: 'yes', reviewer: 'cy' })).toMatchObject({
        status: 'completed',
        outcome: 'sent',
      });
    } finally {
      await proven.close();
    }
    const responses = await readStream(
      shared.nc,
      t.subjects.streams.responses,
      t.subjects.respondAll,
    );
    expect(responses.at(-1)?.subject).toBe(t.subjects.respond('roll-x', 'cy'));
    const resumed = (await storedEvents(shared.nc, t.subjects, 'roll-x')).filter(
      (e) => e.type === 'resumed',
    );
    expect(resumed.map((e) => e.data.reviewer)).toEqual(['cy']);
    // Only the response sent too early was dead-lettered.
    expect(
      await readStream(shared.nc, t.subjects.streams.dlq, t.subjects.dlq('responses')),
    ).toHaveLength(1);
  });
});
