import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import { describeError } from '../base/errors.js';
import { readWorkflowEvents } from '../client/eventLog.js';
import { isWorkflowId } from '../nats/subjects.js';
import { LinkRefused, verifyGrant } from './answerLinks.js';
import {
  AnswerFormSchema,
  AnswerRefused,
  checkAnswer,
  publishAnswer,
  type Answered,
} from './answer.js';
import type { InboxFeed } from './inboxFeed.js';
import { machineGraph } from './machineGraph.js';
import type { PendingQuery } from './pendingIndex.js';
import type { InboxOptions } from './server.js';
import type { Reviewer, Sessions } from './sessions.js';

/** What the item routes share with the server that registers them. */
export interface ItemRoutesContext {
  feed: InboxFeed;
  sessions: Sessions;
  options: InboxOptions;
  /** The CSRF check, for every state-changing route. */
  csrf: { onRequest: onRequestHookHandler };
  /** The signed-in reviewer, or undefined after answering 401. */
  signedIn: (req: FastifyRequest, reply: FastifyReply) => Reviewer | undefined;
  /** Open server-sent event streams, ended when the inbox closes. */
  streams: Set<ServerResponse>;
}

/**
 * The inbox's routes about pending items: the list, its live changes (server-sent events), one
 * item, answering it, and answer links.
 */
export function registerItemRoutes(app: FastifyInstance, ctx: ItemRoutesContext): void {
  const { feed, sessions, options, csrf, signedIn, streams } = ctx;
  app.get('/api/pending', (req, reply) => {
    const who = signedIn(req, reply);
    if (!who) return reply;
    const q = req.query as Record<string, string | undefined>;
    if (who.link) {
      const r = feed.index.get(who.link.workflowId);
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
    return reply.send(feed.index.query(query));
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
    send('hello', { pending: feed.index.size });
    const unsubscribe = feed.index.subscribe((c) => {
      if (mine(c.workflowId)) send(c.op, c);
    });
    const onAnswered = (wf: string, a: Answered): void => {
      if (mine(wf)) send('answered', { workflowId: wf, ...a });
    };
    const offAnswered = feed.onAnswered(onAnswered);
    const ping = setInterval(() => res.write(': ping\n\n'), 20_000);
    streams.add(res);
    res.on('close', () => {
      clearInterval(ping);
      unsubscribe();
      offAnswered();
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
      readWorkflowEvents(feed.client.nc, feed.client.subjects, wf),
      feed.client.snapshots(wf),
      feed.client.interrupt(wf),
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
      answered: feed.answered(wf) ?? null,
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
      const pending = isWorkflowId(wf) ? await feed.client.interrupt(wf) : undefined;
      const payload = checkAnswer(wf, pending, feed.answered(wf), form.data, who.name);
      const verdict = await publishAnswer(
        who.conn ?? feed.client.nc,
        feed.client.nc,
        feed.client.subjects,
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
      if (/^timed out/.test(describeError(err))) {
        // Published, but no verdict yet: the answer stands and is applied when a worker runs.
        return reply.code(504).send({
          error: `the answer was sent, but no verdict came in time: ${describeError(err)}`,
        });
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
      const pending = await feed.client.interrupt(grant.workflowId);
      if (!pending || pending.interruptId !== grant.interruptId) {
        const a = feed.answered(grant.workflowId);
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
}
