import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { MsgHdrs } from '@nats-io/transport-node';
import type { ActorHost, Incoming } from '../runtime/actorHost.js';
import { TICKET_MESSAGE_ID } from '../runtime/stepLoop.js';
import { describeError, TerminalError } from '../base/errors.js';
import type { InterruptStore } from '../stores/interruptStore.js';
import {
  CancelMessageSchema,
  describeZodError,
  MailboxMessageSchema,
  ResponsePayloadSchema,
  ResponseSchema,
  TicketSchema,
  TimerMessageSchema,
  type ResponsePayload,
} from '../base/schemas.js';
import { resolveReviewer } from '../runtime/reviewerIdentity.js';
import { isWorkflowId, type Subjects } from '../nats/subjects.js';
import { traceFromHeaders, traceHeaders, type TraceCarrier } from '../nats/tracing.js';

// Fatal: a payload that is not UTF-8 is refused, not silently given U+FFFD characters.
const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** How a handled message is settled: acked (nothing), or put back to come again after a delay. */
export type Settle = void | { nakMs: number };

/**
 * A timer message due within this long is put back until it is due; a later one is left to the
 * deadline scheduler of the workers, which publishes it again when it is due.
 */
const NEAR_TIMER_MS = 30_000;

/** When JetStream stored a message, as an ISO time. */
function storedAt(m: JsMsg): string {
  return m.time.toISOString();
}

/** The W3C trace context a message's headers carry, as an {@link Incoming}'s `trace`. */
function traced(m: JsMsg): { trace?: TraceCarrier } {
  const trace = traceFromHeaders(m.headers);
  return trace ? { trace } : {};
}

/** Whether `record` was asked after JetStream stored `m`: `m` cannot have been meant for it. */
function askedAfter(record: { createdAt: string }, m: JsMsg): boolean {
  return Date.parse(record.createdAt) > m.time.getTime();
}

/** Marks a message's last try: should its step fail, the actor is parked (see Incoming). */
function lastTry(final: boolean): { final?: true } {
  return final ? { final: true } : {};
}

/** Which copy a pulled message is: its stream and sequence (see Incoming's `source`). */
function sourceOf(m: JsMsg): { source: { stream: string; seq: number } } {
  return { source: { stream: m.info.stream, seq: m.info.streamSequence } };
}

/** Publish options that pass a message's trace context on to the actor it is forwarded to. */
function forwardTrace(m: JsMsg): { headers?: MsgHdrs } {
  const headers = traceHeaders(traceFromHeaders(m.headers));
  return headers ? { headers } : {};
}

/** A bad input: dead-letter it with this reason, and tell the reviewer when there is one. */
export class BadInput extends TerminalError {
  override name = 'BadInput';
}

/**
 * A payload over `HITL_MAX_PAYLOAD_BYTES`, refused before it is read. Its dead letter keeps
 * only the first `limit` bytes: the whole of it might not fit in a message.
 */
export class PayloadTooLarge extends BadInput {
  override name = 'PayloadTooLarge';
  constructor(
    size: number,
    readonly limit: number,
  ) {
    super(
      `payload of ${size} bytes exceeds the limit of ${limit} bytes (HITL_MAX_PAYLOAD_BYTES); the dead letter keeps its first ${limit} bytes`,
    );
  }
}

function parseJson(data: Uint8Array, maxBytes: number): unknown {
  if (data.length > maxBytes) throw new PayloadTooLarge(data.length, maxBytes);
  let text: string;
  try {
    text = decoder.decode(data);
  } catch {
    throw new BadInput('payload is not valid UTF-8 (send UTF-8 encoded JSON)');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new BadInput(`payload is not JSON: ${describeError(err)}`);
  }
}

/** What the inbound handlers work with. */
export interface InboundDeps {
  host: ActorHost;
  js: JetStreamClient;
  jsm: JetStreamManager;
  subjects: Subjects;
  interrupts: InterruptStore;
  /** `HITL_MAX_PAYLOAD_BYTES`: a larger inbound message is dead-lettered unread. */
  maxPayloadBytes: number;
  /** `HITL_REVIEWER_FROM_SUBJECT`: a response must name its reviewer in its subject. */
  reviewerFromSubject?: boolean;
}

/**
 * What a worker does with each message it pulls: a ticket starts a workflow, a response goes
 * to the actor whose interrupt it answers, a due timer expires an interrupt, a mailbox message
 * is applied to its actor. Each validates its input at the boundary: {@link BadInput} is
 * dead-lettered by the caller; any other error fails the step, which is redelivered.
 */
export class Inbound {
  private readonly host: ActorHost;
  private readonly js: JetStreamClient;
  private readonly jsm: JetStreamManager;
  private readonly subjects: Subjects;
  private readonly interrupts: InterruptStore;
  private readonly maxPayloadBytes: number;
  private readonly reviewerFromSubject: boolean;

  constructor(deps: InboundDeps) {
    this.host = deps.host;
    this.js = deps.js;
    this.jsm = deps.jsm;
    this.subjects = deps.subjects;
    this.interrupts = deps.interrupts;
    this.maxPayloadBytes = deps.maxPayloadBytes;
    this.reviewerFromSubject = deps.reviewerFromSubject === true;
  }

  async ticket(m: JsMsg, actor: string, final = false): Promise<Settle> {
    const parsed = TicketSchema.safeParse(parseJson(m.data, this.maxPayloadBytes));
    if (!parsed.success) throw new BadInput(`invalid ticket: ${describeZodError(parsed.error)}`);
    const { id, ...ticket } = parsed.data;
    const msgId = m.headers?.get('Nats-Msg-Id');
    // A generated id must be the same on every delivery of this message, or a redelivery
    // would start a second workflow.
    const workflowId =
      id ??
      (msgId && isWorkflowId(msgId)
        ? msgId
        : `t${m.info.streamSequence}-${m.info.timestampNanos.toString(36)}`);
    // Seen for the first time: its workflow surely has no actor yet (a ticket repeated with
    // its id after JetStream's duplicate window is the exception, and its create then fails).
    await this.host.apply(actor, workflowId, {
      id: TICKET_MESSAGE_ID,
      type: 'message',
      message: { type: 'ticket', ...ticket },
      fresh: !m.info.redelivered,
      ...traced(m),
      ...lastTry(final),
      ...sourceOf(m),
    });
  }

  async response(m: JsMsg, final = false): Promise<Settle> {
    const seq = m.info.streamSequence;
    const target = this.subjects.parseResponse(m.subject);
    if (!target.ok) {
      // Nothing is applied; a waiter on a legal workflow id is told why.
      if (target.workflowId !== undefined) {
        await this.host.publishRejection(target.workflowId, seq, target.reason, {});
      }
      throw new BadInput(target.reason);
    }
    const wf = target.workflowId;
    const proven = target.reviewer !== undefined ? { reviewer: target.reviewer } : {};
    let payload: ResponsePayload;
    try {
      const parsed = ResponsePayloadSchema.safeParse(parseJson(m.data, this.maxPayloadBytes));
      if (!parsed.success)
        throw new BadInput(`invalid response: ${describeZodError(parsed.error)}`);
      payload = parsed.data;
    } catch (err) {
      await this.host.publishRejection(wf, seq, describeError(err), proven);
      throw err;
    }
    const who = resolveReviewer(
      payload,
      { subject: m.subject, ...proven },
      this.reviewerFromSubject,
    );
    if (!who.ok) {
      await this.host.publishRejection(
        wf,
        seq,
        who.reason,
        who.reviewer !== undefined ? { reviewer: who.reviewer } : {},
      );
      if (who.deadLetter) throw new BadInput(who.reason);
      return;
    }
    const response = who.response;
    const incoming: Incoming = {
      id: `r${seq}`,
      type: 'response',
      response,
      responseSeq: seq,
      storedAt: storedAt(m),
      ...traced(m),
      ...lastTry(final),
      ...sourceOf(m),
    };
    // A redelivery (its worker died mid-step, say) may find the response applied already and
    // its interrupt gone, or replaced by the next one: it goes back to the actor that applied
    // it, which re-publishes that step's effects; it is neither applied again nor rejected.
    let applied = m.info.redelivered ? await this.host.appliedBy(wf, incoming.id) : undefined;
    const pending = applied === undefined ? await this.interrupts.getEntry(wf) : undefined;
    // A copy handed out as a first delivery may have been applied too: on a cluster, the new
    // leader of the responses consumer does not know the deliveries and acks its dead
    // predecessor had not replicated. Looked up only where the response finds no interrupt,
    // or one asked after it was stored, so the usual answer costs nothing more.
    if (!m.info.redelivered && (pending === undefined || askedAfter(pending.record, m))) {
      applied = await this.host.appliedBy(wf, incoming.id);
    }
    const actor = applied ?? pending?.record.actor;
    if (actor === undefined) {
      await this.host.publishRejection(
        wf,
        seq,
        `workflow '${wf}' is not waiting for a human (no pending interrupt: already answered, expired, cancelled, or never asked)`,
        response,
      );
      return;
    }
    if (this.host.hosts(actor)) {
      await this.host.apply(
        actor,
        wf,
        pending && applied === undefined
          ? {
              ...incoming,
              seen: { interruptId: pending.record.interruptId, revision: pending.revision },
            }
          : incoming,
      );
      return;
    }
    // The actor lives in another worker: hand the response to its mailbox.
    await this.js.publish(
      this.subjects.mailbox(actor, wf),
      encoder.encode(
        JSON.stringify({
          type: 'hitl.response',
          response,
          responseSeq: seq,
          storedAt: incoming.storedAt,
        }),
      ),
      { msgID: `${wf}.r${seq}`, ...forwardTrace(m) },
    );
  }

  /**
   * A deadline. Not due yet: one due soon is put back until then; a later one is dropped, as the
   * scheduler of every worker ({@link TimerScheduler}) publishes it again when it is due, so
   * that waiting deadlines hold no ack-pending slot. One whose interrupt is no longer pending
   * (answered, replaced) is dropped. Due: once every response JetStream stored for the workflow
   * has been applied, including one forwarded to the actor's mailbox by a worker that does not
   * host it (one stored before the deadline still wins), the interrupt expires.
   */
  async timer(m: JsMsg, final = false): Promise<Settle> {
    const parsed = TimerMessageSchema.safeParse(parseJson(m.data, this.maxPayloadBytes));
    if (!parsed.success) throw new BadInput(`invalid timer: ${describeZodError(parsed.error)}`);
    const timer = parsed.data;
    const wf = timer.workflowId;
    const pending = await this.interrupts.get(wf);
    if (pending?.interruptId !== timer.interruptId) return;
    const wait = Date.parse(timer.expiresAt) - Date.now();
    if (wait > NEAR_TIMER_MS) return;
    if (wait > 0) return { nakMs: wait };
    if (
      (await this.responsesUnhandled(wf)) ||
      (await this.mailboxHolds(this.subjects.mailbox(timer.actor, wf)))
    ) {
      return { nakMs: 250 };
    }
    const id = `x${timer.interruptId}`;
    if (this.host.hosts(timer.actor)) {
      await this.host.apply(timer.actor, wf, {
        id,
        type: 'expire',
        interruptId: timer.interruptId,
        ...traced(m),
        ...lastTry(final),
        ...sourceOf(m),
      });
      return;
    }
    await this.js.publish(
      this.subjects.mailbox(timer.actor, wf),
      // `timerSeq`: the copy this relays, which a redelivery of its step must name (Incoming's
      // `source`), as a forwarded response names its response's sequence.
      encoder.encode(
        JSON.stringify({
          type: 'hitl.expire',
          interruptId: timer.interruptId,
          timerSeq: m.info.streamSequence,
        }),
      ),
      { msgID: `${wf}.${id}`, ...forwardTrace(m) },
    );
  }

  /**
   * True while the mailbox `subject` (a work queue) still stores a message: a response a worker
   * forwarded there was acked on the responses consumer before the actor applied it.
   */
  private async mailboxHolds(subject: string): Promise<boolean> {
    try {
      const held = await this.jsm.streams.getMessage(this.subjects.streams.mailbox, {
        last_by_subj: subject,
      });
      return held !== null;
    } catch (err) {
      if (/no message found/i.test(describeError(err))) return false;
      throw err;
    }
  }

  /** True while the latest response stored for `wf` is not yet acknowledged by the consumer. */
  private async responsesUnhandled(wf: string): Promise<boolean> {
    const stream = this.subjects.streams.responses;
    const lastOn = async (subject: string): Promise<number> => {
      try {
        const last = await this.jsm.streams.getMessage(stream, { last_by_subj: subject });
        return last?.seq ?? 0;
      } catch (err) {
        if (/no message found/i.test(describeError(err))) return 0;
        throw err;
      }
    };
    // Responses without and with the reviewer's token (`…respond.<wf>` and `…respond.<wf>.*`).
    const [plain, named] = await Promise.all([
      lastOn(this.subjects.respond(wf)),
      lastOn(this.subjects.respondNamed(wf)),
    ]);
    const last = Math.max(plain, named);
    if (last === 0) return false;
    const info = await this.jsm.consumers.info(stream, this.subjects.consumer('responses'));
    return last > info.ack_floor.stream_seq;
  }

  async mailbox(m: JsMsg, kind: string, final = false): Promise<Settle> {
    const wf = this.subjects.workflowOfMailbox(kind, m.subject);
    if (!wf) throw new BadInput(`illegal workflow id in subject '${m.subject}'`);
    // Twice the limit: a message between actors carries a ticket's request and a draft.
    const parsed = MailboxMessageSchema.safeParse(parseJson(m.data, 2 * this.maxPayloadBytes));
    if (!parsed.success)
      throw new BadInput(`invalid actor message: ${describeZodError(parsed.error)}`);
    const message = parsed.data;
    const header = m.headers?.get('Nats-Msg-Id');
    const id = header
      ? header.startsWith(`${wf}.`)
        ? header.slice(wf.length + 1)
        : header
      : `s${m.info.streamSequence}`;
    if (message.type === 'hitl.response') {
      const response = ResponseSchema.safeParse(message.response);
      const seq = Number(message.responseSeq);
      if (!response.success || !Number.isInteger(seq)) {
        throw new BadInput('invalid forwarded response');
      }
      await this.host.apply(kind, wf, {
        id: `r${seq}`,
        type: 'response',
        response: response.data,
        responseSeq: seq,
        ...(typeof message.storedAt === 'string' ? { storedAt: message.storedAt } : {}),
        ...traced(m),
        ...lastTry(final),
        // Relayed from the responses stream: the same copy as the response it forwards.
        source: { stream: this.subjects.streams.responses, seq },
      });
    } else if (message.type === 'hitl.retry') {
      await this.host.apply(kind, wf, {
        id,
        type: 'retry',
        ...traced(m),
        ...sourceOf(m),
        ...lastTry(final),
      });
    } else if (message.type === 'hitl.cancel') {
      const cancel = CancelMessageSchema.safeParse(message);
      if (!cancel.success) {
        throw new BadInput(`invalid cancel: ${describeZodError(cancel.error)}`);
      }
      await this.host.apply(kind, wf, {
        id,
        type: 'cancel',
        reason: cancel.data.reason,
        by: cancel.data.by,
        ...traced(m),
        ...sourceOf(m),
        ...lastTry(final),
      });
    } else if (message.type === 'hitl.expire' && typeof message.interruptId === 'string') {
      await this.host.apply(kind, wf, {
        id,
        type: 'expire',
        interruptId: message.interruptId,
        ...traced(m),
        ...lastTry(final),
        ...(typeof message.timerSeq === 'number'
          ? { source: { stream: this.subjects.streams.timers, seq: message.timerSeq } }
          : sourceOf(m)),
      });
    } else {
      await this.host.apply(kind, wf, {
        id,
        type: 'message',
        message,
        ...traced(m),
        ...lastTry(final),
        ...sourceOf(m),
      });
    }
  }
}
