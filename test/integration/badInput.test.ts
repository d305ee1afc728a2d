import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsServerHandle } from '../../src/index.js';
import { DeadLetterSchema, Subjects } from '../../src/index.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  publishRaw,
  rawConnection,
  readStream,
  startServer,
  startWorker,
  storedEvents,
  testConfig,
  types,
  uniquePrefix,
  workersIdle,
} from '../helpers/harness.js';

let server: NatsServerHandle;
let nc: NatsConnection;

beforeAll(async () => {
  server = await startServer();
  nc = await rawConnection(server);
});
afterAll(async () => {
  await nc?.close();
  await server?.dispose();
});

async function setup() {
  const prefix = uniquePrefix('bad');
  const config = testConfig(server, prefix);
  const worker = await startWorker(config);
  const client = await connectClient(config);
  const subjects = new Subjects(prefix);
  return {
    client,
    subjects,
    /** The dead letters of one source, each checked against the contract's shape. */
    async deadLetters(source: string) {
      const rows = await readStream(nc, subjects.streams.dlq, subjects.dlq(source));
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
    async [Symbol.asyncDispose]() {
      await client.close();
      await worker.stop();
    },
  };
}

const encoder = new TextEncoder();
/** `{"request":"caf<0xE9> refund"}`: Latin-1 bytes, not UTF-8. */
const latin1 = Uint8Array.from([
  ...encoder.encode('{"request":"caf'),
  0xe9,
  ...encoder.encode(' refund"}'),
]);

const badTickets: { what: string; payload: Uint8Array | string; raw: string; reason: RegExp }[] = [
  { what: 'not JSON', payload: '{oops', raw: '{oops', reason: /not JSON/ },
  {
    what: 'not UTF-8',
    payload: latin1,
    raw: Buffer.from(latin1).toString('base64'),
    reason: /not valid UTF-8/,
  },
  {
    what: 'a JSON array',
    payload: '[{"request":"refund"}]',
    raw: '[{"request":"refund"}]',
    reason: /expected object, received array/,
  },
  {
    what: 'no request',
    payload: '{"customer":"ana"}',
    raw: '{"customer":"ana"}',
    reason: /request: .*expected string/,
  },
  {
    what: 'an empty request',
    payload: '{"request":""}',
    raw: '{"request":""}',
    reason: /request: .*>=1 characters/,
  },
  {
    what: 'a request over 10,000 characters',
    payload: JSON.stringify({ request: 'x'.repeat(10_001) }),
    raw: JSON.stringify({ request: 'x'.repeat(10_001) }),
    reason: /request: .*<=10000 characters/,
  },
  {
    what: 'a customer over 200 characters',
    payload: JSON.stringify({ request: 'refund', customer: 'c'.repeat(201) }),
    raw: JSON.stringify({ request: 'refund', customer: 'c'.repeat(201) }),
    reason: /customer: .*<=200 characters/,
  },
  {
    what: 'an illegal id',
    payload: '{"id":"a b/c","request":"refund"}',
    raw: '{"id":"a b/c","request":"refund"}',
    reason: /id: .*letters, digits, '-' and '_'/,
  },
  {
    what: 'metadata with a non-string value',
    payload: '{"request":"refund","metadata":{"order":42}}',
    raw: '{"request":"refund","metadata":{"order":42}}',
    reason: /metadata\.order: .*expected string/,
  },
];

describe('malformed tickets', () => {
  it('dead-letters each kind of malformed ticket with its reason and goes on', async () => {
    await using t = await setup();
    for (const bad of badTickets) await publishRaw(nc, t.subjects.ticketsNew, bad.payload);
    const good = await t.client.start({ id: 'good-1', request: 'The app shows an error' });
    expect(good).toMatchObject({ status: 'completed', outcome: 'sent', category: 'technical' });

    const letters = await eventually(async () => {
      const found = await t.deadLetters('tickets');
      expect(found).toHaveLength(badTickets.length);
      return found;
    });
    for (const bad of badTickets) {
      const letter = letters.find((l) => l.raw === bad.raw);
      expect(letter, `dead letter for ${bad.what}`).toMatchObject({
        source: 'tickets',
        subject: t.subjects.ticketsNew,
        reason: expect.stringMatching(bad.reason),
      });
    }
    await workersIdle(nc, t.subjects);
    // None of them started a workflow: only the good ticket published events.
    const events = await readStream(nc, t.subjects.streams.events, t.subjects.events());
    expect(new Set(events.map((e) => (e.data as { workflowId: string }).workflowId))).toEqual(
      new Set(['good-1']),
    );
  });
});

describe('malformed responses', () => {
  const badResponses = [
    { what: 'not JSON', payload: 'yes please', reason: /not JSON/ },
    { what: 'no reviewer', payload: '{"answer":"yes"}', reason: /reviewer: .*expected string/ },
    {
      what: 'an empty reviewer',
      payload: '{"answer":"yes","reviewer":"  "}',
      reason: /reviewer must be a non-empty name/,
    },
  ];

  it('dead-letters each and tells the reviewers with response_rejected', async () => {
    await using t = await setup();
    const run = await t.client.start({ id: 'resp-1', request: 'Refund my order' });
    expect(run.status).toBe('paused');
    const subject = t.subjects.respond('resp-1');
    const seqs: number[] = [];
    for (const bad of badResponses) seqs.push((await publishRaw(nc, subject, bad.payload)).seq);

    const letters = await eventually(async () => {
      const found = await t.deadLetters('responses');
      expect(found).toHaveLength(badResponses.length);
      return found;
    });
    const rejections = await eventually(async () => {
      const found = (await storedEvents(nc, t.subjects, 'resp-1')).filter(
        (e) => e.type === 'response_rejected',
      );
      expect(found).toHaveLength(badResponses.length);
      return found;
    });
    badResponses.forEach((bad, i) => {
      expect(letters.find((l) => l.raw === bad.payload)).toMatchObject({
        source: 'responses',
        subject,
        reason: expect.stringMatching(bad.reason),
      });
      expect(rejections.find((e) => e.data.responseSeq === seqs[i])?.data).toMatchObject({
        reason: expect.stringMatching(bad.reason),
      });
    });
    expect(await t.client.pending()).toHaveLength(1);

    const done = await t.client.resume('resp-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });
    expect(types(await storedEvents(nc, t.subjects, 'resp-1'))).not.toContain('failed');
  });

  it('dead-letters a response whose subject names no legal workflow id', async () => {
    await using t = await setup();
    const subject = `${t.subjects.prefix}.human.respond.a.b`;
    await publishRaw(nc, subject, { answer: 'yes', reviewer: 'ana' });
    const [letter] = await eventually(async () => {
      const found = await t.deadLetters('responses');
      expect(found).toHaveLength(1);
      return found;
    });
    expect(letter).toMatchObject({
      source: 'responses',
      subject,
      reason: expect.stringMatching(/illegal workflow id/),
    });
  });
});
