import type { ActorDefinition } from './actorDefinition.js';
import type { InterruptStore } from '../stores/interruptStore.js';
import type { Logger } from '../base/logger.js';
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { MailboxMessage, MessageSource } from '../base/schemas.js';
import type { Publish } from './outbox.js';
import type { SnapshotStore } from '../stores/snapshotStore.js';
import type { StepResult } from './steps.js';
import type { Subjects } from '../nats/subjects.js';
import type { TraceCarrier } from '../nats/tracing.js';

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
  /**
   * `HITL_STEP_TIMEOUT_MS`: a step whose machine has not settled after this long (an invoked
   * promise that never answers) fails; unset, steps are not timed.
   */
  stepTimeoutMs?: number;
  /**
   * `HITL_FINISHED_RETENTION_MS`: the step that completes a workflow schedules its removal
   * (finished.ts); unset, nothing is scheduled.
   */
  finishedRetentionMs?: number;
  /** The largest message the server takes (its `max_payload`): no effect may be larger. */
  maxPayloadBytes?: number;
  /**
   * Whether actor kind `kind` has a mailbox (a consumer) on the server, for a kind not hosted
   * here. Unset: every kind is taken to have one.
   */
  hasMailbox?: (kind: string) => Promise<boolean>;
  /**
   * Every actor kind that has a mailbox on the server, hosted here or not: where a response
   * applied already is looked for (see ActorHost.appliedBy).
   */
  mailboxKinds: () => Promise<string[]>;
}

/**
 * What the step functions (stepLoop.ts, responseSteps.ts, commit.ts) need of the host that
 * runs them: its options and the little state it keeps across steps.
 */
export interface StepContext {
  readonly opts: ActorHostOptions;
  /** How long a step's applied id and outbox are kept (at least): four ack waits. */
  readonly retentionMs: number;
  /** The trace context of the step actor `(kind, wf)` runs now, if traced. */
  stepTrace(kind: string, workflowId: string): TraceCarrier | undefined;
  /** Which copy of its message the step actor `(kind, wf)` runs now applies, when known. */
  stepSource(kind: string, workflowId: string): MessageSource | undefined;
  /** Stream reads (message gets from the stream leader), for the redelivery path. */
  streams(): Promise<JetStreamManager>;
  /** True when the step that applied `messageId` to actor `key` has all its effects stored. */
  isSettled(key: string, messageId: string): boolean;
  /** True when a message to `kind` is to be applied here, in-process, after the commit. */
  deliversLocally(kind: string): boolean;
  /** Publishes effects outside a committed step (rejections, a message handed to a mailbox). */
  publish(publishes: Publish[]): Promise<void>;
}

/** A message from a committed step to an actor this host runs, to apply here. */
export interface LocalDelivery {
  kind: string;
  /** The receiver's message id, as it would derive it from the mailbox message. */
  id: string;
  message: MailboxMessage;
  /** The message that carries it to the mailbox instead. */
  publish: Publish;
}

/** What a step did, and the messages it sent that this host applies next. */
export type Step = StepResult & { deliveries?: LocalDelivery[] };
