/** Context carried by every runtime error. */
export interface ErrorContext {
  workflowId?: string;
  subject?: string;
  revision?: number;
  cause?: unknown;
}

/**
 * An error no retry can fix: the input is dead-lettered or the workflow is failed.
 * Mirrors Restate's `TerminalError`.
 */
export class TerminalError extends Error {
  override name = 'TerminalError';
  readonly workflowId: string | undefined;
  readonly subject: string | undefined;
  constructor(message: string, context: ErrorContext = {}) {
    super(message, { cause: context.cause });
    this.workflowId = context.workflowId;
    this.subject = context.subject;
  }
}

/** An error that a later attempt may not meet: the message is redelivered. */
export class RetryableError extends Error {
  override name = 'RetryableError';
  readonly workflowId: string | undefined;
  readonly subject: string | undefined;
  constructor(message: string, context: ErrorContext = {}) {
    super(message, { cause: context.cause });
    this.workflowId = context.workflowId;
    this.subject = context.subject;
  }
}

/** A workflow id that does not match `^[A-Za-z0-9_-]{1,64}$`. */
export class IllegalWorkflowIdError extends TerminalError {
  override name = 'IllegalWorkflowIdError';
  constructor(readonly id: string) {
    super(`illegal workflow id: '${id}' (use 1 to 64 letters, digits, '-' and '_')`);
  }
}

/** A payload that is not JSON or does not match its schema. */
export class InvalidPayloadError extends TerminalError {
  override name = 'InvalidPayloadError';
}

/** The snapshot changed under us: another worker committed first. The step is run again. */
export class RevisionConflictError extends RetryableError {
  override name = 'RevisionConflictError';
  readonly revision: number | undefined;
  constructor(message: string, context: ErrorContext = {}) {
    super(message, context);
    this.revision = context.revision;
  }
}

/** A snapshot whose machine version or state no longer matches the hosted machine. */
export class IncompatibleSnapshotError extends TerminalError {
  override name = 'IncompatibleSnapshotError';
}

/**
 * `hitl retry` of a workflow that is not parked: it never failed, went on, completed or does
 * not exist. The message says which.
 */
export class WorkflowNotParkedError extends Error {
  override name = 'WorkflowNotParkedError';
  readonly workflowId: string | undefined;
  constructor(message: string, context: ErrorContext = {}) {
    super(message, { cause: context.cause });
    this.workflowId = context.workflowId;
  }
}

/**
 * A LangGraph checkpoint or pending write too large for one NATS message: nothing of it was
 * stored, so the thread still ends at its previous checkpoint.
 */
export class CheckpointTooLargeError extends TerminalError {
  override name = 'CheckpointTooLargeError';
  /** Bytes of the value that did not fit, and the most one KV value may take. */
  readonly bytes: number;
  readonly limit: number;
  constructor(
    message: string,
    sizes: { bytes: number; limit: number },
    context: ErrorContext = {},
  ) {
    super(message, context);
    this.bytes = sizes.bytes;
    this.limit = sizes.limit;
  }
}

/** How an error travels across the wire. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
}

/** Turns anything thrown into `{ name, message }`, never with an empty message. */
export function toWireError(err: unknown): WireError {
  if (err instanceof Error) {
    return { name: err.name, message: err.message || String(err) };
  }
  return { name: 'Error', message: String(err) || 'unknown error' };
}

/** A one-line description of anything thrown. */
export function describeError(err: unknown): string {
  return toWireError(err).message;
}
