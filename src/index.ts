export type { ActorDefinition, SnapshotMigration } from './actorDefinition.js';
export type { ActorHostOptions, Incoming, StepResult } from './actorHost.js';
export type { RunResult, ResumeOptions, RetryResult, HitlClientOptions } from './client.js';
export type { HitlConfig, JsonMode, ModelSettings, NatsSettings } from './config.js';
export type { HitlEmitted, InterruptRequest, ResumeEvent, RetryEvent } from './effects.js';
export type { ErrorContext, WireError } from './errors.js';
export type { LogLevel, Logger } from './logger.js';
export type { NatsServerHandle } from './natsServer.js';
export type { ParkedStep, ParkedWorkflow } from './parked.js';
export type { ResponsePolicy, ResponseVerdict } from './responsePolicy.js';
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
} from './schemas.js';
export type { SnapshotStore, StoredSnapshot } from './snapshotStore.js';
export type { StepSpanOptions, TraceCarrier } from './tracing.js';
export type { TicketIntake, WorkerOptions } from './worker.js';

export { defineActor } from './actorDefinition.js';
export { ActorHost } from './actorHost.js';
export { HitlClient } from './client.js';
export { DEFAULT_MAX_PAYLOAD_BYTES, JSON_MODES, loadConfig } from './config.js';
export { connectNats, connectOptions, describeConnectError } from './connection.js';
export { deadLetter, rawText } from './deadLetter.js';
export { hitlEvent, releaseReply, requestHuman, sendToActor } from './effects.js';
export {
  describeError,
  IllegalWorkflowIdError,
  IncompatibleSnapshotError,
  InvalidPayloadError,
  RetryableError,
  RevisionConflictError,
  TerminalError,
  toWireError,
  WorkflowNotParkedError,
} from './errors.js';
export { InterruptStore } from './interruptStore.js';
export { createLogger } from './logger.js';
export { runMachine } from './machineRunner.js';
export {
  ensureNatsServerBinary,
  findNatsServerBinary,
  isPortListening,
  startNatsServer,
} from './natsServer.js';
export { findParkedStep } from './parked.js';
export { checkResponse, checkResponseTime, CLOCK_SKEW_MS } from './responsePolicy.js';
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
} from './schemas.js';
export { KvSnapshotStore } from './snapshotStore.js';
export { assertWorkflowId, isWorkflowId, Subjects, WORKFLOW_ID_PATTERN } from './subjects.js';
export { ACK_WAIT_MS, DUPLICATE_WINDOW_MS, ensureTopology, MAX_DELIVER } from './topology.js';
export { activeTrace, inStepSpan, traceFromHeaders, traceHeaders } from './tracing.js';
export { Worker } from './worker.js';
