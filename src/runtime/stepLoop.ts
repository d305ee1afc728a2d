import { migrateSnapshot, type ActorDefinition } from './actorDefinition.js';
import { cancelStep } from './cancelStep.js';
import { commitStep } from './commit.js';
import {
  IncompatibleSnapshotError,
  InvalidEffectError,
  NewerSnapshotError,
  RevisionConflictError,
} from '../base/errors.js';
import { parkStep, replayOf } from './parkStep.js';
import { runMachine, type MachineStep } from './machineRunner.js';
import { isRedelivery, republish } from './redelivery.js';
import { expireStep, failWorkflow, rejectResponse, resumeStep } from './responseSteps.js';
import { REVIEWERS_FIELD, reviewerList, type Prefix } from './stepEffects.js';
import type { Step, StepContext } from './stepContext.js';
import type { Incoming } from './steps.js';
import type { ParkedMessage, SnapshotEnvelope } from '../base/schemas.js';
import type { StoredSnapshot } from '../stores/snapshotStore.js';

const MAX_CONFLICT_RETRIES = 20;
/** The message id of a ticket: the message that creates the workflow's first actor. */
export const TICKET_MESSAGE_ID = 'ticket';

/**
 * One step of one actor, from reading its snapshot to publishing its outbox: the loop of
 * DESIGN.md. The host (actorHost.ts) serialises steps per actor and hands on the messages a
 * step sends to actors it also runs.
 */
export class StepLoop {
  constructor(private readonly ctx: StepContext) {}

  /**
   * Applies `incoming` to actor `(def.kind, workflowId)`; `read` is a snapshot already read for
   * it. A lost compare-and-set (another worker committed first) runs the step again on a fresh
   * read.
   */
  async run(
    def: ActorDefinition,
    workflowId: string,
    incoming: Incoming,
    read: StoredSnapshot | undefined,
  ): Promise<Step> {
    for (let attempt = 0; ; attempt++) {
      try {
        if (attempt === 0) return await this.tryApply(def, workflowId, incoming, read);
        // After a conflict: read afresh, and a 'fresh' actor may exist after all.
        const again = incoming.type === 'message' ? { ...incoming, fresh: false } : incoming;
        return await this.tryApply(def, workflowId, again, undefined);
      } catch (err) {
        if (err instanceof RevisionConflictError && attempt < MAX_CONFLICT_RETRIES) {
          this.ctx.opts.logger.debug('revision conflict, re-running step', {
            actor: def.kind,
            workflowId,
            message: incoming.id,
          });
          continue;
        }
        // Left for a worker that hosts the snapshot's version: never a failure of the step.
        if (err instanceof NewerSnapshotError) throw err;
        // The last try failed, or the step emits what can never be carried out: park it.
        if (incoming.final || (err instanceof InvalidEffectError && err.deterministic)) {
          return parkStep(this.ctx, def, workflowId, incoming, err);
        }
        throw err;
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
      read ?? (fresh ? undefined : await this.ctx.opts.snapshots.get(def.kind, workflowId));
    if (stored) {
      const env = stored.envelope;
      if (env.applied.includes(incoming.id)) {
        // Applied already. A redelivery of that very copy (its worker died before the ack):
        // the step is committed, its effects may not all be published. Any other copy: nothing.
        const outbox = env.outboxes.find((o) => o.for === incoming.id);
        if (outbox && isRedelivery(outbox, incoming)) {
          await republish(this.ctx, def.kind, env, outbox);
        }
        return { result: 'duplicate' };
      }
      // A ticket re-sent for a workflow that exists, once its id is no longer remembered.
      if (incoming.type === 'message' && incoming.id === TICKET_MESSAGE_ID) {
        return { result: 'duplicate' };
      }
      // Before the parked message and the placeholder: a cancel ends the actor as it stands.
      if (incoming.type === 'cancel') {
        return cancelStep(this.ctx, def, workflowId, stored, incoming);
      }
      if (incoming.type === 'retry' && env.parked?.message) {
        return this.replay(def, stored, incoming, env.parked.message);
      }
      if (env.snapshot == null) {
        // Parked before it started: only the retry of its first message starts it.
        return { result: 'ignored', reason: notStarted(def.kind, workflowId) };
      }
      return this.dispatch(def, stored, incoming);
    }
    if (incoming.type === 'response') {
      return rejectResponse(
        this.ctx,
        def.kind,
        workflowId,
        incoming,
        'there is no pending interrupt',
      );
    }
    if (incoming.type === 'cancel')
      return cancelStep(this.ctx, def, workflowId, undefined, incoming);
    if (incoming.type === 'retry' || incoming.type === 'expire') {
      return { result: 'ignored', reason: `actor '${def.kind}' of '${workflowId}' does not exist` };
    }
    return this.startFrom(def, workflowId, incoming, undefined);
  }

  /** Applies `incoming` to a stored actor: a response, an expiry, a retry or a message. */
  private async dispatch(
    def: ActorDefinition,
    stored: StoredSnapshot,
    incoming: Incoming,
  ): Promise<Step> {
    const env = stored.envelope;
    const workflowId = env.workflowId;
    if (env.snapshot == null) {
      // The placeholder of an actor parked at its first message, which the retry replays.
      if (incoming.type === 'message') return this.startFrom(def, workflowId, incoming, stored);
      return { result: 'ignored', reason: notStarted(def.kind, workflowId) };
    }
    const runStep = this.step.bind(this);
    if (incoming.type === 'response') {
      return resumeStep(this.ctx, runStep, def, stored, incoming);
    }
    if (incoming.type === 'expire') return expireStep(runStep, def, stored, incoming);
    if (incoming.type === 'cancel') return cancelStep(this.ctx, def, workflowId, stored, incoming);
    if (env.status !== 'active') {
      return { result: 'ignored', reason: `actor '${def.kind}' of '${workflowId}' has ended` };
    }
    const event = incoming.type === 'retry' ? { type: 'hitl.retry' } : incoming.message;
    return this.step(def, stored, incoming.id, event, []);
  }

  /**
   * `hitl retry` of an actor the runtime parked: the message whose step failed is applied again,
   * under the retry's id, to the actor unparked. Should it change nothing (a response the
   * interrupt no longer takes, say), the actor is unparked all the same.
   */
  private async replay(
    def: ActorDefinition,
    stored: StoredSnapshot,
    retry: Incoming,
    parked: ParkedMessage,
  ): Promise<Step> {
    const { parked: _parked, ...envelope } = stored.envelope;
    const unparked: StoredSnapshot = { ...stored, envelope };
    const result = await this.dispatch(def, unparked, replayOf(parked, retry));
    if (result.result === 'applied' || result.result === 'parked') return result;
    const still: MachineStep = { snapshot: envelope.snapshot, status: 'active', emitted: [] };
    await commitStep(this.ctx, def, envelope, stored.revision, retry.id, still, []);
    return result;
  }

  /** Creates an actor from its first message (over the placeholder of a parked one, if any). */
  private startFrom(
    def: ActorDefinition,
    workflowId: string,
    incoming: Extract<Incoming, { type: 'message' }>,
    placeholder: StoredSnapshot | undefined,
  ): Promise<Step> {
    const { type: _type, [REVIEWERS_FIELD]: reviewers, ...fields } = incoming.message;
    return this.start(
      def,
      workflowId,
      incoming.id,
      { ...fields, workflowId },
      reviewerList(reviewers),
      placeholder,
    );
  }

  private async start(
    def: ActorDefinition,
    workflowId: string,
    messageId: string,
    input: Record<string, unknown>,
    reviewers: string[] = [],
    placeholder?: StoredSnapshot,
  ): Promise<Step> {
    const step = await runMachine(def, { input }, undefined, workflowId, this.stepTimeoutMs);
    const trace = this.ctx.stepTrace(def.kind, workflowId);
    // Over a placeholder: its applied ids and outboxes stay, to recognise redeliveries.
    const held = placeholder?.envelope;
    const env: SnapshotEnvelope = {
      format: 1,
      kind: def.kind,
      workflowId,
      version: def.version,
      status: step.status,
      steps: held?.steps ?? 0,
      snapshot: step.snapshot,
      applied: held?.applied ?? [],
      ...(held?.appliedAt ? { appliedAt: held.appliedAt } : {}),
      outboxes: held?.outboxes ?? [],
      ...(trace ? { trace } : {}),
      ...(reviewers.length > 0 ? { reviewers } : {}),
    };
    return commitStep(this.ctx, def, env, placeholder?.revision, messageId, step, []);
  }

  private get stepTimeoutMs(): number | undefined {
    return this.ctx.opts.stepTimeoutMs;
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
      machineStep = await runMachine(def, { snapshot }, event, env.workflowId, this.stepTimeoutMs);
    } catch (err) {
      if (err instanceof IncompatibleSnapshotError)
        return failWorkflow(this.ctx, def, stored, messageId, err, response);
      throw err;
    }
    const next: SnapshotEnvelope = { ...env, version: def.version };
    if (resolvesInterrupt) delete next.interrupt;
    return commitStep(this.ctx, def, next, stored.revision, messageId, machineStep, prefix);
  }
}

function notStarted(kind: string, workflowId: string): string {
  return `actor '${kind}' of '${workflowId}' has not started: its first message failed and waits for hitl retry`;
}
