import type { ResponseIn } from './interruptSteps.js';
import type { MailboxMessage, MessageSource, SnapshotEnvelope } from '../base/schemas.js';
import type { TraceCarrier } from '../nats/tracing.js';

// What an actor host applies (src/runtime/actorHost.ts), and what applying it did.

/**
 * A message for one actor, as the host applies it. `trace`: the W3C trace context its NATS
 * headers carried, the parent of the step's span (a response's becomes a link instead).
 * `source`: which copy this is (the stream and sequence it was pulled from, or `local` when
 * a step of this host handed it over), recorded with the step so that only a redelivery of
 * that copy re-publishes the step's effects.
 */
export type Incoming = (
  | {
      id: string;
      type: 'message';
      message: MailboxMessage;
      /**
       * Surely the actor's first message (a ticket seen for the first time): the actor is
       * created without reading its snapshot first; should it exist after all, the create
       * fails and the step runs again the usual way.
       */
      fresh?: boolean;
    }
  | ({ id: string; type: 'response' } & ResponseIn)
  | { id: string; type: 'retry' }
  | { id: string; type: 'expire'; interruptId: string }
  /** `hitl cancel`: end the workflow at this actor (cancelStep.ts). */
  | { id: string; type: 'cancel'; reason: string; by: string }
) & {
  trace?: TraceCarrier;
  /** Which copy of the message this is (see redelivery.ts): only a redelivery of the applied copy re-publishes. */
  source?: MessageSource;
  /**
   * The message's last try: should its step fail (a thrown error, a timeout, an invalid
   * effect), the actor is parked with it (`failed`, retryable) for `hitl retry`, instead of the
   * error going back to the caller to be redelivered.
   */
  final?: boolean;
};

/** What applying a message did. */
export type StepResult =
  | { result: 'applied'; status: SnapshotEnvelope['status'] }
  | { result: 'duplicate' }
  | { result: 'rejected'; reason: string }
  | { result: 'ignored'; reason: string }
  | { result: 'failed'; reason: string }
  | { result: 'parked'; reason: string };
