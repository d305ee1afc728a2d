// What machine files use (through the barrel, as `hitl-mesh` users do): plain values and types
// with no runtime imports (no NATS, no node:*), so a machine using them stays pure.
import type { MailboxMessage, OutboundReply } from '../base/schemas.js';

/** What a machine asks of the human when it pauses. The runtime fills in ids and times. */
export interface InterruptRequest {
  /** 'approval', 'escalation', or a type of your own. */
  type: string;
  question: string;
  options?: string[];
  draft?: string;
  category?: string;
  /** How long the human has to answer; `HITL_GATE_TIMEOUT_MS` when not given. */
  timeoutMs?: number;
  /** What may help the human answer (triage: the model's guess, and what the call cost). */
  details?: Record<string, unknown>;
}

/**
 * The effects a hosted machine emits (XState `emit`). The host turns them into the step's
 * outbox: events, messages to other actors, a pause for a human, a reply to the customer.
 * Declare `emitted: HitlEmitted` in the machine's `setup({ types })`.
 */
export type HitlEmitted =
  | { type: 'hitl.event'; event: string; data: Record<string, unknown> }
  | { type: 'hitl.send'; to: string; message: MailboxMessage }
  | { type: 'hitl.interrupt'; interrupt: InterruptRequest }
  | { type: 'hitl.reply'; reply: Omit<OutboundReply, 'workflowId'> };

/** The event a paused machine receives when a human's answer is accepted. */
export interface ResumeEvent {
  type: 'hitl.resume';
  interruptId: string;
  interruptType: string;
  answer: string;
  /** Validated against the interrupt type's declared update keys. */
  update: Record<string, unknown>;
  reviewer: string;
  comment?: string;
}

/**
 * The event a paused machine receives when its interrupt's deadline passed unanswered. The
 * runtime has already withdrawn the interrupt and emitted `expired`; the machine decides what
 * follows (the support workflow completes with `outcome: "expired"`).
 */
export interface ExpireEvent {
  type: 'hitl.expire';
  interruptId: string;
  interruptType: string;
}

/** The event `hitl retry <wf>` delivers to an actor parked after a failed step. */
export interface RetryEvent {
  type: 'hitl.retry';
}

/**
 * An event on `hitl.events.<wf>.<type>`.
 *
 * @example
 * emit(({ context }) => hitlEvent('triaged', { category: context.category }))
 */
export function hitlEvent(event: string, data: Record<string, unknown> = {}): HitlEmitted {
  return { type: 'hitl.event', event, data };
}

/**
 * A message to actor `to` of the same workflow; it creates that actor when it does not exist
 * (the message's fields, without `type`, become its input).
 *
 * @example
 * emit(({ context }) => sendToActor('gate', { type: 'draft', draft: context.draft }))
 */
export function sendToActor(to: string, message: MailboxMessage): HitlEmitted {
  return { type: 'hitl.send', to, message };
}

/**
 * Pauses for a human: the runtime records the interrupt in KV, publishes
 * `hitl.human.request.<wf>` and the `interrupted` event; the answer arrives as a
 * {@link ResumeEvent}.
 *
 * @example
 * emit(() => requestHuman({ type: 'approval', question: 'Send it?', options: ['yes', 'no'] }))
 */
export function requestHuman(interrupt: InterruptRequest): HitlEmitted {
  return { type: 'hitl.interrupt', interrupt };
}

/** Releases a reply to the customer on `hitl.outbound.reply.<wf>`. */
export function releaseReply(reply: Omit<OutboundReply, 'workflowId'>): HitlEmitted {
  return { type: 'hitl.reply', reply };
}
