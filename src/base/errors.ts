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

/** A step whose snapshot would exceed what the snapshots bucket stores: it is not written. */
export class SnapshotTooLargeError extends TerminalError {
  override name = 'SnapshotTooLargeError';
  constructor(
    key: string,
    readonly size: number,
    readonly limit: number,
    context: ErrorContext = {},
  ) {
    super(
      `snapshot '${key}' would be ${size} bytes, over the limit of ${limit} bytes (the server's max_payload, or the snapshots bucket's max_msg_size); the step is not stored: keep large data out of machine context`,
      context,
    );
  }
}

/**
 * Two prefixes that would share streams and buckets (`team-a` and `team_a`, `hitl` and `HITL`):
 * the second worker refuses to start rather than rewrite the first one's streams.
 */
export class PrefixClashError extends Error {
  override name = 'PrefixClashError';
  constructor(
    readonly prefix: string,
    readonly stream: string,
    readonly otherPrefix: string,
  ) {
    super(
      `prefix '${prefix}' clashes with prefix '${otherPrefix}': both map to stream '${stream}' (choose a HITL_PREFIX that differs in more than case, '-', '.' and '_')`,
    );
  }
}

/**
 * A snapshot written by a newer machine version than this worker hosts (a rolling upgrade is
 * under way): the message is left for a worker that hosts that version, and the workflow is
 * not failed. `version` is the snapshot's, `hosted` this worker's.
 */
export class NewerSnapshotError extends RetryableError {
  override name = 'NewerSnapshotError';
  constructor(
    message: string,
    readonly version: number,
    readonly hosted: number,
    context: ErrorContext = {},
  ) {
    super(message, context);
  }
}

/**
 * An effect a step emitted that cannot be carried out (an event type that is no subject token,
 * data that does not serialise or is too large, a record that fails its schema, a message to a
 * kind with no mailbox): the step fails before anything is stored. `deterministic`: the same
 * step will emit it again, so retrying cannot help (a missing mailbox may yet appear).
 */
export class InvalidEffectError extends Error {
  override name = 'InvalidEffectError';
  readonly workflowId: string | undefined;
  constructor(
    message: string,
    readonly deterministic: boolean,
    context: ErrorContext = {},
  ) {
    super(message, { cause: context.cause });
    this.workflowId = context.workflowId;
  }
}

/**
 * A step whose machine did not settle within `HITL_STEP_TIMEOUT_MS` (an invoked promise that
 * never answers): it fails like any other step, and is retried, then parked.
 */
export class StepTimeoutError extends RetryableError {
  override name = 'StepTimeoutError';
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
 * `hitl cancel` of a workflow that it did not end: the workflow does not exist, has completed,
 * is neither paused nor parked, went on before the cancel reached it, or no worker applied the
 * cancel in time. The message says which, and what to do.
 */
export class WorkflowNotCancelledError extends Error {
  override name = 'WorkflowNotCancelledError';
  readonly workflowId: string | undefined;
  constructor(message: string, context: ErrorContext = {}) {
    super(message, { cause: context.cause });
    this.workflowId = context.workflowId;
  }
}

/**
 * `HITL_REPLICAS` more than the NATS cluster can place: the worker refuses to start, with one
 * line saying how many nodes it asked for and what it found.
 */
export class ReplicasUnavailableError extends Error {
  override name = 'ReplicasUnavailableError';
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
