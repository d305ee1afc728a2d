import { migrateSnapshot, type ActorDefinition } from './actorDefinition.js';
import { commitStep } from './commit.js';
import { IncompatibleSnapshotError, RevisionConflictError } from '../base/errors.js';
import { runMachine, type MachineStep } from './machineRunner.js';
import { isRedelivery, republish } from './redelivery.js';
import { expireStep, failWorkflow, rejectResponse, resumeStep } from './responseSteps.js';
import { REVIEWERS_FIELD, reviewerList, type Prefix } from './stepEffects.js';
import type { Step, StepContext } from './stepContext.js';
import type { Incoming } from './steps.js';
import type { SnapshotEnvelope } from '../base/schemas.js';
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
        if (!(err instanceof RevisionConflictError) || attempt >= MAX_CONFLICT_RETRIES) throw err;
        this.ctx.opts.logger.debug('revision conflict, re-running step', {
          actor: def.kind,
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
      read ?? (fresh ? undefined : await this.ctx.opts.snapshots.get(def.kind, workflowId));
    const runStep = this.step.bind(this);
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
      if (incoming.type === 'response') {
        return resumeStep(this.ctx, runStep, def, stored, incoming);
      }
      if (incoming.type === 'expire') return expireStep(runStep, def, stored, incoming);
      if (env.status !== 'active') {
        return { result: 'ignored', reason: `actor '${def.kind}' of '${workflowId}' has ended` };
      }
      const event = incoming.type === 'retry' ? { type: 'hitl.retry' } : incoming.message;
      return this.step(def, stored, incoming.id, event, []);
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

  private async start(
    def: ActorDefinition,
    workflowId: string,
    messageId: string,
    input: Record<string, unknown>,
    reviewers: string[] = [],
  ): Promise<Step> {
    const step = await runMachine(def, { input }, undefined, workflowId);
    const trace = this.ctx.stepTrace(def.kind, workflowId);
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
    return commitStep(this.ctx, def, env, undefined, messageId, step, []);
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
        return failWorkflow(this.ctx, def, stored, messageId, err, response);
      throw err;
    }
    const next: SnapshotEnvelope = { ...env, version: def.version };
    if (resolvesInterrupt) delete next.interrupt;
    return commitStep(this.ctx, def, next, stored.revision, messageId, machineStep, prefix);
  }
}
