import type { ActorDefinition } from './actorDefinition.js';
import { publishOutbox, type Publish } from './outbox.js';
import { publishRejection } from './responseSteps.js';
import type { ActorHostOptions, LocalDelivery, Step, StepContext } from './stepContext.js';
import { StepLoop } from './stepLoop.js';
import { inStepSpan, type TraceCarrier } from '../nats/tracing.js';
import type { Incoming, StepResult } from './steps.js';
import { ACK_WAIT_MS } from '../nats/topology.js';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { MessageSource } from '../base/schemas.js';

export type { Incoming, StepResult } from './steps.js';
export type { ActorHostOptions } from './stepContext.js';

/** Actors one message may pass through in-process before the rest go through the mailbox. */
const MAX_LOCAL_CHAIN = 8;
/** Settled steps remembered (see ActorHost.settle), oldest forgotten first. */
const MAX_SETTLED = 20_000;

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
  /** Which copy of its message each actor's current step applies (see Incoming's `source`). */
  private readonly sources = new Map<string, MessageSource>();
  private jsm: Promise<JetStreamManager> | undefined;

  private readonly localDelivery: boolean;
  /** `<kind>.<wf> <message id>` of recent steps whose effects are all stored (see settle). */
  private readonly settled = new Set<string>();
  private draining = false;
  /** What the step functions see of this host. */
  private readonly ctx: StepContext;
  private readonly loop: StepLoop;

  constructor(private readonly opts: ActorHostOptions) {
    this.definitions = new Map(opts.definitions.map((d) => [d.kind, d]));
    this.localDelivery = opts.localDelivery ?? true;
    this.ctx = {
      opts,
      retentionMs: 4 * (opts.ackWaitMs ?? ACK_WAIT_MS),
      stepTrace: (kind, workflowId) => this.traces.get(`${kind}.${workflowId}`),
      stepSource: (kind, workflowId) => this.sources.get(`${kind}.${workflowId}`),
      streams: () => (this.jsm ??= opts.js.jetstreamManager(false)),
      isSettled: (key, messageId) => this.settled.has(`${key} ${messageId}`),
      deliversLocally: (kind) => this.localDelivery && !this.draining && this.hosts(kind),
      publish: (publishes) => this.publish(publishes),
    };
    this.loop = new StepLoop(this.ctx);
  }

  /** From now on, messages to actors hosted here go through their mailbox (a worker stops). */
  drain(): void {
    this.draining = true;
  }

  hosts(kind: string): boolean {
    return this.definitions.has(kind);
  }

  /**
   * The kind of the actor of `workflowId` that applied message `messageId`, if one did. Read
   * from the snapshots of the kinds hosted here and then of every kind with a mailbox (the
   * mailbox stream's consumer names), a get each, which on a replicated bucket the
   * stream's leader answers (no direct gets). Not from a listing of the workflow's keys: a
   * subject filter with a wildcard makes the server walk every key of the bucket, about 0.1 s
   * at 100,000 paused, for each late answer or double click; and a KV key listing's consumer
   * may end early, or empty, during a leader election, which would reject a response applied
   * already. A failed read throws (the message comes back), never reads as "none".
   */
  async appliedBy(workflowId: string, messageId: string): Promise<string | undefined> {
    const tried = new Set<string>();
    const look = async (kinds: Iterable<string>): Promise<string | undefined> => {
      const fresh = [...kinds].filter((k) => !tried.has(k));
      for (const k of fresh) tried.add(k);
      const reads = await Promise.allSettled(
        fresh.map((k) => this.opts.snapshots.get(k, workflowId)),
      );
      for (const r of reads) {
        if (r.status === 'fulfilled' && r.value?.envelope.applied.includes(messageId)) {
          return r.value.envelope.kind;
        }
      }
      // A read that failed may have been the one: the message comes back, never "none".
      const failed = reads.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      return undefined;
    };
    return (await look(this.definitions.keys())) ?? (await look(await this.opts.mailboxKinds()));
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
        source: { local: true },
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
        if (incoming.source) this.sources.set(key, incoming.source);
        try {
          return await this.loop.run(def, workflowId, incoming, read);
        } finally {
          this.traces.delete(key);
          this.sources.delete(key);
        }
      },
    );
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
    await publishRejection(this.ctx, workflowId, responseSeq, reason, about);
  }

  private publish(publishes: Publish[]): Promise<void> {
    return publishOutbox(this.opts.js, this.opts.interrupts, { interrupts: [], publishes });
  }
}
