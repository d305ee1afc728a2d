import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request, type APIRequestContext } from 'playwright-core';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createActors } from '../../actors/index.js';
import { Subjects } from '../../src/index.js';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.js';
import { ReviewerNames } from '../../src/inbox/reviewerNames.js';
import { startInbox } from '../../src/inbox/server.js';
import { eventually } from '../helpers/eventually.js';
import { publishRaw, readStream, startWorker, testConfig } from '../helpers/harness.js';

// This file's own server checks passwords: an `admin` for the worker and the inbox's own reads,
// and reviewers who may publish only on their own response subject, which makes their name a
// proven identity. No browser: the sign-in is HTTP and cookies (Playwright's request context).
const PREFIX = 'nsi';
const subjects = new Subjects(PREFIX);
let dir: string;
let server: NatsServerHandle;
let admin: NatsConnection;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hitl-inbox-auth-'));
  const reviewer = (name: string, pass: string) =>
    `{ user: ${name}, password: ${pass}, permissions: { publish: { allow: ["${subjects.respond('any', name).replace('.any.', '.*.')}"] }, subscribe: { allow: ["_INBOX.>"] } } }`;
  const conf = join(dir, 'nats.conf');
  await writeFile(
    conf,
    `authorization { users: [
  { user: admin, password: adminpw }
  ${reviewer('ana', 'anapw')}
] }\n`,
  );
  server = await startNatsServer({ configFile: conf });
  admin = await connect({ servers: server.url, user: 'admin', pass: 'adminpw' });
});
afterAll(async () => {
  await admin?.close();
  await server?.dispose();
  await rm(dir, { recursive: true, force: true });
});

async function signIn(api: APIRequestContext, user: string, password: string) {
  const { csrfToken } = (await (await api.get('/api/session')).json()) as { csrfToken: string };
  const res = await api.post('/api/signin', {
    headers: { 'x-csrf-token': csrfToken },
    data: { user, password },
  });
  return {
    status: res.status(),
    body: (await res.json()) as { error?: string; reviewer?: string },
  };
}

describe('hitl inbox: signing in with the reviewer’s own NATS user', () => {
  it('publishes the answer on the reviewer’s own connection, and rate-limits sign-in attempts', async () => {
    const config = testConfig(server, PREFIX, { NATS_USER: 'admin', NATS_PASS: 'adminpw' });
    const worker = await startWorker(config);
    const inbox = await startInbox({
      config,
      definitions: createActors(config).definitions,
      port: 0,
      names: ReviewerNames.normalising(),
      secret: 'test-secret-0123456789abcdef0123456789abcdef',
    });
    const api = await request.newContext({ baseURL: inbox.url });
    try {
      expect((await api.get('/api/pending')).status()).toBe(401);
      expect(await signIn(api, 'ana', 'wrong')).toMatchObject({
        status: 401,
        body: { error: /refused this user name and password/ },
      });
      expect(await signIn(api, 'ana', 'anapw')).toMatchObject({
        status: 200,
        body: { reviewer: 'ana' },
      });
      await publishRaw(admin, subjects.ticketsNew, {
        id: 'n-1',
        request: 'refund my order please',
      });
      const pending = await eventually(async () => {
        const page = (await (await api.get('/api/pending')).json()) as {
          items: { workflowId: string; interruptId: string }[];
        };
        expect(page.items.map((i) => i.workflowId)).toEqual(['n-1']);
        return page.items[0] as { interruptId: string };
      });
      const { csrfToken } = (await (await api.get('/api/session')).json()) as {
        csrfToken: string;
      };
      const res = await api.post('/api/items/n-1/answer', {
        headers: { 'x-csrf-token': csrfToken },
        data: { interruptId: pending.interruptId, answer: 'yes' },
      });
      expect(res.status()).toBe(200);
      const stored = await readStream(admin, subjects.streams.responses, subjects.respondAll);
      expect(stored.map((r) => r.subject)).toEqual([subjects.respond('n-1', 'ana')]);
      await eventually(async () => {
        const rows = await readStream(admin, subjects.streams.outbound, subjects.outboundAll);
        expect(rows[0]?.data).toMatchObject({ approvedBy: 'ana' });
      });

      // Five attempts a minute: the sixth is refused before NATS is asked.
      for (let i = 0; i < 3; i++) await signIn(api, 'ana', 'guess');
      expect(await signIn(api, 'ana', 'anapw')).toMatchObject({
        status: 429,
        body: { error: /too many attempts/ },
      });
    } finally {
      await api.dispose();
      await inbox.close();
      await worker.stop();
    }
  });
});
