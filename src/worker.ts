import {
  jetstream,
  type JetStreamClient,
  type JsMsg,
  type ConsumerMessages,
} from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ActorDefinition } from './actorDefinition.js';
import { ActorHost, type Incoming } from './actorHost.js';
import type { HitlConfig } from './config.js';
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
  type HumanResponse,
} from './schemas.js';
import { KvSnapshotStore } from './snapshotStore.js';
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

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A bad input: dead-letter it with this reason, and tell the reviewer when there is one. */
class BadInput extends TerminalError {
  override name = 'BadInput';
}

function parseJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(decoder.decode(data));
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
  private readonly consumers: ConsumerMessages[] = [];
  private readonly loops: Promise<void>[] = [];
  private waiters: (() => void)[] = [];
  private stopping: Promise<void> | undefined;

  private constructor(
    readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    private readonly js: JetStreamClient,
    readonly subjects: Subjects,
    readonly host: ActorHost,
    private readonly interrupts: InterruptStore,
    private readonly log: Logger,
    private readonly concurrency: number,
  ) {}

  static async start(options: WorkerOptions): Promise<Worker> {
    const log = options.logger ?? createLogger({ component: 'worker' });
    const nc = options.connection ?? (await connectNats(options.config.nats, 'hitl-worker'));
    try {
      const subjects = new Subjects(options.config.prefix);
      const kinds = options.definitions.map((d) => d.kind);
      const { buckets } = await ensureTopology(nc, subjects, kinds);
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
      });
      const worker = new Worker(
        nc,
        options.connection === undefined,
        js,
        subjects,
        host,
        interrupts,
        log,
        options.concurrency ?? 32,
      );
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
    this.stopping ??= (async () => {
      await Promise.all(this.consumers.map((c) => c.close()));
      const drained = Promise.all([...this.inFlight]);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
      });
      await Promise.race([drained, timeout]);
      clearTimeout(timer);
      await Promise.allSettled(this.loops);
      if (this.ownsConnection) await this.nc.drain();
      this.log.info('worker stopped');
    })();
    return this.stopping;
  }

  private async consume(
    stream: string,
    role: string,
    handler: (m: JsMsg) => Promise<void>,
  ): Promise<void> {
    const consumer = await this.js.consumers.get(stream, this.subjects.consumer(role));
    const messages = await consumer.consume({ max_messages: Math.max(8, this.concurrency) });
    this.consumers.push(messages);
    this.loops.push(
      (async () => {
        for await (const m of messages) {
          while (this.inFlight.size >= this.concurrency) {
            await new Promise<void>((resolve) => this.waiters.push(resolve));
          }
          const task = this.process(m, role, handler).finally(() => {
            this.inFlight.delete(task);
            const waiters = this.waiters;
            this.waiters = [];
            for (const wake of waiters) wake();
          });
          this.inFlight.add(task);
        }
      })(),
    );
  }

  /** Runs a handler, then acks; dead-letters bad input and poison; redelivers the rest. */
  private async process(
    m: JsMsg,
    role: string,
    handler: (m: JsMsg) => Promise<void>,
  ): Promise<void> {
    const heartbeat = setInterval(() => m.working(), ACK_WAIT_MS / 3);
    const source = role.startsWith('actor-') ? 'mailbox' : role;
    try {
      await handler(m);
      m.ack();
    } catch (err) {
      const reason = describeError(err);
      const dedupe = `${source}.${m.info.streamSequence}`;
      try {
        if (err instanceof TerminalError) {
          await deadLetter(
            this.js,
            this.subjects,
            { source, subject: m.subject, reason, data: m.data },
            dedupe,
          );
          m.ack();
        } else if (m.info.deliveryCount >= MAX_DELIVER) {
          const why = `gave up after ${m.info.deliveryCount} deliveries: ${reason}`;
          this.log.error('message dead-lettered', { subject: m.subject, reason: why });
          await deadLetter(
            this.js,
            this.subjects,
            { source, subject: m.subject, reason: why, data: m.data },
            dedupe,
          );
          m.ack();
        } else {
          this.log.warn('step failed, will be redelivered', {
            subject: m.subject,
            delivery: m.info.deliveryCount,
            reason,
          });
          m.nak(Math.min(30_000, 100 * 2 ** m.info.deliveryCount));
        }
      } catch (dlqErr) {
        this.log.error('could not settle message; it will be redelivered', {
          subject: m.subject,
          reason: describeError(dlqErr),
        });
        m.nak(1_000);
      }
    } finally {
      clearInterval(heartbeat);
    }
  }

  private async onTicket(m: JsMsg, actor: string): Promise<void> {
    const parsed = TicketSchema.safeParse(parseJson(m.data));
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
    await this.host.apply(actor, workflowId, {
      id: 'ticket',
      type: 'message',
      message: { type: 'ticket', ...ticket },
    });
  }

  private async onResponse(m: JsMsg): Promise<void> {
    const wf = this.subjects.workflowOfResponse(m.subject);
    if (!wf)
      throw new BadInput(
        `illegal workflow id in subject '${m.subject}' (use 1 to 64 letters, digits, '-' and '_')`,
      );
    const seq = m.info.streamSequence;
    let response: HumanResponse;
    try {
      const parsed = ResponseSchema.safeParse(parseJson(m.data));
      if (!parsed.success)
        throw new BadInput(`invalid response: ${describeZodError(parsed.error)}`);
      response = parsed.data;
    } catch (err) {
      await this.host.publishRejection(wf, seq, describeError(err), {});
      throw err;
    }
    const pending = await this.interrupts.get(wf);
    if (!pending) {
      await this.host.publishRejection(
        wf,
        seq,
        `workflow '${wf}' is not waiting for a human (no pending interrupt: already answered, expired, or never asked)`,
        response,
      );
      return;
    }
    const incoming: Incoming = { id: `r${seq}`, type: 'response', response, responseSeq: seq };
    if (this.host.hosts(pending.actor)) {
      await this.host.apply(pending.actor, wf, incoming);
      return;
    }
    // The actor lives in another worker: hand the response to its mailbox.
    await this.js.publish(
      this.subjects.mailbox(pending.actor, wf),
      encoder.encode(JSON.stringify({ type: 'hitl.response', response, responseSeq: seq })),
      { msgID: `${wf}.r${seq}` },
    );
  }

  private async onMailbox(m: JsMsg, kind: string): Promise<void> {
    const wf = this.subjects.workflowOfMailbox(kind, m.subject);
    if (!wf) throw new BadInput(`illegal workflow id in subject '${m.subject}'`);
    const parsed = MailboxMessageSchema.safeParse(parseJson(m.data));
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
      });
    } else if (message.type === 'hitl.retry') {
      await this.host.apply(kind, wf, { id, type: 'retry' });
    } else {
      await this.host.apply(kind, wf, { id, type: 'message', message });
    }
  }
}
