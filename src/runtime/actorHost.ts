import type { JetStreamClient } from '@nats-io/jetstream';
import { migrateSnapshot, type ActorDefinition } from './actorDefinition.js';
import { IncompatibleSnapshotError, RevisionConflictError } from '../base/errors.js';
import { fault } from './faults.js';
import type { InterruptStore } from '../stores/interruptStore.js';
import type { Logger } from '../base/logger.js';
import { runMachine, type MachineStep } from './machineRunner.js';
import { outboxEffects, publishOutbox, type Publish } from './outbox.js';
import { failurePrefix, planExpiry, planResume, rejection } from './interruptSteps.js';
import {
  parkedBy,
  wentOn,
  recentlyApplied,
  REVIEWERS_FIELD,
  reviewerList,
  stepEntries,
  type Prefix,
} from './stepEffects.js';
import { inStepSpan, type TraceCarrier } from '../nats/tracing.js';
import type { MailboxMessage, Outbox, SnapshotEnvelope } from '../base/schemas.js';
import type { Incoming, StepResult } from './steps.js';
import type { SnapshotStore, StoredSnapshot } from '../stores/snapshotStore.js';
import type { Subjects } from '../nats/subjects.js';
import { ACK_WAIT_MS } from '../nats/topology.js';

export type { Incoming, StepResult } from './steps.js';

export interface ActorHostOptions {
  js: JetStreamClient;
  subjects: Subjects;
  snapshots: SnapshotStore;
  interrupts: InterruptStore;
  definitions: readonly ActorDefinition[];
  logger: Logger;
  /** Reviewers allowed to answer approvals; everyone when unset. */
  approvers?: readonly string[];
  /** `HITL_SEPARATE_APPROVER`: who answered a workflow's escalation may not answer its approval. */
  separateApprover?: boolean;
  /** Deadline of an interrupt that names none (`HITL_GATE_TIMEOUT_MS`). */
  defaultTimeoutMs?: number;
  /**
   * `HITL_ACK_WAIT_MS`: how long a silent worker's message takes to come back. A step keeps the
   * ids it applied, and its outbox, for four of these, to recognise a redelivery and
   * re-publish what it sent.
   */
  ackWaitMs?: number;
  /**
   * Apply messages to actors this host runs in-process instead of through their mailbox
   * stream (default true; `HITL_LOCAL_DELIVERY=false` turns it off).
   */
  localDelivery?: boolean;
}

/** Actors one message may pass through in-process before the rest go through the mailbox. */
const MAX_LOCAL_CHAIN = 8;
const MAX_CONFLICT_RETRIES = 20;
/** Settled steps remembered (see ActorHost.settle), oldest forgotten first. */
const MAX_SETTLED = 20_000;
/** Outboxes kept at most, however recent. */
const MAX_OUTBOXES = 32;

/**
 * Hosts actor kinds: applies one message to one actor as a single committed step.
 * Read snapshot → (redelivery? re-publish and stop) → restore and run the machine until it
 * settles → compare-and-set the snapshot with its outbox → publish the outbox with
 * `Nats-Msg-Id` → apply here what it sent to actors hosted here. The caller acks the message
 * after `apply` resolves.
 */
export class ActorHost {
  readonly definitions: ReadonlyMap<string, ActorDefinition>;
  private readonly locks = new Map<string, Promise<unknown>>();
  /**
   * The trace context of the step each actor (`<kind>.<wf>`) runs now: one step at a time per
   * actor, so this names the step's. Every publish of the step carries it.
   */
  private readonly traces = new Map<string, TraceCarrier>();

  private stepTrace(kind: string, workflowId: string): TraceCarrier | undefined {
    return this.traces.get(`${kind}.${workflowId}`);
  }

  private readonly localDelivery: boolean;
  /** `<kind>.<wf> <message id>` of recent steps whose effects are all stored (see settle). */
  private readonly settled = new Set<string>();
  /** How long a step's applied id and outbox are kept (at least). */
  private readonly retentionMs: number;
  private draining = false;

  constructor(private readonly opts: ActorHostOptions) {
    this.definitions = new Map(opts.definitions.map((d) => [d.kind, d]));
    this.localDelivery = opts.localDelivery ?? true;
    this.retentionMs = 4 * (opts.ackWaitMs ?? ACK_WAIT_MS);
  }

  /** From now on, messages to actors hosted here go through their mailbox (a worker stops). */
  drain(): void {
    this.draining = true;
  }

  hosts(kind: string): boolean {
    return this.definitions.has(kind);
  }

  /** The kind of the actor of `workflowId` that applied message `messageId`, if one did. */
  async appliedBy(workflowId: string, messageId: string): Promise<string | undefined> {
    const stored = await this.opts.snapshots.listWorkflow(workflowId);
    return stored.find((s) => s.envelope.applied.includes(messageId))?.envelope.kind;
  }

  /**
   * Applies `incoming` to actor `(kind, workflowId)`; one step at a time per actor here. The
   * messages the step sends to actors this host also runs are then applied here and now, before
   * this resolves (so before the caller acks `incoming`), instead of going through their
   * mailbox stream: see {@link deliverLocally}.
   */
  async apply(kind: string, workflowId: string, incoming: Incoming): Promise<StepResult> {
    return this.applyInChain(kind, workflowId, incoming, [kind]);
  }

  /**
   * `chain`: the kinds on the path of in-process steps from the message being handled to this
   * one, this one last. A message to one of them goes through the mailbox, so that a loop
   * (ping → pong → ping) does not run in-process for as long as it lasts, holding the first
   * message unacked; so does a message past {@link MAX_LOCAL_CHAIN} actors.
   */
  private async applyInChain(
    kind: string,
    workflowId: string,
    incoming: Incoming,
    chain: readonly string[],
  ): Promise<StepResult> {
    const { deliveries, ...result } = await this.applyLocked(kind, workflowId, incoming);
    if (deliveries && deliveries.length > 0) {
      await Promise.all(deliveries.map((d) => this.deliverLocally(workflowId, d, chain)));
    }
    if (result.result === 'applied' || result.result === 'duplicate') {
      this.settle(`${kind}.${workflowId}`, incoming.id);
    }
    return result;
  }

  /**
   * The step that applied `messageId` to actor `key` has all its effects stored: published, or
   * committed by the actors it messaged in-process. Its outbox is then dropped at the actor's
   * next step here, however recent, instead of being kept for the retention.
   */
  private settle(key: string, messageId: string): void {
    this.settled.add(`${key} ${messageId}`);
    if (this.settled.size > MAX_SETTLED) {
      const oldest = this.settled.values().next();
      if (!oldest.done) this.settled.delete(oldest.value);
    }
  }

  private async applyLocked(kind: string, workflowId: string, incoming: Incoming): Promise<Step> {
    const key = `${kind}.${workflowId}`;
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.then(
      () => this.applyUnlocked(kind, workflowId, incoming),
      () => this.applyUnlocked(kind, workflowId, incoming),
    );
    this.locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }
  }

  /**
   * A message to an actor this host runs, sent by a step that is committed (the message is in
   * its outbox) but not yet acked: applied here, skipping the mailbox stream's write, fetch and
   * ack. Should this process die first, the sender's inbound message is redelivered, finds its
   * step applied and re-publishes its whole outbox, this message included, to the mailbox; the
   * receiver recognises it by its id if it had applied it. Should the step fail here, the
   * message goes to the mailbox after all, to be retried there like any other.
   */
  private async deliverLocally(
    workflowId: string,
    d: LocalDelivery,
    chain: readonly string[],
  ): Promise<void> {
    // A stopping worker finishes the steps it took, and starts none: another worker will.
    if (this.draining || chain.includes(d.kind) || chain.length >= MAX_LOCAL_CHAIN) {
      await this.publish([d.publish]);
      return;
    }
    try {
      const incoming: Incoming = {
        id: d.id,
        type: 'message',
        message: d.message,
        ...(d.publish.trace ? { trace: d.publish.trace } : {}),
      };
      await this.applyInChain(d.kind, workflowId, incoming, [...chain, d.kind]);
    } catch (err) {
      this.opts.logger.warn('local step failed; message handed to the mailbox', {
        workflowId,
        actor: d.kind,
        message: d.id,
        reason: err instanceof Error ? err.message : String(err),
      });
      await this.publish([d.publish]);
    }
  }

  private async applyUnlocked(kind: string, workflowId: string, incoming: Incoming): Promise<Step> {
    const def = this.definitions.get(kind);
    if (!def) throw new Error(`actor kind '${kind}' is not hosted by this worker`);
    // A human response comes from outside the workflow's trace: its step joins the workflow's
    // (kept with the actor's snapshot) and links the reviewer's. The snapshot read for it is
    // the one the step starts from.
    const read =
      incoming.type === 'response' ? await this.opts.snapshots.get(kind, workflowId) : undefined;
    const parent = incoming.type === 'response' ? read?.envelope.trace : incoming.trace;
    return inStepSpan(
      {
        kind,
        workflowId,
        messageId: incoming.id,
        messageType: incoming.type,
        parent,
        link: incoming.type === 'response' ? incoming.trace : undefined,
      },
      async (carrier) => {
        const key = `${kind}.${workflowId}`;
        if (carrier) this.traces.set(key, carrier);
        try {
          return await this.applyWithRetries(def, workflowId, incoming, read);
        } finally {
          this.traces.delete(key);
        }
      },
    );
  }

  private async applyWithRetries(
    def: ActorDefinition,
    workflowId: string,
    incoming: Incoming,
    read: StoredSnapshot | undefined,
  ): Promise<Step> {
    const kind = def.kind;
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt === 0) return await this.tryApply(def, workflowId, incoming, read);
        // After a conflict: read afresh, and a 'fresh' actor may exist after all.
        const again = incoming.type === 'message' ? { ...incoming, fresh: false } : incoming;
        return await this.tryApply(def, workflowId, again, undefined);
      } catch (err) {
        if (!(err instanceof RevisionConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw err;
        this.opts.logger.debug('revision conflict, re-running step', {
          actor: kind,
          workflowId,
          message: incoming.id,
        });
      }
    }
  }

  private async tryApply(
    def: ActorDefinition,
    workflowId: string,
    incoming: Incoming,
    read: StoredSnapshot | undefined,
  ): Promise<Step> {
    const fresh = incoming.type === 'message' && incoming.fresh === true;
    const stored =
      read ?? (fresh ? undefined : await this.opts.snapshots.get(def.kind, workflowId));
    if (stored) {
      const env = stored.envelope;
      if (env.applied.includes(incoming.id)) {
        // A redelivery: its step is committed; its effects may not all have been published.
        const outbox = env.outboxes.find((o) => o.for === incoming.id);
        if (outbox) await this.republish(def.kind, env, outbox);
        return { result: 'duplicate' };
      }
      if (incoming.type === 'response') return this.resume(def, stored, incoming);
      if (incoming.type === 'expire') return this.expire(def, stored, incoming);
      if (env.status !== 'active') {
        return { result: 'ignored', reason: `actor '${def.kind}' of '${workflowId}' has ended` };
      }
      const event = incoming.type === 'retry' ? { type: 'hitl.retry' } : incoming.message;
      return this.step(def, stored, incoming.id, event, []);
    }
    if (incoming.type === 'response') {
      return this.reject(def.kind, workflowId, incoming, 'there is no pending interrupt');
    }
    if (incoming.type === 'retry' || incoming.type === 'expire') {
      return { result: 'ignored', reason: `actor '${def.kind}' of '${workflowId}' does not exist` };
    }
    const { type: _type, [REVIEWERS_FIELD]: reviewers, ...fields } = incoming.message;
    return this.start(
      def,
      workflowId,
      incoming.id,
      { ...fields, workflowId },
      reviewerList(reviewers),
    );
  }

  /**
   * Publishes a committed step's outbox again (its message came back: the step's effects may
   * not all have gone out). An interrupt it asked that has been resolved since is not put back
   * as pending; and should a response resolve it while this runs, the record is withdrawn
   * again once the put is done.
   */
  private async republish(kind: string, env: SnapshotEnvelope, outbox: Outbox): Promise<void> {
    const effects = outboxEffects(outbox, env, this.opts.subjects);
    // Only an interrupt still pending is put back, and only where no record is: a newer step,
    // of this actor or another, may have asked the workflow's next question meanwhile.
    effects.interrupts = effects.interrupts
      .filter((op) => op.op !== 'put' || op.record.interruptId === env.interrupt?.interruptId)
      .map((op) => (op.op === 'put' ? { ...op, ifAbsent: true } : op));
    await publishOutbox(this.opts.js, this.opts.interrupts, effects);
    const put = effects.interrupts.find((op) => op.op === 'put');
    if (put?.op !== 'put') return;
    // Answered while this ran: withdraw the record, if it is still this one.
    const now = await this.opts.snapshots.get(kind, env.workflowId);
    if (now?.envelope.interrupt?.interruptId !== put.record.interruptId) {
      await this.opts.interrupts.resolve(env.workflowId, put.record.interruptId);
    }
  }

  private async start(
    def: ActorDefinition,
    workflowId: string,
    messageId: string,
    input: Record<string, unknown>,
    reviewers: string[] = [],
  ): Promise<Step> {
    const step = await runMachine(def, { input }, undefined, workflowId);
    const trace = this.stepTrace(def.kind, workflowId);
    const env: SnapshotEnvelope = {
      format: 1,
      kind: def.kind,
      workflowId,
      version: def.version,
      status: step.status,
      steps: 0,
      snapshot: step.snapshot,
      applied: [],
      outboxes: [],
      ...(trace ? { trace } : {}),
      ...(reviewers.length > 0 ? { reviewers } : {}),
    };
    return this.commit(def, env, undefined, messageId, step, []);
  }

  private async step(
    def: ActorDefinition,
    stored: StoredSnapshot,
    messageId: string,
    event: { type: string },
    prefix: Prefix[],
    response?: Extract<Incoming, { type: 'response' }>,
    resolvesInterrupt = response !== undefined,
  ): Promise<Step> {
    const env = stored.envelope;
    let machineStep: MachineStep;
    try {
      const snapshot = migrateSnapshot(def, env);
      machineStep = await runMachine(def, { snapshot }, event, env.workflowId);
    } catch (err) {
      if (err instanceof IncompatibleSnapshotError)
        return this.failWorkflow(def, stored, messageId, err, response);
      throw err;
    }
    const next: SnapshotEnvelope = { ...env, version: def.version };
    if (resolvesInterrupt) delete next.interrupt;
    return this.commit(def, next, stored.revision, messageId, machineStep, prefix);
  }

  private async resume(
    def: ActorDefinition,
    stored: StoredSnapshot,
    incoming: Extract<Incoming, { type: 'response' }>,
  ): Promise<Step> {
    const env = stored.envelope;
    const plan = planResume(env, incoming, {
      updates: def.updates,
      ...(this.opts.approvers ? { approvers: this.opts.approvers } : {}),
      ...(this.opts.separateApprover ? { separateApprover: true } : {}),
    });
    if (!plan.ok) {
      return this.reject(def.kind, env.workflowId, incoming, plan.reason, plan.interruptId);
    }
    const withReviewer = { ...stored, envelope: { ...env, reviewers: plan.reviewers } };
    return this.step(def, withReviewer, incoming.id, plan.event, plan.prefix, incoming);
  }

  private async expire(
    def: ActorDefinition,
    stored: StoredSnapshot,
    incoming: Extract<Incoming, { type: 'expire' }>,
  ): Promise<Step> {
    const plan = planExpiry(stored.envelope, incoming.interruptId);
    if (!plan) {
      return { result: 'ignored', reason: `interrupt '${incoming.interruptId}' is not pending` };
    }
    return this.step(def, stored, incoming.id, plan.event, plan.prefix, undefined, true);
  }

  /** Publishes `response_rejected`; the actor's state is untouched. */
  private async reject(
    kind: string,
    workflowId: string,
    incoming: Extract<Incoming, { type: 'response' }>,
    reason: string,
    interruptId?: string,
  ): Promise<Step> {
    const asked = incoming.response.interruptId ?? interruptId;
    await this.publishRejection(workflowId, incoming.responseSeq, reason, {
      reviewer: incoming.response.reviewer,
      ...(asked !== undefined ? { interruptId: asked } : {}),
      actor: kind,
    });
    return { result: 'rejected', reason };
  }

  /**
   * Publishes a `response_rejected` event for the response stored at `responseSeq`, naming the
   * reason a person can act on.
   */
  async publishRejection(
    workflowId: string,
    responseSeq: number,
    reason: string,
    about: { reviewer?: string; interruptId?: string; actor?: string },
  ): Promise<void> {
    const trace = about.actor !== undefined ? this.stepTrace(about.actor, workflowId) : undefined;
    await this.publish([
      rejection(this.opts.subjects, workflowId, responseSeq, reason, about, trace, new Date()),
    ]);
  }

  private publish(publishes: Publish[]): Promise<void> {
    return publishOutbox(this.opts.js, this.opts.interrupts, { interrupts: [], publishes });
  }

  private async failWorkflow(
    def: ActorDefinition,
    stored: StoredSnapshot,
    messageId: string,
    err: IncompatibleSnapshotError,
    response?: Extract<Incoming, { type: 'response' }>,
  ): Promise<Step> {
    const env = stored.envelope;
    this.opts.logger.error('workflow failed: incompatible snapshot', {
      actor: def.kind,
      workflowId: env.workflowId,
      reason: err.message,
    });
    const failed: SnapshotEnvelope = { ...env, status: 'failed' };
    delete failed.interrupt;
    const prefix = failurePrefix(
      env,
      def.kind,
      err.message,
      response && { responseSeq: response.responseSeq, reviewer: response.response.reviewer },
    );
    const step: MachineStep = { snapshot: env.snapshot, status: 'active', emitted: [] };
    await this.commit(def, failed, stored.revision, messageId, step, prefix);
    return { result: 'failed', reason: err.message };
  }

  /** Turns the step's effects into an outbox, writes it with the snapshot (CAS), publishes. */
  private async commit(
    def: ActorDefinition,
    base: SnapshotEnvelope,
    revision: number | undefined,
    messageId: string,
    machineStep: MachineStep,
    prefix: Prefix[],
  ): Promise<Step> {
    const wf = base.workflowId;
    const stepNo = base.steps + 1;
    const now = new Date();
    const built = stepEntries(
      {
        workflowId: wf,
        kind: def.kind,
        step: stepNo,
        now,
        reviewers: base.reviewers,
        defaultTimeoutMs: this.opts.defaultTimeoutMs,
      },
      prefix,
      machineStep.emitted,
    );
    for (const type of built.unknown) {
      this.opts.logger.warn('unknown effect ignored', { actor: def.kind, workflowId: wf, type });
    }
    const entries = built.entries;
    const interrupt = built.interrupt ?? base.interrupt;
    // Entry index → receiving kind, for the messages to actors hosted here.
    const sent = new Map<number, string>();
    if (this.localDelivery && !this.draining) {
      entries.forEach((e, i) => {
        if (e.op === 'send' && this.definitions.has(e.to)) sent.set(i, e.to);
      });
    }
    // Every message of the step carries its trace context, kept in the outbox for a re-publish.
    const trace = this.stepTrace(def.kind, wf);
    const outbox: Outbox = {
      for: messageId,
      at: now.getTime(),
      step: stepNo,
      ...(trace ? { trace } : {}),
      entries,
    };
    const next: SnapshotEnvelope = {
      ...base,
      status: base.status === 'failed' ? 'failed' : machineStep.status,
      steps: stepNo,
      snapshot: machineStep.snapshot,
      ...recentlyApplied(base, messageId, now.getTime(), this.retentionMs),
      outboxes: [
        // Older outboxes are kept while their message could still be redelivered after a crash
        // (within a few ack waits); by then a live worker has re-published them.
        ...base.outboxes.filter(
          (o) =>
            now.getTime() - o.at < this.retentionMs &&
            !this.settled.has(`${def.kind}.${wf} ${o.for}`),
        ),
        outbox,
      ].slice(-MAX_OUTBOXES),
    };
    if (interrupt) next.interrupt = interrupt;
    else delete next.interrupt;
    if (next.status !== 'active') delete next.interrupt;
    // Parked: the step failed for now (`failed`, retryable) and waits for `hitl retry`; it stays
    // parked through steps that change nothing (a message its parked state ignores).
    const parked = parkedBy(entries, def.kind, now) ?? (wentOn(entries) ? undefined : base.parked);
    if (parked && next.status === 'active') next.parked = parked;
    else delete next.parked;
    fault('before-kv-write', def.kind);
    await this.opts.snapshots.put(next, revision);
    this.opts.logger.debug('step committed', {
      workflowId: wf,
      actor: def.kind,
      step: stepNo,
      message: messageId,
      effects: entries.length,
    });
    fault('after-kv-write', def.kind);
    const effects = outboxEffects(outbox, { workflowId: wf, kind: def.kind }, this.opts.subjects);
    // Messages to actors hosted here are applied by the caller instead (see deliverLocally).
    const deliveries: LocalDelivery[] = [];
    if (sent.size > 0) {
      effects.publishes = effects.publishes.filter((p) => {
        const to = p.entry === undefined ? undefined : sent.get(p.entry);
        if (to === undefined) return true;
        const id = p.msgId.slice(wf.length + 1);
        deliveries.push({ kind: to, id, message: p.data as MailboxMessage, publish: p });
        return false;
      });
    }
    await publishOutbox(this.opts.js, this.opts.interrupts, effects);
    // The caller acks once this resolves: a crash here leaves the message to be redelivered.
    fault('after-publish', def.kind);
    return { result: 'applied', status: next.status, deliveries };
  }
}

/** A message from a committed step to an actor this host runs, to apply here. */
interface LocalDelivery {
  kind: string;
  /** The receiver's message id, as it would derive it from the mailbox message. */
  id: string;
  message: MailboxMessage;
  /** The message that carries it to the mailbox instead. */
  publish: Publish;
}

/** What a step did, and the messages it sent that this host applies next. */
type Step = StepResult & { deliveries?: LocalDelivery[] };
