import {
  jetstream,
  type JetStreamManager,
  type JetStreamClient,
  type JsMsg,
} from '@nats-io/jetstream';
import type { MsgHdrs, NatsConnection } from '@nats-io/transport-node';
import type { ActorDefinition } from './actorDefinition.js';
import { ActorHost, type Incoming } from './actorHost.js';
import { DEFAULT_MAX_PAYLOAD_BYTES, type HitlConfig } from './config.js';
import { connectNats } from './connection.js';
import { deadLetter } from './deadLetter.js';
import { describeError, TerminalError } from './errors.js';
import { InterruptStore } from './interruptStore.js';
import { createLogger, type Logger } from './logger.js';
import {
  describeZodError,
  MailboxMessageSchema,
  ResponseSchema,
  TicketSchema,
  TimerMessageSchema,
  type HumanResponse,
} from './schemas.js';
import { KvSnapshotStore } from './snapshotStore.js';
import { traceFromHeaders, traceHeaders, type TraceCarrier } from './tracing.js';
import { isWorkflowId, Subjects } from './subjects.js';
import { ACK_WAIT_MS, ensureTopology, MAX_DELIVER } from './topology.js';

/** Where tickets from `hitl.tickets.new` go: the actor kind that starts a workflow. */
export interface TicketIntake {
  actor: string;
}

export interface WorkerOptions {
  config: HitlConfig;
  definitions: readonly ActorDefinition[];
  /** Consume `hitl.tickets.new` and start this actor for each ticket. */
  intake?: TicketIntake;
  /** Messages processed at once by this worker. */
  concurrency?: number;
  /** An existing connection; otherwise the worker connects and closes its own. */
  connection?: NatsConnection;
  logger?: Logger;
}

// Fatal: a payload that is not UTF-8 is refused, not silently given U+FFFD characters.
const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

/** How messages come back: `HITL_ACK_WAIT_MS`, `HITL_MAX_DELIVER`, `HITL_RETRY_BACKOFF_MS`. */
interface Delivery {
  ackWaitMs: number;
  maxDeliver: number;
  /** A failed step comes back after `min(30 s, backoffMs × 2^deliveries)`. */
  backoffMs: number;
}

const RETRY_BACKOFF_MS = 100;

/** How a handled message is settled: acked (nothing), or put back to come again after a delay. */
type Settle = void | { nakMs: number };

/** How long one pull waits for messages; also the longest a stop waits for a pull to end. */
const FETCH_EXPIRES_MS = 1_000;

/** A timer due later than this is looked at again after this long (and put back again). */
const MAX_TIMER_NAP_MS = 60 * 60_000;

/** When JetStream stored a message, as an ISO time. */
function storedAt(m: JsMsg): string {
  return m.time.toISOString();
}

/** The W3C trace context a message's headers carry, as an {@link Incoming}'s `trace`. */
function traced(m: JsMsg): { trace?: TraceCarrier } {
  const trace = traceFromHeaders(m.headers);
  return trace ? { trace } : {};
}

/** Publish options that pass a message's trace context on to the actor it is forwarded to. */
function forwardTrace(m: JsMsg): { headers?: MsgHdrs } {
  const headers = traceHeaders(traceFromHeaders(m.headers));
  return headers ? { headers } : {};
}

/** A bad input: dead-letter it with this reason, and tell the reviewer when there is one. */
class BadInput extends TerminalError {
  override name = 'BadInput';
}

/**
 * A payload over `HITL_MAX_PAYLOAD_BYTES`, refused before it is read. Its dead letter keeps
 * only the first `limit` bytes: the whole of it might not fit in a message.
 */
class PayloadTooLarge extends BadInput {
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

/**
 * Hosts actor kinds on NATS: one durable consumer per hosted kind's mailbox, one for human
 * responses and, with an intake, one for tickets. Any number of workers may run side by side;
 * they share the consumers.
 *
 * @example
 * const worker = await Worker.start({ config: loadConfig(), definitions, intake: { actor: 'triage' } });
 * process.once('SIGTERM', () => void worker.stop());
 */
export class Worker {
  private readonly inFlight = new Set<Promise<void>>();
  /** The messages of the steps in flight, to hand back if a stop's bound passes. */
  private readonly held = new Set<JsMsg>();
  private readonly loops: Promise<void>[] = [];
  private waiters: (() => void)[] = [];
  private stopping: Promise<void> | undefined;
  /** `HITL_MAX_PAYLOAD_BYTES`: a larger inbound message is dead-lettered unread. */
  private maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES;
  private closing = false;

  private constructor(
    readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly subjects: Subjects,
    readonly host: ActorHost,
    private readonly interrupts: InterruptStore,
    private readonly log: Logger,
    private readonly concurrency: number,
    private readonly delivery: Delivery,
  ) {}

  static async start(options: WorkerOptions): Promise<Worker> {
    const log = options.logger ?? createLogger({ component: 'worker' });
    const nc = options.connection ?? (await connectNats(options.config.nats, 'hitl-worker'));
    try {
      const subjects = new Subjects(options.config.prefix);
      const kinds = options.definitions.map((d) => d.kind);
      const delivery: Delivery = {
        ackWaitMs: options.config.ackWaitMs ?? ACK_WAIT_MS,
        maxDeliver: options.config.maxDeliver ?? MAX_DELIVER,
        backoffMs: options.config.retryBackoffMs ?? RETRY_BACKOFF_MS,
      };
      const { jsm, buckets } = await ensureTopology(nc, subjects, kinds, delivery, {
        replicas: options.config.replicas ?? 1,
        ...(options.config.eventsMaxAgeMs !== undefined
          ? { eventsMaxAgeMs: options.config.eventsMaxAgeMs }
          : {}),
      });
      const js = jetstream(nc);
      const interrupts = new InterruptStore(buckets.interrupts, subjects);
      const host = new ActorHost({
        js,
        subjects,
        snapshots: new KvSnapshotStore(buckets.snapshots, subjects),
        interrupts,
        definitions: options.definitions,
        logger: log,
        ...(options.config.approvers ? { approvers: options.config.approvers } : {}),
        ...(options.config.separateApprover ? { separateApprover: true } : {}),
        ...(options.config.localDelivery === false ? { localDelivery: false } : {}),
        ...(options.config.gateTimeoutMs !== undefined
          ? { defaultTimeoutMs: options.config.gateTimeoutMs }
          : {}),
      });
      const worker = new Worker(
        nc,
        options.connection === undefined,
        js,
        jsm,
        subjects,
        host,
        interrupts,
        log,
        options.concurrency ?? 32,
        delivery,
      );
      worker.maxPayloadBytes = options.config.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
      if (options.intake) {
        if (!host.hosts(options.intake.actor)) {
          throw new Error(`intake actor '${options.intake.actor}' is not among the hosted kinds`);
        }
        const intake = options.intake.actor;
        await worker.consume(subjects.streams.tickets, 'tickets', (m) =>
          worker.onTicket(m, intake),
        );
      }
      await worker.consume(subjects.streams.responses, 'responses', (m) => worker.onResponse(m));
      await worker.consume(subjects.streams.timers, 'timers', (m) => worker.onTimer(m));
      for (const kind of kinds) {
        await worker.consume(subjects.streams.mailbox, `actor-${kind}`, (m) =>
          worker.onMailbox(m, kind),
        );
      }
      log.info('worker started', { actors: kinds, intake: options.intake?.actor ?? null });
      return worker;
    } catch (err) {
      if (options.connection === undefined) await nc.close();
      throw err;
    }
  }

  /** Stops taking messages, lets in-flight steps finish (bounded), closes its connection. */
  stop(timeoutMs = 10_000): Promise<void> {
    this.closing = true;
    this.host.drain();
    for (const wake of this.waiters.splice(0)) wake();
    this.stopping ??= (async () => {
      // Pull loops end within one fetch expiry; whatever they still receive is handed back.
      await Promise.allSettled(this.loops);
      const drained = Promise.all([...this.inFlight]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      const finished = await Promise.race([drained.then(() => true), timeout.then(() => false)]);
      clearTimeout(timer);
      if (!finished) {
        // A step still running at the bound (a hung model call, say) is handed back at once
        // for another worker, not left to wait out the ack wait. Should it still commit, the
        // snapshot's compare-and-set lets one of the two commit, and the other is a redelivery.
        for (const m of this.held) m.nak();
        this.log.warn('steps still running at the drain bound were handed back', {
          steps: this.held.size,
          timeoutMs,
        });
      }
      if (this.ownsConnection) await this.nc.drain();
      this.log.info('worker stopped');
    })();
    return this.stopping;
  }

  /** Steps running now; after a {@link stop} that hit its bound, the ones it handed back. */
  get stepsInFlight(): number {
    return this.inFlight.size;
  }

  /**
   * Pulls from a durable consumer in bounded batches (`fetch`), never more than the free
   * capacity. Unlike a continuous `consume()`, a batch ends on its own, so on stop every message
   * the server sent us is either processed or handed back (`nak`) at once: none waits out the
   * ack wait in a buffer that was thrown away.
   */
  private async consume(
    stream: string,
    role: string,
    handler: (m: JsMsg) => Promise<Settle>,
  ): Promise<void> {
    const consumer = await this.js.consumers.get(stream, this.subjects.consumer(role));
    this.loops.push(
      (async () => {
        while (!this.closing) {
          while (this.inFlight.size >= this.concurrency && !this.closing) {
            await new Promise<void>((resolve) => this.waiters.push(resolve));
          }
          if (this.closing) break;
          let batch: AsyncIterable<JsMsg>;
          try {
            batch = await consumer.fetch({
              max_messages: this.concurrency - this.inFlight.size,
              expires: FETCH_EXPIRES_MS,
            });
            for await (const m of batch) {
              if (this.closing) {
                m.nak();
                continue;
              }
              const task = this.process(m, role, handler).finally(() => {
                this.inFlight.delete(task);
                for (const wake of this.waiters.splice(0)) wake();
              });
              this.inFlight.add(task);
            }
          } catch (err) {
            if (this.closing) break;
            // The server is away or restarting: the connection reconnects by itself.
            this.log.warn('pull failed, retrying', { consumer: role, reason: describeError(err) });
            await new Promise((resolve) => setTimeout(resolve, 500));
          }
        }
      })(),
    );
  }

  /** Runs a handler, then acks; dead-letters bad input and poison; redelivers the rest. */
  private async process(
    m: JsMsg,
    role: string,
    handler: (m: JsMsg) => Promise<Settle>,
  ): Promise<void> {
    const heartbeat = setInterval(() => m.working(), this.delivery.ackWaitMs / 3);
    this.held.add(m);
    const source = role.startsWith('actor-') ? 'mailbox' : role;
    try {
      const settle = await handler(m);
      if (settle && 'nakMs' in settle) m.nak(settle.nakMs);
      else m.ack();
    } catch (err) {
      const reason = describeError(err);
      const dedupe = `${source}.${m.info.streamSequence}`;
      try {
        if (err instanceof TerminalError) {
          await deadLetter(
            this.js,
            this.subjects,
            {
              source,
              subject: m.subject,
              reason,
              data: err instanceof PayloadTooLarge ? m.data.subarray(0, err.limit) : m.data,
            },
            dedupe,
          );
          m.ack();
        } else if (m.info.deliveryCount >= this.delivery.maxDeliver) {
          const why = `gave up after ${m.info.deliveryCount} deliveries: ${reason}`;
          this.log.error('message dead-lettered', { ...this.about(m, role), reason: why });
          await deadLetter(
            this.js,
            this.subjects,
            { source, subject: m.subject, reason: why, data: m.data },
            dedupe,
          );
          // Its reviewer waits for a verdict; the interrupt stays pending for another answer.
          const wf =
            source === 'responses' ? this.subjects.workflowOfResponse(m.subject) : undefined;
          if (wf !== undefined)
            await this.host.publishRejection(wf, m.info.streamSequence, why, {});
          m.ack();
        } else {
          this.log.warn('step failed, will be redelivered', {
            ...this.about(m, role),
            delivery: m.info.deliveryCount,
            reason,
          });
          m.nak(Math.min(30_000, this.delivery.backoffMs * 2 ** m.info.deliveryCount));
        }
      } catch (dlqErr) {
        this.log.error('could not settle message; it will be redelivered', {
          ...this.about(m, role),
          reason: describeError(dlqErr),
        });
        m.nak(1_000);
      }
    } finally {
      clearInterval(heartbeat);
      this.held.delete(m);
    }
  }

  /** The log fields of a message: its subject, and the workflow and actor it is for. */
  private about(m: JsMsg, role: string): Record<string, unknown> {
    const fields: Record<string, unknown> = { subject: m.subject, consumer: role };
    const kind = role.startsWith('actor-') ? role.slice('actor-'.length) : undefined;
    const wf =
      kind !== undefined
        ? this.subjects.workflowOfMailbox(kind, m.subject)
        : this.subjects.workflowOfResponse(m.subject);
    if (kind !== undefined) fields.actor = kind;
    if (wf !== undefined) fields.workflowId = wf;
    return fields;
  }

  private async onTicket(m: JsMsg, actor: string): Promise<Settle> {
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
      id: 'ticket',
      type: 'message',
      message: { type: 'ticket', ...ticket },
      fresh: !m.info.redelivered,
      ...traced(m),
    });
  }

  private async onResponse(m: JsMsg): Promise<Settle> {
    const wf = this.subjects.workflowOfResponse(m.subject);
    if (!wf)
      throw new BadInput(
        `illegal workflow id in subject '${m.subject}' (use 1 to 64 letters, digits, '-' and '_')`,
      );
    const seq = m.info.streamSequence;
    let response: HumanResponse;
    try {
      const parsed = ResponseSchema.safeParse(parseJson(m.data, this.maxPayloadBytes));
      if (!parsed.success)
        throw new BadInput(`invalid response: ${describeZodError(parsed.error)}`);
      response = parsed.data;
    } catch (err) {
      await this.host.publishRejection(wf, seq, describeError(err), {});
      throw err;
    }
    const incoming: Incoming = {
      id: `r${seq}`,
      type: 'response',
      response,
      responseSeq: seq,
      storedAt: storedAt(m),
      ...traced(m),
    };
    // A redelivery (its worker died mid-step, say) may find the response applied already and
    // its interrupt gone, or replaced by the next one: it goes back to the actor that applied
    // it, which re-publishes that step's effects; it is neither applied again nor rejected.
    const applied = m.info.redelivered ? await this.host.appliedBy(wf, incoming.id) : undefined;
    const pending = applied === undefined ? await this.interrupts.getEntry(wf) : undefined;
    const actor = applied ?? pending?.record.actor;
    if (actor === undefined) {
      await this.host.publishRejection(
        wf,
        seq,
        `workflow '${wf}' is not waiting for a human (no pending interrupt: already answered, expired, or never asked)`,
        response,
      );
      return;
    }
    if (this.host.hosts(actor)) {
      await this.host.apply(
        actor,
        wf,
        pending
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
   * A deadline: put back until it is due; then, once every response JetStream stored for the
   * workflow has been handled (one stored before the deadline still wins), expire the interrupt.
   */
  private async onTimer(m: JsMsg): Promise<Settle> {
    const parsed = TimerMessageSchema.safeParse(parseJson(m.data, this.maxPayloadBytes));
    if (!parsed.success) throw new BadInput(`invalid timer: ${describeZodError(parsed.error)}`);
    const timer = parsed.data;
    const wait = Date.parse(timer.expiresAt) - Date.now();
    if (wait > 0) return { nakMs: Math.min(wait, MAX_TIMER_NAP_MS) };
    if (await this.responsesUnhandled(timer.workflowId)) return { nakMs: 250 };
    const wf = timer.workflowId;
    const id = `x${timer.interruptId}`;
    if (this.host.hosts(timer.actor)) {
      await this.host.apply(timer.actor, wf, {
        id,
        type: 'expire',
        interruptId: timer.interruptId,
        ...traced(m),
      });
      return;
    }
    await this.js.publish(
      this.subjects.mailbox(timer.actor, wf),
      encoder.encode(JSON.stringify({ type: 'hitl.expire', interruptId: timer.interruptId })),
      { msgID: `${wf}.${id}`, ...forwardTrace(m) },
    );
  }

  /** True while the latest response stored for `wf` is not yet acknowledged by the consumer. */
  private async responsesUnhandled(wf: string): Promise<boolean> {
    const stream = this.subjects.streams.responses;
    let last: { seq: number } | null;
    try {
      last = await this.jsm.streams.getMessage(stream, { last_by_subj: this.subjects.respond(wf) });
    } catch (err) {
      if (/no message found/i.test(describeError(err))) return false;
      throw err;
    }
    if (!last) return false;
    const info = await this.jsm.consumers.info(stream, this.subjects.consumer('responses'));
    return last.seq > info.ack_floor.stream_seq;
  }

  private async onMailbox(m: JsMsg, kind: string): Promise<Settle> {
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
      });
    } else if (message.type === 'hitl.retry') {
      await this.host.apply(kind, wf, { id, type: 'retry', ...traced(m) });
    } else if (message.type === 'hitl.expire' && typeof message.interruptId === 'string') {
      await this.host.apply(kind, wf, {
        id,
        type: 'expire',
        interruptId: message.interruptId,
        ...traced(m),
      });
    } else {
      await this.host.apply(kind, wf, { id, type: 'message', message, ...traced(m) });
    }
  }
}
