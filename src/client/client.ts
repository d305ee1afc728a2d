import { userInfo } from 'node:os';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { nuid, type NatsConnection } from '@nats-io/transport-node';
import { loadConfig, type HitlConfig } from '../base/config.js';
import { connectNats } from '../nats/connection.js';
import { describeError, WorkflowNotParkedError } from '../base/errors.js';
import { cancelWorkflow, type CancelResult } from './cancel.js';
import { readWorkflowEvents } from './eventLog.js';
import { EventWatch, liveEvents, storedEvents, type EventStream } from './eventWatch.js';
import { findParkedStep, parkedStepOf } from './parked.js';
import {
  TicketSchema,
  type HumanResponse,
  type InterruptRecord,
  type Ticket,
} from '../base/schemas.js';
import type { ParkedStep, ParkedWorkflow, StoredSnapshot } from '../stores/snapshotStore.js';
import { awaitRunResult, awaitVerdict, type RunResult } from './outcome.js';
import { publishJson } from './publish.js';
import { WorkflowReads } from './workflowReads.js';
import { assertWorkflowId, Subjects } from '../nats/subjects.js';

export type { RunResult } from './outcome.js';
export type { CancelResult } from './cancel.js';

/** What {@link HitlClient.retry} did. */
export interface RetryResult {
  workflowId: string;
  /** The failed step the retry re-runs. */
  parked: ParkedStep;
  /** A retry of this very failure was requested before; this one was dropped as its duplicate. */
  duplicate: boolean;
  /** With `wait`: where the workflow got to (paused, completed, or parked again). */
  run?: RunResult;
}

/** The OS user running this process, or 'operator' when the system names none. */
function osUser(): string {
  try {
    return userInfo().username || 'operator';
  } catch {
    return 'operator';
  }
}

/** A resume, in the shape of the original design's `Command(resume=…, update=…)`. */
export interface ResumeOptions {
  resume: string;
  reviewer: string;
  update?: Record<string, unknown>;
  interruptId?: string;
  /** Without `interruptId`: name the interrupt pending now (see {@link HitlClient.respond}). */
  namePending?: boolean;
  comment?: string;
  timeoutMs?: number;
}

/** How {@link HitlClient.connect} connects. */
export interface HitlClientOptions {
  /** Where and how to connect; {@link loadConfig}`()` (the environment) when absent. */
  config?: HitlConfig;
  /** An existing connection; otherwise the client connects and closes its own. */
  connection?: NatsConnection;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * The typed client: start a workflow and get back either "paused, with this interrupt" or
 * "completed, with this state"; resume it with `{ resume, update }`.
 *
 * @example
 * const client = await HitlClient.connect();
 * const run = await client.start({ request: 'I want a refund' });
 * if (run.status === 'paused') {
 *   const done = await client.resume(run.workflowId, { resume: 'yes', reviewer: 'ana' });
 * }
 */
export class HitlClient {
  readonly subjects: Subjects;
  private readonly js: JetStreamClient;
  private readonly respondWithSubject: boolean;
  private readonly reads: WorkflowReads;
  /** Who a cancel names when the caller names no one: the NATS user, else the OS user. */
  private readonly operator: string;

  private constructor(
    readonly nc: NatsConnection,
    private readonly ownsConnection: boolean,
    config: HitlConfig,
  ) {
    this.subjects = new Subjects(config.prefix);
    this.js = jetstream(nc);
    this.respondWithSubject = config.respondWithSubject === true;
    this.reads = new WorkflowReads(nc, this.subjects);
    this.operator = config.nats.user ?? osUser();
  }

  static async connect(options: HitlClientOptions = {}): Promise<HitlClient> {
    const config = options.config ?? loadConfig();
    const nc = options.connection ?? (await connectNats(config.nats, 'hitl-client'));
    return new HitlClient(nc, options.connection === undefined, config);
  }

  /** Publishes a ticket; the same `id` twice starts one workflow. */
  async submit(
    ticket: Omit<Ticket, 'id'> & { id?: string },
  ): Promise<{ workflowId: string; duplicate: boolean }> {
    const workflowId = assertWorkflowId(ticket.id ?? `wf-${nuid.next()}`);
    const payload = TicketSchema.parse({ ...ticket, id: workflowId });
    const ack = await this.publish(this.subjects.ticketsNew, payload, workflowId);
    return { workflowId, duplicate: ack.duplicate };
  }

  /** Submits a ticket and waits until its workflow pauses for a human or completes. */
  async start(
    ticket: Omit<Ticket, 'id'> & { id?: string },
    options: { timeoutMs?: number } = {},
  ): Promise<RunResult> {
    const workflowId = assertWorkflowId(ticket.id ?? `wf-${nuid.next()}`);
    const watch = this.watch(workflowId);
    try {
      await this.submit({ ...ticket, id: workflowId });
      return await awaitRunResult(
        watch,
        workflowId,
        (wf) => this.snapshots(wf),
        options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
    } finally {
      watch.close();
    }
  }

  /**
   * Starts a workflow at an actor kind of your own: the input becomes its machine's input.
   * Waits until it pauses or completes.
   */
  async startActor(
    kind: string,
    input: Record<string, unknown>,
    options: { workflowId?: string; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    const workflowId = assertWorkflowId(options.workflowId ?? `wf-${nuid.next()}`);
    const watch = this.watch(workflowId);
    try {
      await this.publish(
        this.subjects.mailbox(kind, workflowId),
        { ...input, type: 'hitl.start' },
        `${workflowId}.start`,
      );
      return await awaitRunResult(
        watch,
        workflowId,
        (wf) => this.snapshots(wf),
        options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      );
    } finally {
      watch.close();
    }
  }

  /**
   * Publishes a human response and waits for the runtime's verdict: `resumed` (accepted) or
   * `response_rejected` with the reason. With `namePending`, a response that names no
   * `interruptId` names the interrupt pending now (read from `hitl_interrupts`), so that a
   * repeated call cannot answer the question asked after it.
   *
   * @example
   * await client.respond('wf-1', { answer: 'yes', reviewer: 'ana' }, { namePending: true });
   */
  async respond(
    workflowId: string,
    response: HumanResponse,
    options: { timeoutMs?: number; namePending?: boolean } = {},
  ): Promise<
    | { accepted: true; responseSeq: number }
    | { accepted: false; reason: string; responseSeq: number }
  > {
    const named = options.namePending ? await this.namingPending(workflowId, response) : response;
    const watch = this.watch(workflowId);
    try {
      const seq = await this.publishResponse(workflowId, named);
      return await awaitVerdict(watch, seq, options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    } finally {
      watch.close();
    }
  }

  /** Resumes a paused workflow and waits until it pauses again or completes. */
  async resume(workflowId: string, options: ResumeOptions): Promise<RunResult> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const response: HumanResponse = { answer: options.resume, reviewer: options.reviewer };
    if (options.update) response.update = options.update;
    if (options.interruptId) response.interruptId = options.interruptId;
    if (options.comment) response.comment = options.comment;
    const named = options.namePending ? await this.namingPending(workflowId, response) : response;
    const watch = this.watch(workflowId);
    try {
      const seq = await this.publishResponse(workflowId, named);
      const verdict = await awaitVerdict(watch, seq, timeoutMs);
      if (!verdict.accepted) return { status: 'rejected', workflowId, reason: verdict.reason };
      return await awaitRunResult(watch, workflowId, (wf) => this.snapshots(wf), timeoutMs, seq);
    } finally {
      watch.close();
    }
  }

  /**
   * Re-runs the step at which a parked workflow stopped: finds the actor whose step failed
   * (the parked mark in its snapshot, as {@link parked} lists it) and sends it `hitl.retry`. Retrying the same failure twice sends one retry. Throws
   * {@link WorkflowNotParkedError} when there is nothing to retry. With `wait`, waits until
   * the workflow pauses, completes or parks again.
   *
   * @example
   * const { parked, run } = await client.retry('order-42', { wait: true });
   */
  async retry(
    workflowId: string,
    options: { wait?: boolean; timeoutMs?: number } = {},
  ): Promise<RetryResult> {
    const wf = assertWorkflowId(workflowId);
    const snapshots = await this.snapshots(wf);
    // The snapshot's parked mark says where (as `hitl parked` does); the event log, which
    // HITL_EVENTS_MAX_AGE_MS may have trimmed, only explains why there is nothing to retry
    // (or finds the failure of a snapshot written before the mark existed).
    let parked = parkedStepOf(snapshots.map((s) => s.envelope));
    if (!parked) {
      const [events, pending] = await Promise.all([
        readWorkflowEvents(this.nc, this.subjects, wf),
        this.interrupt(wf),
      ]);
      const found = findParkedStep(
        wf,
        events,
        snapshots.map((s) => ({ kind: s.envelope.kind, status: s.envelope.status })),
        pending,
      );
      if ('notParked' in found) {
        throw new WorkflowNotParkedError(found.notParked, { workflowId: wf });
      }
      parked = found.parked;
    }
    const watch = options.wait ? this.watch(wf) : undefined;
    try {
      // Named after the failure it answers: a second `hitl retry` of the same failure is
      // dropped by JetStream (and by the actor host, which remembers applied message ids).
      const ack = await this.publish(
        this.subjects.mailbox(parked.actor, wf),
        { type: 'hitl.retry' },
        `${wf}.retry.${parked.actor}.${Date.parse(parked.at)}`,
      );
      const result: RetryResult = { workflowId: wf, parked, duplicate: ack.duplicate };
      if (watch && !ack.duplicate) {
        result.run = await awaitRunResult(
          watch,
          wf,
          (id) => this.snapshots(id),
          options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        );
      }
      return result;
    } finally {
      watch?.close();
    }
  }

  /**
   * Ends a paused or parked workflow for an operator: sends `hitl.cancel` to the actor that
   * waits (for a human, or for {@link retry}), and waits for the `completed` event it causes
   * (`outcome: "cancelled"`, with `reason` and `by`). The pending interrupt is withdrawn: a later
   * answer gets `response_rejected`. `by` defaults to the NATS user of the connection, else the
   * OS user; it is recorded as given (what the server checks is the permission to publish on
   * `<prefix>.actor.>`, which the shipped roles give operators and not reviewers). Throws
   * {@link WorkflowNotCancelledError} when the workflow does not exist, has completed, is
   * neither paused nor parked, went on before the cancel reached it, or no worker applied the
   * cancel within `timeoutMs` (then it stays in the actor's mailbox, unless a worker of a
   * version without `hitl cancel` took it, which the message says).
   *
   * @example
   * const { completed } = await client.cancel('order-42', { reason: 'customer withdrew', by: 'ops-eve' });
   */
  async cancel(
    workflowId: string,
    options: { reason: string; by?: string; timeoutMs?: number },
  ): Promise<CancelResult> {
    return await cancelWorkflow(
      {
        subjects: this.subjects,
        snapshots: (wf) => this.snapshots(wf),
        interrupt: (wf) => this.interrupt(wf),
        events: (wf) => readWorkflowEvents(this.nc, this.subjects, wf),
        watch: (wf) => this.watch(wf),
        publish: (subject, payload, msgId) => this.publish(subject, payload, msgId),
      },
      assertWorkflowId(workflowId),
      {
        reason: options.reason,
        by: options.by ?? this.operator,
        timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      },
    );
  }

  /** Every workflow waiting for a human, oldest first. */
  async pending(): Promise<InterruptRecord[]> {
    return this.reads.pending();
  }

  /**
   * Every workflow parked at a failed step (the model was down past its retries, say), waiting
   * for {@link retry}, oldest failure first.
   */
  async parked(): Promise<ParkedWorkflow[]> {
    return this.reads.parked();
  }

  /** The pending interrupt of one workflow, if it waits for a human. */
  async interrupt(workflowId: string): Promise<InterruptRecord | undefined> {
    return this.reads.interrupt(workflowId);
  }

  /** The stored snapshots of every actor of a workflow. */
  async snapshots(workflowId: string): Promise<StoredSnapshot[]> {
    return this.reads.snapshots(workflowId);
  }

  /**
   * Live events of one workflow (or of all), from now on (or from `since`), until the returned
   * stream is closed or `signal` aborts. A re-publish after a crash is never seen twice: from
   * now on, the event subjects are subscribed to and a message whose `Nats-Msg-Id` was seen
   * is dropped (so only subscribe permission is needed); from `since`, they are read from the
   * events stream with an ordered consumer. The subscription (or consumer) exists when this
   * resolves: nothing published afterwards is missed.
   */
  async events(
    workflowId?: string,
    options: { signal?: AbortSignal; since?: Date } = {},
  ): Promise<EventStream> {
    return options.since
      ? storedEvents(this.js, this.subjects, workflowId, options.since, options.signal)
      : liveEvents(this.nc, this.subjects, workflowId, options.signal);
  }

  async close(): Promise<void> {
    if (this.ownsConnection) await this.nc.close();
  }

  /** `response`, naming the interrupt pending now when it names none (and one is pending). */
  private async namingPending(workflowId: string, response: HumanResponse): Promise<HumanResponse> {
    if (response.interruptId !== undefined) return response;
    let pending: InterruptRecord | undefined;
    try {
      pending = await this.interrupt(workflowId);
    } catch (err) {
      // A user whose role may not read the interrupts bucket: the response goes without the
      // guard, and the server decides whether this user may answer at all.
      if (!/permissions violation/i.test(describeError(err))) throw err;
    }
    return pending ? { ...response, interruptId: pending.interruptId } : response;
  }

  private watch(workflowId: string): EventWatch {
    return new EventWatch(this.nc.subscribe(this.subjects.events(workflowId)));
  }

  private async publishResponse(workflowId: string, response: HumanResponse): Promise<number> {
    // On the reviewer's own subject only once the workers read it (HITL_RESPOND_WITH_SUBJECT):
    // a worker of an earlier version dead-letters a response published there.
    const subject = this.respondWithSubject
      ? this.subjects.respond(workflowId, response.reviewer)
      : this.subjects.respond(workflowId);
    const ack = await this.publish(subject, response);
    return ack.seq;
  }

  private publish(subject: string, payload: unknown, msgID?: string) {
    return publishJson(this.js, subject, payload, msgID);
  }
}
