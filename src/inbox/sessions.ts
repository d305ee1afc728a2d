import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ReviewerNames } from './reviewerNames.js';

/** Who is asking, as the inbox proved it. */
export interface Reviewer {
  name: string;
  how: 'proxy' | 'nats' | 'link';
  /** Their own NATS connection (signed in with NATS credentials): answers go out on it. */
  conn?: NatsConnection;
  /** An answer link's session: only this interrupt. */
  link?: { workflowId: string; interruptId: string };
}

const COOKIE = 'hitl_session';
/** A NATS sign-in lasts this long (its connection is closed after). */
const NATS_SESSION_MS = 8 * 3_600_000;

interface CookieValue {
  m: 'nats' | 'link';
  /** NATS sessions: the server-side session id. */
  s?: string;
  /** Link sessions: reviewer, workflow, interrupt. */
  r?: string;
  w?: string;
  i?: string;
  /** Expiry, ms since the epoch. */
  e: number;
}

/**
 * Sessions in one signed, HttpOnly, SameSite=Strict cookie (signed by @fastify/cookie with the
 * inbox secret). A NATS sign-in keeps the reviewer's own connection here, server side, under a
 * random id; an answer link's session names its reviewer and interrupt in the cookie itself.
 * With a trusted proxy header, the header names the reviewer on every request.
 */
export class Sessions {
  private readonly nats = new Map<
    string,
    { name: string; conn: NatsConnection; expires: number }
  >();

  constructor(
    private readonly names: ReviewerNames,
    private readonly proxyHeader: string | undefined,
    private readonly secureCookies: boolean,
  ) {}

  /** The reviewer of a request, or undefined when nobody is signed in. */
  who(req: FastifyRequest): Reviewer | undefined {
    if (this.proxyHeader) {
      const raw = req.headers[this.proxyHeader.toLowerCase()];
      const name = this.names.map(Array.isArray(raw) ? raw[0] : raw);
      if (name) return { name, how: 'proxy' };
    }
    const cookie = this.cookie(req);
    if (!cookie || cookie.e <= Date.now()) return undefined;
    if (cookie.m === 'link' && cookie.r && cookie.w && cookie.i) {
      return { name: cookie.r, how: 'link', link: { workflowId: cookie.w, interruptId: cookie.i } };
    }
    if (cookie.m === 'nats' && cookie.s) {
      const s = this.nats.get(cookie.s);
      if (s && s.expires > Date.now() && !s.conn.isClosed()) {
        return { name: s.name, how: 'nats', conn: s.conn };
      }
    }
    return undefined;
  }

  /** What a proxied request's header said, for a refusal that names it. */
  proxyName(req: FastifyRequest): string | undefined {
    if (!this.proxyHeader) return undefined;
    const raw = req.headers[this.proxyHeader.toLowerCase()];
    return Array.isArray(raw) ? raw[0] : raw;
  }

  startNats(reply: FastifyReply, name: string, conn: NatsConnection): void {
    const id = randomBytes(32).toString('base64url');
    const expires = Date.now() + NATS_SESSION_MS;
    this.nats.set(id, { name, conn, expires });
    this.set(reply, { m: 'nats', s: id, e: expires });
  }

  startLink(
    reply: FastifyReply,
    grant: { reviewer: string; workflowId: string; interruptId: string; expires: number },
  ): void {
    this.set(reply, {
      m: 'link',
      r: grant.reviewer,
      w: grant.workflowId,
      i: grant.interruptId,
      e: grant.expires,
    });
  }

  async end(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const cookie = this.cookie(req);
    if (cookie?.s) {
      const s = this.nats.get(cookie.s);
      this.nats.delete(cookie.s);
      await s?.conn.close();
    }
    reply.clearCookie(COOKIE, { path: '/' });
  }

  async closeAll(): Promise<void> {
    const all = [...this.nats.values()];
    this.nats.clear();
    await Promise.all(all.map((s) => s.conn.close()));
  }

  private set(reply: FastifyReply, value: CookieValue): void {
    reply.setCookie(COOKIE, JSON.stringify(value), {
      signed: true,
      httpOnly: true,
      sameSite: 'strict',
      secure: this.secureCookies,
      path: '/',
      expires: new Date(value.e),
    });
  }

  private cookie(req: FastifyRequest): CookieValue | undefined {
    const raw = req.cookies[COOKIE];
    if (!raw) return undefined;
    const unsigned = req.unsignCookie(raw);
    if (!unsigned.valid || unsigned.value === null) return undefined;
    try {
      return JSON.parse(unsigned.value) as CookieValue;
    } catch {
      return undefined;
    }
  }
}
