import type { ActorDefinition } from './actorDefinition.js';
import { fault } from './faults.js';
import type { MachineStep } from './machineRunner.js';
import { publishOutbox } from './outbox.js';
import {
  parkedBy,
  wentOn,
  recentlyApplied,
  stepEntries,
  type Prefix,
  type StepEntries,
} from './stepEffects.js';
import type { LocalDelivery, Step, StepContext } from './stepContext.js';
import { checkEffects } from './effectCheck.js';
import { finishedEntry } from './finished.js';
import { describeError, InvalidEffectError } from '../base/errors.js';
import type { MailboxMessage, Outbox, ParkedMessage, SnapshotEnvelope } from '../base/schemas.js';

/** Outboxes kept at most, however recent. */
const MAX_OUTBOXES = 32;

/**
 * Turns a step's effects into an outbox, writes it with the snapshot (compare-and-set on
 * `revision`; none: the actor must not exist yet), then publishes it. Messages to actors the
 * host runs are returned as deliveries instead of published (see ActorHost.deliverLocally).
 * Every effect is checked first (checkEffects): one that cannot be carried out throws
 * {@link InvalidEffectError} with nothing stored. `parkedMessage`: the failed message a parking
 * step keeps for `hitl retry` (parkStep.ts).
 */
export async function commitStep(
  ctx: StepContext,
  def: ActorDefinition,
  base: SnapshotEnvelope,
  revision: number | undefined,
  messageId: string,
  machineStep: MachineStep,
  prefix: Prefix[],
  parkedMessage?: ParkedMessage,
): Promise<Step> {
  const { opts } = ctx;
  const wf = base.workflowId;
  const stepNo = base.steps + 1;
  const now = new Date();
  const built = buildEntries(ctx, def, base, stepNo, now, prefix, machineStep);
  const entries = built.entries;
  const interrupt = built.interrupt ?? base.interrupt;
  // Entry index → receiving kind, for the messages to actors hosted here.
  const sent = new Map<number, string>();
  entries.forEach((e, i) => {
    if (e.op === 'send' && ctx.deliversLocally(e.to)) sent.set(i, e.to);
  });
  // With HITL_FINISHED_RETENTION_MS, the step that completes the workflow schedules its removal.
  const finished =
    opts.finishedRetentionMs !== undefined && base.completedAt === undefined
      ? finishedEntry(entries, wf, def.kind, opts.subjects, now)
      : undefined;
  if (finished) entries.push(finished);
  // Every message of the step carries its trace context, kept in the outbox for a re-publish.
  const trace = ctx.stepTrace(def.kind, wf);
  const source = ctx.stepSource(def.kind, wf);
  const outbox: Outbox = {
    for: messageId,
    ...(source ? { source } : {}),
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
    ...(finished ? { completedAt: now.getTime() } : {}),
    ...recentlyApplied(base, messageId, now.getTime(), ctx.retentionMs),
    outboxes: [
      // Older outboxes are kept while their message could still be redelivered after a crash
      // (within a few ack waits); by then a live worker has re-published them.
      ...base.outboxes.filter(
        (o) => now.getTime() - o.at < ctx.retentionMs && !ctx.isSettled(`${def.kind}.${wf}`, o.for),
      ),
      outbox,
    ].slice(-MAX_OUTBOXES),
  };
  // Nothing is stored unless every effect can be carried out.
  const effects = await checkEffects(outbox, { workflowId: wf, kind: def.kind }, opts.subjects, {
    maxPayloadBytes: opts.maxPayloadBytes,
    hasMailbox: async (kind) =>
      opts.definitions.some((d) => d.kind === kind) || (await (opts.hasMailbox?.(kind) ?? true)),
  });
  if (interrupt) next.interrupt = interrupt;
  else delete next.interrupt;
  if (next.status !== 'active') delete next.interrupt;
  // Parked: the step failed for now (`failed`, retryable) and waits for `hitl retry`; it stays
  // parked through steps that change nothing (a message its parked state ignores), and while
  // the runtime keeps a failed message for the retry to apply, until the retry does.
  const parked =
    parkedBy(entries, def.kind, now) ??
    (wentOn(entries) && !base.parked?.message ? undefined : base.parked);
  if (parked && next.status === 'active') {
    next.parked = parkedMessage ? { ...parked, message: parkedMessage } : parked;
  } else delete next.parked;
  fault('before-kv-write', def.kind);
  await opts.snapshots.put(next, revision);
  opts.logger.debug('step committed', {
    workflowId: wf,
    actor: def.kind,
    step: stepNo,
    message: messageId,
    effects: entries.length,
  });
  fault('after-kv-write', def.kind);
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
  await publishOutbox(opts.js, opts.interrupts, effects);
  // The caller acks once this resolves: a crash here leaves the message to be redelivered.
  fault('after-publish', def.kind);
  return { result: 'applied', status: next.status, deliveries };
}

/** The step's outbox entries; an effect that cannot even be turned into one is invalid. */
function buildEntries(
  ctx: StepContext,
  def: ActorDefinition,
  base: SnapshotEnvelope,
  stepNo: number,
  now: Date,
  prefix: Prefix[],
  machineStep: MachineStep,
): StepEntries {
  let built: StepEntries;
  try {
    built = stepEntries(
      {
        workflowId: base.workflowId,
        kind: def.kind,
        step: stepNo,
        now,
        reviewers: base.reviewers,
        defaultTimeoutMs: ctx.opts.defaultTimeoutMs,
      },
      prefix,
      machineStep.emitted,
    );
  } catch (err) {
    // An interrupt whose deadline is no date (a timeoutMs out of range), say.
    throw new InvalidEffectError(
      `actor '${def.kind}' emitted an invalid effect: ${describeError(err)}`,
      true,
      { workflowId: base.workflowId },
    );
  }
  if (built.unknown.length > 0) {
    throw new InvalidEffectError(
      `actor '${def.kind}' emitted an effect this runtime does not know: '${built.unknown.join("', '")}' (use hitlEvent, sendToActor, requestHuman or releaseReply)`,
      true,
      { workflowId: base.workflowId },
    );
  }
  return built;
}
