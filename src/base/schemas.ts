import { z } from 'zod';

/** The workflow-id pattern of the wire contract. */
export const WORKFLOW_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

const workflowId = z
  .string()
  .regex(WORKFLOW_ID_PATTERN, "use 1 to 64 letters, digits, '-' and '_'");

/** The shortest deadline a ticket's `timeoutMs` may set: one second. */
export const MIN_TICKET_TIMEOUT_MS = 1_000;
/** The longest deadline a ticket's `timeoutMs` may set: one year (365 days). */
export const MAX_TICKET_TIMEOUT_MS = 31_536_000_000;

/** A ticket on `hitl.tickets.new`. */
export const TicketSchema = z.object({
  id: workflowId.optional(),
  request: z.string().min(1).max(10_000),
  customer: z.string().max(200).optional(),
  channel: z.string().max(200).optional(),
  metadata: z.record(z.string(), z.string()).optional(),
  /** This workflow's deadline for each human answer: 1 second to 1 year (contract v2). */
  timeoutMs: z.number().int().min(MIN_TICKET_TIMEOUT_MS).max(MAX_TICKET_TIMEOUT_MS).optional(),
});
/** A ticket, as {@link TicketSchema} decodes it. */
export type Ticket = z.infer<typeof TicketSchema>;

const reviewerName = z.string().trim().min(1, 'reviewer must be a non-empty name').max(200);

/**
 * A human response as published on `hitl.human.respond.<wf>` or
 * `hitl.human.respond.<wf>.<reviewer>`: the payload may leave the reviewer out when the subject
 * names one (contract v2), so `reviewer` is optional here.
 */
export const ResponsePayloadSchema = z.object({
  answer: z.string().min(1).max(200),
  reviewer: reviewerName.optional(),
  interruptId: z.string().min(1).max(200).optional(),
  update: z.record(z.string(), z.unknown()).optional(),
  comment: z.string().max(4_000).optional(),
});
/** A response as published: `reviewer` may be left to the subject that names one (contract v2). */
export type ResponsePayload = z.infer<typeof ResponsePayloadSchema>;

/**
 * A human response with its reviewer settled (from the subject, or else the payload): what
 * the runtime applies, and what a response on `hitl.human.respond.<wf>` alone must carry.
 */
export const ResponseSchema = ResponsePayloadSchema.extend({ reviewer: reviewerName });

/** A human's answer to an interrupt, as {@link ResponseSchema} decodes it. */
export type HumanResponse = z.infer<typeof ResponseSchema>;

/** The record of a workflow waiting for a human, kept in KV `hitl_interrupts` under `<wf>`. */
export const InterruptRecordSchema = z.object({
  workflowId,
  interruptId: z.string().min(1),
  actor: z.string().min(1),
  type: z.string().min(1),
  question: z.string(),
  options: z.array(z.string()).optional(),
  draft: z.string().optional(),
  category: z.string().optional(),
  createdAt: z.string(),
  expiresAt: z.string().optional(),
  /**
   * Reviewers who already answered an earlier interrupt of this workflow (its escalation, in
   * the support workflow), for `HITL_SEPARATE_APPROVER`.
   */
  previousReviewers: z.array(z.string()).optional(),
  /**
   * What may help the human answer, as the machine that asks gives it. Triage's escalation:
   * the model's `confidence`, its `guess` and `rationale` when it gave them, and the call's
   * `model`, `usage` and `latencyMs`.
   */
  details: z.record(z.string(), z.unknown()).optional(),
});
/** A pending interrupt, as {@link InterruptRecordSchema} decodes it. */
export type InterruptRecord = z.infer<typeof InterruptRecordSchema>;

/** The envelope of every event on `hitl.events.<wf>.<type>`. */
export const EventEnvelopeSchema = z.object({
  workflowId,
  type: z.string().min(1),
  actor: z.string().min(1),
  at: z.string(),
  data: z.record(z.string(), z.unknown()),
});
/** A workflow event, as {@link EventEnvelopeSchema} decodes it. */
export type EventEnvelope = z.infer<typeof EventEnvelopeSchema>;

/** A reply released to the customer on `hitl.outbound.reply.<wf>`. */
export const OutboundReplySchema = z.object({
  workflowId,
  category: z.string(),
  reply: z.string(),
  approvedBy: z.string().optional(),
});
/** A released reply, as {@link OutboundReplySchema} decodes it. */
export type OutboundReply = z.infer<typeof OutboundReplySchema>;

/** A dead letter on `hitl.dlq.<source>`. */
export const DeadLetterSchema = z.object({
  source: z.string(),
  subject: z.string(),
  reason: z.string(),
  raw: z.string(),
});
/** A dead letter, as {@link DeadLetterSchema} decodes it. */
export type DeadLetter = z.infer<typeof DeadLetterSchema>;

/** A message between actors, on an internal mailbox subject. */
export const MailboxMessageSchema = z.object({ type: z.string().min(1) }).catchall(z.unknown());
/** A message between actors: a `type` and any fields. */
export type MailboxMessage = z.infer<typeof MailboxMessageSchema>;

/** The longest reason `hitl cancel` takes. */
export const MAX_CANCEL_REASON = 1_000;

/**
 * `hitl cancel`: a message to the paused or parked actor of a workflow, on its mailbox, that
 * ends the workflow (`completed` with `outcome: "cancelled"`). `by` names the operator as the
 * client gave it (the permission to publish on mailboxes is what the server checks).
 */
export const CancelMessageSchema = z.object({
  type: z.literal('hitl.cancel'),
  reason: z.string().trim().min(1, 'a cancel needs a reason').max(MAX_CANCEL_REASON),
  by: z.string().trim().min(1, 'a cancel names who cancels').max(200),
});
/** A `hitl cancel` message, as {@link CancelMessageSchema} decodes it. */
export type CancelMessage = z.infer<typeof CancelMessageSchema>;

/** A durable deadline on the internal timers stream: due at `expiresAt`. */
export const TimerMessageSchema = z.object({
  workflowId,
  actor: z.string().min(1),
  interruptId: z.string().min(1),
  expiresAt: z.string(),
});
export type TimerMessage = z.infer<typeof TimerMessageSchema>;

/**
 * A completed workflow to remove once `HITL_FINISHED_RETENTION_MS` has passed, on
 * `<prefix>.finished.<wf>` (stream `HITL_FINISHED`), written by the step that published
 * `completed`, in its outbox. `actor` and `completedAt` name that step's actor and time: the
 * removal goes ahead only while that actor's snapshot still records this very completion.
 */
export const FinishedMessageSchema = z.object({
  workflowId,
  actor: z.string().min(1),
  completedAt: z.number().int().positive(),
});
export type FinishedMessage = z.infer<typeof FinishedMessageSchema>;

const TraceCarrierSchema = z.object({ traceparent: z.string(), tracestate: z.string().optional() });

/**
 * One effect of a step, kept in the snapshot envelope until it is surely published, in a
 * compact form that `outboxEffects` (src/runtime/outbox.ts) expands into messages.
 */
export const OutboxEntrySchema = z.discriminatedUnion('op', [
  /** An event on `hitl.events.<wf>.<type>`, in the envelope of the actor and the step's time. */
  z.object({ op: z.literal('event'), type: z.string(), data: z.record(z.string(), z.unknown()) }),
  /** A message to actor `to` of the same workflow. */
  z.object({ op: z.literal('send'), to: z.string(), data: MailboxMessageSchema }),
  /** A reply released on `hitl.outbound.reply.<wf>`. */
  z.object({ op: z.literal('reply'), data: z.record(z.string(), z.unknown()) }),
  /** A pause: the KV record, `hitl.human.request.<wf>`, `interrupted`, and its deadline's timer. */
  z.object({ op: z.literal('interrupt'), record: InterruptRecordSchema }),
  z.object({
    op: z.literal('interrupt.delete'),
    workflowId,
    interruptId: z.string(),
    /** The KV revision the record was read at, when known: deleted there without a read. */
    revision: z.number().int().positive().optional(),
  }),
  // The full forms earlier versions stored; still read, so that their outboxes re-publish. A
  // 'publish' also carries a completed workflow's removal schedule (FinishedMessageSchema),
  // which every version re-publishes as it is.
  z.object({
    op: z.literal('publish'),
    subject: z.string(),
    msgId: z.string(),
    data: z.unknown(),
    traceparent: z.string().optional(),
    tracestate: z.string().optional(),
  }),
  z.object({ op: z.literal('interrupt.put'), record: InterruptRecordSchema }),
]);
/** One effect of a step in its outbox (see {@link OutboxEntrySchema}). */
export type OutboxEntry = z.infer<typeof OutboxEntrySchema>;

/**
 * Which copy of a message a step applied: a message pulled from a stream (its stream and
 * sequence), or one an actor's step handed over in-process (`local`).
 */
export const MessageSourceSchema = z.union([
  z.object({ stream: z.string().min(1), seq: z.number().int().positive() }),
  z.object({ local: z.literal(true) }),
]);
export type MessageSource = z.infer<typeof MessageSourceSchema>;

/** The effects of one step, kept until they are surely published. */
export const OutboxSchema = z.object({
  /** The id of the message whose step this was. */
  for: z.string(),
  /**
   * The copy of that message the step applied: only a redelivery of this very copy re-publishes
   * the step's effects (another copy with the same id is acknowledged and publishes nothing).
   * For a message handed over in-process, the copy its sender re-sends through the mailbox after
   * a crash. Absent in outboxes of earlier versions, whose every copy counts as a redelivery.
   */
  source: MessageSourceSchema.optional(),
  /** When the step ran (ms since the epoch): every event's `at`. */
  at: z.number(),
  /** The step's number, which names its messages' ids (absent in earlier versions' outboxes). */
  step: z.number().int().positive().optional(),
  /** The step's W3C trace context, which every message carries. */
  trace: TraceCarrierSchema.optional(),
  entries: z.array(OutboxEntrySchema),
});
/** The effects of one step, kept in the actor's snapshot envelope until published. */
export type Outbox = z.infer<typeof OutboxSchema>;

/**
 * A message whose step kept failing (a thrown error, a timeout, an invalid effect), kept with the
 * parked actor until `hitl retry` applies it again.
 */
export const ParkedMessageSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('message'), id: z.string(), message: MailboxMessageSchema }),
  z.object({
    type: z.literal('response'),
    id: z.string(),
    response: ResponseSchema,
    responseSeq: z.number().int(),
    storedAt: z.string().optional(),
  }),
  z.object({ type: z.literal('expire'), id: z.string(), interruptId: z.string() }),
]);
/** The message a parked actor failed on, kept in its snapshot for `hitl retry` to apply again. */
export type ParkedMessage = z.infer<typeof ParkedMessageSchema>;

/** What the snapshots bucket holds for one actor: its XState snapshot and the host's bookkeeping. */
export const SnapshotEnvelopeSchema = z.object({
  format: z.literal(1),
  kind: z.string(),
  workflowId,
  /** The machine version that wrote `snapshot`. */
  version: z.number().int(),
  /** 'active' (waiting for a message), 'done' (final), 'failed' (cannot go on). */
  status: z.enum(['active', 'done', 'failed']),
  /** Number of steps committed so far; names the step's outbox message ids. */
  steps: z.number().int().nonnegative(),
  snapshot: z.unknown(),
  /** Ids of the most recent messages applied, to recognise a redelivery. */
  applied: z.array(z.string()),
  /** When each of `applied` was applied (ms since the epoch), oldest first. */
  appliedAt: z.array(z.number()).optional(),
  /**
   * Set while the actor is parked: its last step failed for now (a retryable `failed` event)
   * and waits for `hitl retry`. `at` is that event's time.
   */
  parked: z
    .object({
      step: z.string(),
      reason: z.string(),
      at: z.string(),
      /** The message whose step failed, when the runtime parked it: `hitl retry` applies it. */
      message: ParkedMessageSchema.optional(),
    })
    .optional(),
  /** The pending interrupt of this actor, when it waits for a human. */
  interrupt: InterruptRecordSchema.optional(),
  /**
   * When this actor's step published the workflow's `completed` (ms since the epoch); set only
   * with `HITL_FINISHED_RETENTION_MS`, whose removal checks it.
   */
  completedAt: z.number().int().positive().optional(),
  /**
   * Reviewers whose answers this workflow took so far, as far as this actor knows: its own
   * accepted responses and those of the actors whose messages led to it.
   */
  reviewers: z.array(z.string()).optional(),
  /**
   * The W3C trace context of the step that created the actor: the parent of the steps a
   * human response starts, so that one workflow stays one trace.
   */
  trace: TraceCarrierSchema.optional(),
  /**
   * The effects of recent steps, newest last, each kept until it is surely published: a
   * redelivered message re-publishes its own step's effects (JetStream drops duplicates).
   */
  outboxes: z.array(OutboxSchema),
});
/** One actor's stored snapshot with the host's bookkeeping (see {@link SnapshotEnvelopeSchema}). */
export type SnapshotEnvelope = z.infer<typeof SnapshotEnvelopeSchema>;

/** A one-line description of what a zod error found, naming each field. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.length > 0 ? issue.path.join('.') : 'payload';
      return `${path}: ${issue.message}`;
    })
    .join('; ');
}
