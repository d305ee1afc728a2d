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
