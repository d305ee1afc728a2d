import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { IllegalWorkflowIdError } from '../base/errors.js';
import { WORKFLOW_ID_PATTERN } from '../base/schemas.js';

export { WORKFLOW_ID_PATTERN };
const KIND_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
const PREFIX_PATTERN = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** Throws {@link IllegalWorkflowIdError} unless `id` is a legal workflow id. */
export function assertWorkflowId(id: string): string {
  if (!WORKFLOW_ID_PATTERN.test(id)) throw new IllegalWorkflowIdError(id);
  return id;
}

/** True when `id` is a legal workflow id. */
export function isWorkflowId(id: string): boolean {
  return WORKFLOW_ID_PATTERN.test(id);
}

/** A subject token the runtime names things with: a reviewer, an event type, a DLQ source. */
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** What a response subject names: see {@link Subjects.parseResponse}. */
export type ResponseSubject =
  | { ok: true; workflowId: string; reviewer?: string }
  | { ok: false; reason: string; workflowId?: string };

function assertToken(what: string, token: string): void {
  if (!TOKEN_PATTERN.test(token)) {
    throw new Error(`illegal ${what}: '${token}' (use letters, digits, '-' and '_')`);
  }
}

/** Throws unless `kind` is a legal actor kind (lower-case letters, digits, '-' and '_'). */
export function assertActorKind(kind: string): string {
  if (!KIND_PATTERN.test(kind)) {
    throw new Error(`illegal actor kind: '${kind}' (use lower-case letters, digits, '-' and '_')`);
  }
  return kind;
}

/**
 * Every subject, stream, bucket, consumer and key name the runtime uses, built in one place.
 * With the default prefix `hitl` the names are exactly the wire contract's; another prefix
 * (`HITL_PREFIX`) gives a separate, non-colliding set on the same server.
 *
 * @example
 * const s = new Subjects('hitl');
 * s.respond('wf-1'); // 'hitl.human.respond.wf-1'
 * s.streams.events; // 'HITL_EVENTS'
 */
export class Subjects {
  readonly prefix: string;
  readonly streams: {
    readonly tickets: string;
    readonly responses: string;
    readonly events: string;
    readonly outbound: string;
    readonly dlq: string;
    readonly mailbox: string;
    readonly timers: string;
  };
  /**
   * The work-queue stream of the completed workflows to remove (`HITL_FINISHED_RETENTION_MS`),
   * created only when that is set: apart from `streams`, which every worker creates.
   */
  readonly finishedStream: string;
  readonly buckets: { readonly snapshots: string; readonly interrupts: string };

  constructor(prefix = 'hitl') {
    if (!PREFIX_PATTERN.test(prefix)) {
      throw new Error(
        `illegal subject prefix: '${prefix}' (use tokens of letters, digits, '-' and '_')`,
      );
    }
    this.prefix = prefix;
    const upper = prefix.toUpperCase().replace(/[^A-Z0-9]/g, '_');
    const lower = prefix.toLowerCase().replace(/[^a-z0-9]/g, '_');
    this.streams = {
      tickets: `${upper}_TICKETS`,
      responses: `${upper}_RESPONSES`,
      events: `${upper}_EVENTS`,
      outbound: `${upper}_OUTBOUND`,
      dlq: `${upper}_DLQ`,
      mailbox: `${upper}_MAILBOX`,
      timers: `${upper}_TIMERS`,
    };
    this.finishedStream = `${upper}_FINISHED`;
    this.buckets = { snapshots: `${lower}_snapshots`, interrupts: `${lower}_interrupts` };
  }

  get ticketsNew(): string {
    return `${this.prefix}.tickets.new`;
  }
  humanRequest(wf: string): string {
    return `${this.prefix}.human.request.${assertWorkflowId(wf)}`;
  }
  get humanRequestAll(): string {
    return `${this.prefix}.human.request.>`;
  }
  /**
   * Where a reviewer answers workflow `wf`. With `reviewer`, the subject names them
   * (`…human.respond.<wf>.<reviewer>`, contract v2), so NATS permissions can prove who answered.
   */
  respond(wf: string, reviewer?: string): string {
    const base = `${this.prefix}.human.respond.${assertWorkflowId(wf)}`;
    if (reviewer === undefined) return base;
    assertToken('reviewer name', reviewer);
    return `${base}.${reviewer}`;
  }
  /** The responses to `wf` that name their reviewer: `…human.respond.<wf>.*`. */
  respondNamed(wf: string): string {
    return `${this.prefix}.human.respond.${assertWorkflowId(wf)}.*`;
  }
  get respondAll(): string {
    return `${this.prefix}.human.respond.>`;
  }
  /**
   * The workflow id named by a `…human.respond.<wf>` or `…human.respond.<wf>.<reviewer>`
   * subject, or undefined when it names none; also of a subject with a bad reviewer token or
   * extra tokens, so that the response's waiter can be told (see {@link Subjects.parseResponse}).
   */
  workflowOfResponse(subject: string): string | undefined {
    return this.parseResponse(subject).workflowId;
  }
  /**
   * The workflow and, when the subject names one, the reviewer of a response subject
   * (`…human.respond.<wf>[.<reviewer>]`); or why the subject is not one a response may be
   * published on (with the workflow id when that part is legal, so its waiter can be told).
   *
   * @example
   * new Subjects('hitl').parseResponse('hitl.human.respond.wf-1.ana');
   * // { ok: true, workflowId: 'wf-1', reviewer: 'ana' }
   */
  parseResponse(subject: string): ResponseSubject {
    const head = `${this.prefix}.human.respond.`;
    if (!subject.startsWith(head)) {
      return { ok: false, reason: `'${subject}' is not a response subject (${head}<wf>)` };
    }
    const [wf = '', reviewer, ...extra] = subject.slice(head.length).split('.');
    if (!isWorkflowId(wf)) {
      return {
        ok: false,
        reason: `illegal workflow id in subject '${subject}' (use 1 to 64 letters, digits, '-' and '_')`,
      };
    }
    if (extra.length > 0) {
      return {
        ok: false,
        workflowId: wf,
        reason: `subject '${subject}' has ${extra.length} token(s) too many (publish on ${head}<wf> or ${head}<wf>.<reviewer>)`,
      };
    }
    if (reviewer === undefined) return { ok: true, workflowId: wf };
    if (!TOKEN_PATTERN.test(reviewer)) {
      return {
        ok: false,
        workflowId: wf,
        reason: `illegal reviewer name '${reviewer}' in subject '${subject}' (use 1 to 64 letters, digits, '-' and '_')`,
      };
    }
    return { ok: true, workflowId: wf, reviewer };
  }
  event(wf: string, type: string): string {
    assertToken('event type', type);
    return `${this.prefix}.events.${assertWorkflowId(wf)}.${type}`;
  }
  /** Events of one type, of every workflow (`hitl.events.*.completed`). */
  eventsOfType(type: string): string {
    assertToken('event type', type);
    return `${this.prefix}.events.*.${type}`;
  }
  /** Events of one workflow, or of all workflows when `wf` is undefined. */
  events(wf?: string): string {
    return wf === undefined
      ? `${this.prefix}.events.>`
      : `${this.prefix}.events.${assertWorkflowId(wf)}.>`;
  }
  outboundReply(wf: string): string {
    return `${this.prefix}.outbound.reply.${assertWorkflowId(wf)}`;
  }
  get outboundAll(): string {
    return `${this.prefix}.outbound.reply.>`;
  }
  dlq(source: string): string {
    assertToken('dead-letter source', source);
    return `${this.prefix}.dlq.${source}`;
  }
  get dlqAll(): string {
    return `${this.prefix}.dlq.>`;
  }
  /** An actor's mailbox: internal, `<prefix>.actor.<kind>.<wf>`. */
  mailbox(kind: string, wf: string): string {
    return `${this.prefix}.actor.${assertActorKind(kind)}.${assertWorkflowId(wf)}`;
  }
  mailboxOf(kind: string): string {
    return `${this.prefix}.actor.${assertActorKind(kind)}.*`;
  }
  get mailboxAll(): string {
    return `${this.prefix}.actor.>`;
  }
  /** The workflow id named by a mailbox subject of `kind`. */
  workflowOfMailbox(kind: string, subject: string): string | undefined {
    const head = `${this.prefix}.actor.${kind}.`;
    if (!subject.startsWith(head)) return undefined;
    const wf = subject.slice(head.length);
    return isWorkflowId(wf) ? wf : undefined;
  }
  /** An interrupt's deadline: internal, `<prefix>.timer.<wf>`. */
  timer(wf: string): string {
    return `${this.prefix}.timer.${assertWorkflowId(wf)}`;
  }
  get timerAll(): string {
    return `${this.prefix}.timer.>`;
  }
  /**
   * A completed workflow to remove after `HITL_FINISHED_RETENTION_MS`: internal,
   * `<prefix>.finished.<wf>`, stored in {@link finishedStream}.
   */
  finished(wf: string): string {
    return `${this.prefix}.finished.${assertWorkflowId(wf)}`;
  }
  get finishedAll(): string {
    return `${this.prefix}.finished.>`;
  }
  consumer(role: string): string {
    return `${this.prefix.replace(/[^A-Za-z0-9_-]/g, '_')}-${role}`;
  }
  /** KV key of an actor's snapshot in the snapshots bucket. */
  snapshotKey(kind: string, wf: string): string {
    return `${assertActorKind(kind)}.${assertWorkflowId(wf)}`;
  }
  /** KV key of a workflow's pending interrupt. */
  interruptKey(wf: string): string {
    return assertWorkflowId(wf);
  }
}

const RAW_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * One KV key token for any string: the string itself when it is 1 to 128 letters, digits, '-'
 * or '_'; otherwise '=' and its UTF-8 in base64url, or '==' and the base64url SHA-256 of that
 * UTF-8 when the encoding would pass 128 characters. Raw tokens never start with '=' and
 * base64url never does, so distinct strings give distinct tokens (up to SHA-256 collisions).
 * Throws on a string holding a lone surrogate, which UTF-8 cannot carry.
 *
 * @example
 * keyToken('thread-1'); // 'thread-1'
 * keyToken(''); // '='
 * keyToken('a b'); // '=YSBi'
 */
export function keyToken(value: string): string {
  if (RAW_TOKEN.test(value)) return value;
  if (LONE_SURROGATE.test(value)) {
    throw new Error(
      `illegal key part: '${value}' holds a lone UTF-16 surrogate (use well-formed Unicode)`,
    );
  }
  const utf8 = Buffer.from(value, 'utf8');
  const encoded = utf8.toString('base64url');
  if (encoded.length <= 127) return `=${encoded}`;
  return `==${createHash('sha256').update(utf8).digest('base64url')}`;
}

/** The string a {@link keyToken} stands for, or undefined when the token is a hash. */
export function keyTokenValue(token: string): string | undefined {
  if (token.startsWith('==')) return undefined;
  if (token.startsWith('=')) return Buffer.from(token.slice(1), 'base64url').toString('utf8');
  return token;
}

/**
 * The bucket and keys of the LangGraph checkpointer (`hitl-mesh/langgraph`): one KV bucket,
 * `<prefix>_langgraph`, beside the runtime's `<prefix>_snapshots` and `<prefix>_interrupts`.
 * Every key starts with the thread, so one purge of `<thread>.>` deletes a thread, and the
 * second token says what the entry is:
 * - `<t>.c.<ns>.<checkpoint>`: a checkpoint (no channel values) with its metadata and parent;
 * - `<t>.h.<ns>`: the thread's newest checkpoint id in that namespace (`getTuple` without id);
 * - `<t>.b.<ns>.<checkpoint>.<channel>`: a channel value stored by that checkpoint's put (its
 *   descendants name it while the channel does not change);
 * - `<t>.w.<ns>.<checkpoint>`: the pending writes of a checkpoint.
 * Each part goes through {@link keyToken}.
 *
 * @example
 * const keys = new LangGraphKeys(new Subjects('hitl'));
 * keys.bucket; // 'hitl_langgraph'
 * keys.checkpoint('t-1', '', '1f0c…'); // 't-1.c.=.1f0c…'
 */
export class LangGraphKeys {
  readonly bucket: string;

  constructor(subjects: Subjects) {
    this.bucket = `${subjects.prefix.toLowerCase().replace(/[^a-z0-9]/g, '_')}_langgraph`;
  }

  checkpoint(thread: string, ns: string, id: string): string {
    return `${keyToken(thread)}.c.${keyToken(ns)}.${keyToken(id)}`;
  }
  /** Checkpoints of a thread (every namespace when `ns` is undefined), of all threads without `thread`. */
  checkpoints(thread: string | undefined, ns: string | undefined): string {
    const t = thread === undefined ? '*' : keyToken(thread);
    return `${t}.c.${ns === undefined ? '*' : keyToken(ns)}.*`;
  }
  head(thread: string, ns: string): string {
    return `${keyToken(thread)}.h.${keyToken(ns)}`;
  }
  value(thread: string, ns: string, checkpoint: string, channel: string): string {
    return `${keyToken(thread)}.b.${keyToken(ns)}.${keyToken(checkpoint)}.${keyToken(channel)}`;
  }
  writes(thread: string, ns: string, id: string): string {
    return `${keyToken(thread)}.w.${keyToken(ns)}.${keyToken(id)}`;
  }
  /** Every entry of a thread. */
  thread(thread: string): string {
    return `${keyToken(thread)}.>`;
  }
}
