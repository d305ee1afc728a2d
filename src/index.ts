export type { ActorDefinition, SnapshotMigration } from './runtime/actorDefinition.js';
export type { ActorHostOptions, Incoming, StepResult } from './runtime/actorHost.js';
export type { RunResult, ResumeOptions, RetryResult, HitlClientOptions } from './client/client.js';
export type { HitlConfig, JsonMode, ModelSettings, NatsSettings } from './base/config.js';
export type { HitlEmitted, InterruptRequest, ResumeEvent, RetryEvent } from './runtime/effects.js';
export type { ErrorContext, WireError } from './base/errors.js';
export type { LogLevel, Logger } from './base/logger.js';
export type { NatsServerHandle } from './cli/natsServer.js';
export type { ParkedStep, ParkedWorkflow } from './client/parked.js';
export type { ResponsePolicy, ResponseVerdict } from './runtime/responsePolicy.js';
export type {
  DeadLetter,
  EventEnvelope,
  HumanResponse,
  InterruptRecord,
  MailboxMessage,
  OutboundReply,
  Outbox,
  OutboxEntry,
  SnapshotEnvelope,
  Ticket,
} from './base/schemas.js';
export type { SnapshotStore, StoredSnapshot } from './stores/snapshotStore.js';
export type { StepSpanOptions, TraceCarrier } from './nats/tracing.js';
export type { TicketIntake, WorkerOptions } from './worker/worker.js';

export { defineActor } from './runtime/actorDefinition.js';
export { ActorHost } from './runtime/actorHost.js';
export { HitlClient } from './client/client.js';
export { DEFAULT_MAX_PAYLOAD_BYTES, JSON_MODES, loadConfig } from './base/config.js';
export { connectNats, connectOptions, describeConnectError } from './nats/connection.js';
export { deadLetter, rawText } from './runtime/deadLetter.js';
export { hitlEvent, releaseReply, requestHuman, sendToActor } from './runtime/effects.js';
export {
  describeError,
  IllegalWorkflowIdError,
  IncompatibleSnapshotError,
  InvalidPayloadError,
  ReplicasUnavailableError,
  RetryableError,
  RevisionConflictError,
  TerminalError,
  toWireError,
  WorkflowNotParkedError,
} from './base/errors.js';
export { InterruptStore } from './stores/interruptStore.js';
export { describeNatsError, isTransientNatsError } from './nats/retry.js';
export { createLogger } from './base/logger.js';
export { runMachine } from './runtime/machineRunner.js';
export {
  ensureNatsServerBinary,
  findNatsServerBinary,
  isPortListening,
  startNatsServer,
} from './cli/natsServer.js';
export { findParkedStep } from './client/parked.js';
export { checkResponse, checkResponseTime, CLOCK_SKEW_MS } from './runtime/responsePolicy.js';
export {
  DeadLetterSchema,
  describeZodError,
  EventEnvelopeSchema,
  InterruptRecordSchema,
  MailboxMessageSchema,
  OutboundReplySchema,
  ResponseSchema,
  SnapshotEnvelopeSchema,
  TicketSchema,
} from './base/schemas.js';
export { KvSnapshotStore } from './stores/snapshotStore.js';
export { assertWorkflowId, isWorkflowId, Subjects, WORKFLOW_ID_PATTERN } from './nats/subjects.js';
export { ACK_WAIT_MS, DUPLICATE_WINDOW_MS, ensureTopology, MAX_DELIVER } from './nats/topology.js';
export { activeTrace, inStepSpan, traceFromHeaders, traceHeaders } from './nats/tracing.js';
export { Worker } from './worker/worker.js';
