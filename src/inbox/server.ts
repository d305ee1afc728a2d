import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyCookie from '@fastify/cookie';
import fastifyCsrf from '@fastify/csrf-protection';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import type { HitlConfig } from '../base/config.js';
import { connectNats } from '../nats/connection.js';
import type { ActorDefinition } from '../runtime/actorDefinition.js';
import { InboxFeed } from './inboxFeed.js';
import { registerItemRoutes } from './itemRoutes.js';
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
  const files = await loadPage();
  const feed = await InboxFeed.open(config);

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

  registerItemRoutes(app, { feed, sessions, options, csrf, signedIn, streams });

  await app.listen({ port: options.port ?? 8080, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : (options.port ?? 8080);
  const host = options.host ?? '127.0.0.1';
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    async close() {
      for (const res of streams) res.end();
      await app.close();
      await sessions.closeAll();
      await feed.close();
    },
  };
}

/** The page's files, read once: four small files, served from memory. */
async function loadPage(): Promise<Record<string, string>> {
  const dir = new URL('./page/', import.meta.url);
  const out: Record<string, string> = {};
  for (const file of Object.values(PAGE_FILES))
    out[file] = await readFile(new URL(file, dir), 'utf8');
  return out;
}
