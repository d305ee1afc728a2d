import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import { Kvm } from '@nats-io/kv';
import type { HitlConfig } from '../base/config.js';
import { describeError } from '../base/errors.js';
import type { EventEnvelope } from '../base/schemas.js';
import { HitlClient } from '../client/client.js';
import { readWorkflowEvents } from '../client/eventLog.js';
import type { EventStream } from '../client/eventWatch.js';
import { connectNats } from '../nats/connection.js';
import { isWorkflowId } from '../nats/subjects.js';
import type { ActorDefinition } from '../runtime/actorDefinition.js';
import { LinkRefused, verifyGrant } from './answerLinks.js';
import {
  AnswerFormSchema,
  AnswerRefused,
  checkAnswer,
  publishAnswer,
  type Answered,
} from './answer.js';
import { machineGraph } from './machineGraph.js';
import { PendingIndex, type PendingQuery } from './pendingIndex.js';
import type { ReviewerNames } from './reviewerNames.js';
import { Sessions, type Reviewer } from './sessions.js';

/** How `hitl inbox` runs. */
export interface InboxOptions {
  config: HitlConfig;
  /** The actor kinds whose machines the item page draws. */
  definitions: readonly ActorDefinition[];
  port?: number;
  host?: string;
  /** Trust this header (set by a proxy in front) to name the reviewer. */
  trustProxyHeader?: string;
  names: ReviewerNames;
  /** `HITL_INBOX_SECRET`: signs cookies and answer links. Random (no links) when absent. */
  secret?: string;
  /** Mark cookies `Secure` (behind HTTPS). */
  secureCookies?: boolean;
  /** How long an answer waits for the runtime's verdict. */
  verdictTimeoutMs?: number;
}

/** A running inbox. */
export interface Inbox {
  url: string;
  close(): Promise<void>;
}

const PAGE_FILES: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/style.css': 'style.css',
  '/machine.js': 'machine.js',
};
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};
/** The `resumed` answers remembered, to tell a second reviewer who answered. */
const ANSWERED_KEPT = 20_000;

/**
 * Starts the reviewers' inbox: a Fastify server that follows `hitl_interrupts` live, serves the
 * page, and publishes each answer on `hitl.human.respond.<wf>.<reviewer>` under the signed-in
 * reviewer's name.
 *
 * @example
 * const inbox = await startInbox({ config, definitions, names: ReviewerNames.normalising(), trustProxyHeader: 'X-Forwarded-User' });
 * console.log(inbox.url);
 */
export async function startInbox(options: InboxOptions): Promise<Inbox> {
  const { config } = options;
  const client = await HitlClient.connect({ config });
  const subjects = client.subjects;
  const files = await loadPage();
  const kv = await new Kvm(client.nc).open(subjects.buckets.interrupts).catch((err: unknown) => {
    throw new Error(
      `cannot open KV bucket '${subjects.buckets.interrupts}': ${describeError(err)} (start a worker once to create it)`,
      { cause: err },
    );
  });
  const index = await PendingIndex.follow(kv, subjects);
  const answered = new Map<string, Answered>();
  const answeredListeners = new Set<(wf: string, a: Answered) => void>();
  const events: EventStream = await client.events();
  void (async () => {
    for await (const e of events) onEvent(e);
  })().catch(() => undefined);
  function onEvent(e: EventEnvelope): void {
    if (e.type !== 'resumed') return;
    const a: Answered = {
      interruptId: String(e.data.interruptId),
      reviewer: String(e.data.reviewer),
      answer: String(e.data.answer),
    };
    answered.delete(e.workflowId);
    answered.set(e.workflowId, a);
    if (answered.size > ANSWERED_KEPT) answered.delete(answered.keys().next().value as string);
    for (const fn of answeredListeners) fn(e.workflowId, a);
  }

  const secret = options.secret ?? randomBytes(32).toString('base64url');
  const sessions = new Sessions(
    options.names,
    options.trustProxyHeader,
    options.secureCookies === true,
  );
  const streams = new Set<ServerResponse>();
  const app: FastifyInstance = Fastify({
    bodyLimit: 64 * 1024,
    logger: false,
    // An answer link's token is a path parameter of about 150 characters.
    routerOptions: { maxParamLength: 1_000 },
  });
  await app.register(fastifyCookie, { secret });
  await app.register(fastifyCsrf, {
    sessionPlugin: '@fastify/cookie',
    cookieOpts: {
      signed: true,
      httpOnly: true,
      sameSite: 'strict',
      path: '/',
      secure: options.secureCookies === true,
    },
  });
  await app.register(fastifyHelmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        connectSrc: ["'self'"],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'none'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
  });
  await app.register(fastifyRateLimit, { global: false });
  app.setErrorHandler(
    (err: { statusCode?: number; code?: string; message: string }, _req, reply) => {
      const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
      const message = err.code?.startsWith('FST_CSRF')
        ? 'the request carries no valid CSRF token; reload the page and try again'
        : status === 429
          ? 'too many attempts; wait a minute and try again'
          : status === 413
            ? 'the request is too large'
            : status < 500
              ? `malformed request: ${err.message}`
              : `the inbox failed: ${err.message}`;
      void reply.code(status).send({ error: message });
    },
  );

  // The plugin's hook, called with the instance as `this`, as Fastify calls route hooks.
  const csrf = { onRequest: app.csrfProtection.bind(app) };
  const signedIn = (req: FastifyRequest, reply: FastifyReply): Reviewer | undefined => {
    const who = sessions.who(req);
    if (!who) {
      const claimed = sessions.proxyName(req);
      void reply.code(401).send({
        error:
          claimed !== undefined
            ? `the name '${claimed}' maps to no reviewer; ask an operator to add it to the mapping`
            : 'sign in first',
      });
    }
    return who;
  };

  for (const [path, file] of Object.entries(PAGE_FILES)) {
    app.get(path, (_req, reply) => {
      const ext = file.split('.').pop() ?? 'html';
      void reply
        .header('content-type', TYPES[ext] ?? 'application/octet-stream')
        .header('cache-control', 'no-cache')
        .send(files[file]);
    });
  }

  app.get('/api/session', (req, reply) => {
    const who = sessions.who(req);
    return reply.send({
      reviewer: who?.name ?? null,
      how: who?.how ?? null,
      link: who?.link ?? null,
      signIn: options.trustProxyHeader ? 'proxy' : 'nats',
      refusedName: who ? null : (sessions.proxyName(req) ?? null),
      csrfToken: reply.generateCsrf(),
    });
  });

  app.post(
    '/api/signin',
    { ...csrf, config: { rateLimit: { max: 5, timeWindow: 60_000 } } },
    async (req, reply) => {
      if (options.trustProxyHeader) {
        return reply.code(400).send({ error: 'this inbox signs reviewers in through its proxy' });
      }
      const body = req.body as { user?: unknown; password?: unknown } | undefined;
      const user = typeof body?.user === 'string' ? body.user : '';
      const password = typeof body?.password === 'string' ? body.password : '';
      const name = options.names.map(user);
      if (!name || !password) {
        return reply.code(400).send({ error: 'give your NATS user name and password' });
      }
      let conn;
      try {
        conn = await connectNats(
          {
            url: config.nats.url,
            user,
            pass: password,
            ...(config.nats.tls ? { tls: config.nats.tls } : {}),
          },
          `hitl-inbox-${name}`,
        );
      } catch {
        return reply.code(401).send({ error: 'NATS refused this user name and password' });
      }
      // A server without authorization accepts any name: it proves nothing.
      if (conn.info?.auth_required !== true) {
        await conn.close();
        return reply.code(403).send({
          error:
            'the NATS server checks no passwords, so a sign-in proves nothing; run the inbox behind a proxy (--trust-proxy-header)',
        });
      }
      sessions.startNats(reply, name, conn);
      return reply.send({ reviewer: name });
    },
  );

  app.post('/api/signout', csrf, async (req, reply) => {
    await sessions.end(req, reply);
    return reply.send({ ok: true });
  });

  app.get('/api/pending', (req, reply) => {
    const who = signedIn(req, reply);
    if (!who) return reply;
    const q = req.query as Record<string, string | undefined>;
    if (who.link) {
      const r = index.get(who.link.workflowId);
      const items = r && r.interruptId === who.link.interruptId ? [r] : [];
      return reply.send({ total: items.length, offset: 0, items, categories: [] });
    }
    const query: PendingQuery = {
      sort: q.sort === 'deadline' ? 'deadline' : 'newest',
      offset: Number(q.offset ?? 0) || 0,
      limit: Number(q.limit ?? 50) || 50,
      ...(q.type ? { type: q.type } : {}),
      ...(q.category ? { category: q.category } : {}),
      ...(q.text ? { text: q.text } : {}),
    };
    return reply.send(index.query(query));
  });

  app.get('/api/stream', (req, reply) => {
    const who = signedIn(req, reply);
    if (!who) return reply;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'x-accel-buffering': 'no',
    });
    const mine = (wf: string): boolean => !who.link || who.link.workflowId === wf;
    const send = (event: string, data: unknown): void => {
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    send('hello', { pending: index.size });
    const unsubscribe = index.subscribe((c) => {
      if (mine(c.workflowId)) send(c.op, c);
    });
    const onAnswered = (wf: string, a: Answered): void => {
      if (mine(wf)) send('answered', { workflowId: wf, ...a });
    };
    answeredListeners.add(onAnswered);
    const ping = setInterval(() => res.write(': ping\n\n'), 20_000);
    streams.add(res);
    res.on('close', () => {
      clearInterval(ping);
      unsubscribe();
      answeredListeners.delete(onAnswered);
      streams.delete(res);
    });
  });

  app.get('/api/items/:wf', async (req, reply) => {
    const who = signedIn(req, reply);
    if (!who) return reply;
    const { wf } = req.params as { wf: string };
    if (!isWorkflowId(wf)) return reply.code(404).send({ error: `unknown workflow '${wf}'` });
    if (who.link && who.link.workflowId !== wf) {
      return reply.code(403).send({ error: 'this answer link is for another item' });
    }
    const [timeline, snapshots, pending] = await Promise.all([
      readWorkflowEvents(client.nc, subjects, wf),
      client.snapshots(wf),
      client.interrupt(wf),
    ]);
    if (timeline.length === 0 && snapshots.length === 0) {
      return reply.code(404).send({ error: `unknown workflow '${wf}'` });
    }
    const received = timeline.find((e) => e.type === 'received');
    const kind = pending?.actor ?? timeline.at(-1)?.actor;
    const definition = options.definitions.find((d) => d.kind === kind);
    const snapshot = snapshots.find((s) => s.envelope.kind === kind);
    const value = (snapshot?.envelope.snapshot as { value?: unknown } | undefined)?.value;
    return reply.send({
      workflowId: wf,
      pending: pending ?? null,
      answered: answered.get(wf) ?? null,
      request: typeof received?.data.request === 'string' ? received.data.request : null,
      customer: typeof received?.data.customer === 'string' ? received.data.customer : null,
      events: timeline.slice(-200),
      machine: definition && kind ? machineGraph(kind, definition.machine, value) : null,
    });
  });

  app.post('/api/items/:wf/answer', csrf, async (req, reply) => {
    const who = signedIn(req, reply);
    if (!who) return reply;
    const { wf } = req.params as { wf: string };
    const form = AnswerFormSchema.safeParse(req.body);
    if (!form.success) {
      return reply
        .code(400)
        .send({ error: 'malformed answer: give interruptId and answer as text' });
    }
    if (
      who.link &&
      (who.link.workflowId !== wf || who.link.interruptId !== form.data.interruptId)
    ) {
      return reply.code(403).send({ error: 'this answer link is for another item' });
    }
    try {
      const pending = isWorkflowId(wf) ? await client.interrupt(wf) : undefined;
      const payload = checkAnswer(wf, pending, answered.get(wf), form.data, who.name);
      const verdict = await publishAnswer(
        who.conn ?? client.nc,
        client.nc,
        subjects,
        wf,
        who.name,
        payload,
        options.verdictTimeoutMs ?? 15_000,
      );
      return verdict.accepted
        ? reply.send({ accepted: true, reviewer: who.name })
        : reply
            .code(409)
            .send({ accepted: false, error: `the runtime refused the answer: ${verdict.reason}` });
    } catch (err) {
      if (err instanceof AnswerRefused) return reply.code(err.status).send({ error: err.message });
      if (/permissions violation/i.test(describeError(err))) {
        return reply.code(403).send({ error: 'your NATS user may not answer this workflow' });
      }
      throw err;
    }
  });

  app.get(
    '/link/:token',
    { config: { rateLimit: { max: 30, timeWindow: 60_000 } } },
    async (req, reply) => {
      const { token } = req.params as { token: string };
      const refuse = (status: number, why: string) =>
        reply
          .code(status)
          .header('content-type', 'text/plain; charset=utf-8')
          .send(`hitl inbox: ${why}\n`);
      if (!options.secret)
        return refuse(404, 'answer links are off (the inbox has no HITL_INBOX_SECRET)');
      let grant;
      try {
        grant = verifyGrant(options.secret, token);
      } catch (err) {
        if (err instanceof LinkRefused) return refuse(403, err.message);
        throw err;
      }
      const pending = await client.interrupt(grant.workflowId);
      if (!pending || pending.interruptId !== grant.interruptId) {
        const a = answered.get(grant.workflowId);
        return refuse(
          410,
          a && a.interruptId === grant.interruptId
            ? `this question was already answered by ${a.reviewer}`
            : 'this question is no longer waiting for an answer (answered, replaced or expired)',
        );
      }
      sessions.startLink(reply, grant);
      return reply.redirect(`/?item=${encodeURIComponent(grant.workflowId)}`, 303);
    },
  );

  await app.listen({ port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8080);
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async close() {
      for (const res of streams) res.end();
      await app.close();
      index.stop();
      await events.close();
      await sessions.closeAll();
      await client.close();
    },
  };
}

/** The page's files, read once: three small files, served from memory. */
async function loadPage(): Promise<Record<string, string>> {
  const dir = new URL('./page/', import.meta.url);
  const out: Record<string, string> = {};
  for (const file of Object.values(PAGE_FILES))
    out[file] = await readFile(new URL(file, dir), 'utf8');
  return out;
}
