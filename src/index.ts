// The public surface of `hitl-mesh`: every name a user of the package may import, and nothing
// else. The worker's step engine, the NATS topology, the response checks and the CLI's
// nats-server launcher are internals (tests import them from their own modules).
export type { ActorDefinition, SnapshotMigration } from './runtime/actorDefinition.js';
export type {
  CancelResult,
  RunResult,
  ResumeOptions,
  RetryResult,
  HitlClientOptions,
} from './client/client.js';
export type {
  HitlConfig,
  JsonMode,
  ModelSettings,
  NatsSettings,
  StreamLimitSettings,
} from './base/config.js';
export type {
  ExpireEvent,
  HitlEmitted,
  InterruptRequest,
  ResumeEvent,
  RetryEvent,
} from './runtime/effects.js';
export type { ErrorContext, WireError } from './base/errors.js';
export type { LogLevel, Logger } from './base/logger.js';
export type { ResponsePolicy, ResponseVerdict } from './runtime/responsePolicy.js';
export type { ResponseOrigin, ReviewerVerdict } from './runtime/reviewerIdentity.js';
export type { ResponseSubject } from './nats/subjects.js';
export type {
  CancelMessage,
  DeadLetter,
  EventEnvelope,
  HumanResponse,
  InterruptRecord,
  MailboxMessage,
  OutboundReply,
  Outbox,
  OutboxEntry,
  ParkedMessage,
  ResponsePayload,
  SnapshotEnvelope,
  Ticket,
} from './base/schemas.js';
export type {
  ParkedStep,
  ParkedWorkflow,
  SnapshotStore,
  StoredSnapshot,
} from './stores/snapshotStore.js';
export type { TraceCarrier } from './nats/tracing.js';
export type { TicketIntake, WorkerOptions } from './worker/worker.js';

export { defineActor } from './runtime/actorDefinition.js';
export { HitlClient } from './client/client.js';
export {
  DEFAULT_MAX_PAYLOAD_BYTES,
  DEFAULT_STEP_TIMEOUT_MS,
  JSON_MODES,
  loadConfig,
} from './base/config.js';
export { connectNats } from './nats/connection.js';
export { hitlEvent, releaseReply, requestHuman, sendToActor } from './runtime/effects.js';
export {
  describeError,
  IllegalWorkflowIdError,
  IncompatibleSnapshotError,
  InvalidEffectError,
  InvalidPayloadError,
  NewerSnapshotError,
  PrefixClashError,
  ReplicasUnavailableError,
  RetryableError,
  RevisionConflictError,
  SnapshotTooLargeError,
  StepTimeoutError,
  TerminalError,
  toWireError,
  WorkflowNotCancelledError,
  WorkflowNotParkedError,
} from './base/errors.js';
export { InterruptStore } from './stores/interruptStore.js';
export { describeNatsError, isTransientNatsError } from './nats/retry.js';
export { createLogger } from './base/logger.js';
export { runMachine } from './runtime/machineRunner.js';
export {
  CancelMessageSchema,
  DeadLetterSchema,
  describeZodError,
  EventEnvelopeSchema,
  InterruptRecordSchema,
  MailboxMessageSchema,
  OutboundReplySchema,
  ParkedMessageSchema,
  ResponsePayloadSchema,
  ResponseSchema,
  SnapshotEnvelopeSchema,
  TicketSchema,
} from './base/schemas.js';
export { KvSnapshotStore } from './stores/snapshotStore.js';
export { assertWorkflowId, isWorkflowId, Subjects, WORKFLOW_ID_PATTERN } from './nats/subjects.js';
export { ACK_WAIT_MS, DUPLICATE_WINDOW_MS, MAX_DELIVER } from './nats/topology.js';
export { activeTrace, traceFromHeaders, traceHeaders } from './nats/tracing.js';
export { Worker } from './worker/worker.js';
