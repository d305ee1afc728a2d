import { describe, expect, it } from 'vitest';
import type { Worker } from '../../src/index.js';
import { Subjects } from '../../src/index.js';
import {
  connectClient,
  readStream,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  uniquePrefix,
} from '../helpers/harness.js';

const shared = serverPerFile();

async function setup() {
  const prefix = uniquePrefix('resp');
  const config = testConfig(shared.server, prefix);
  const workers: Worker[] = [await startWorker(config)];
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  return {
    client,
    subjects,
    workers,
    async events(wf: string) {
      return storedEvents(shared.nc, subjects, wf);
    },
    async replies() {
      return (await readStream(shared.nc, subjects.streams.outbound, subjects.outboundAll)).map(
        (r) => r.data,
      );
    },
    async [Symbol.asyncDispose]() {
      await client.close();
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}

// Responses that are not accepted (bad options, stale or unknown interrupts, updates an
// interrupt does not take, reviewers not allowed, malformed payloads) are the table in
// badInput.test.ts; concurrent answers to one interrupt are in races.test.ts.

describe('responses that are accepted', () => {
  it('sends the draft as edited by the approving reviewer', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'edit-1', request: 'Refund my order' });
    expect(run.status).toBe('paused');
    const done = await t.client.resume('edit-1', {
      resume: 'yes',
      reviewer: 'ana',
      update: { draft: 'edited text' },
    });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    expect(await t.replies()).toEqual([
      { workflowId: 'edit-1', category: 'refund', reply: 'edited text', approvedBy: 'ana' },
    ]);
    const sent = (await t.events('edit-1')).find((e) => e.type === 'sent');
    expect(sent?.data).toEqual({ reply: 'edited text' });
  });
});
