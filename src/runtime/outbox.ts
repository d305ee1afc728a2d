import type { JetStreamClient } from '@nats-io/jetstream';
import type { InterruptStore } from '../stores/interruptStore.js';
import type { EventEnvelope, InterruptRecord, Outbox, TimerMessage } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';
import { traceHeaders, type TraceCarrier } from '../nats/tracing.js';

const encoder = new TextEncoder();

/** One message an outbox publishes, with the `Nats-Msg-Id` that makes a re-publish harmless. */
export interface Publish {
  subject: string;
  msgId: string;
  data: unknown;
  trace?: TraceCarrier;
  /** The index of the outbox entry it comes from. */
  entry?: number;
  /**
   * The stream that keeps it, for a message on a public subject (an event, a human request, a
   * reply): a re-publish after a crash first looks there for its `Nats-Msg-Id`.
   */
  stream?: string;
  /** The interrupt it announces (request, `interrupted`, deadline), if any. */
  interruptId?: string;
  /** `data` as JSON bytes, when already encoded (by the check before the commit). */
  payload?: Uint8Array;
}

/** A change to the pending-interrupt bucket an outbox makes, before it publishes. */
export type InterruptOp =
  | {
      op: 'put';
      record: InterruptRecord;
      /** Written only where the workflow has no pending record; every put is, now. */
      ifAbsent?: boolean;
    }
  | { op: 'delete'; workflowId: string; interruptId: string; revision?: number };

/** What carrying out an outbox means: its interrupt changes, then its messages, in order. */
export interface OutboxEffects {
  interrupts: InterruptOp[];
  publishes: Publish[];
}

/** Whose outbox it is: names the subjects, message ids and event envelopes. */
export interface OutboxOwner {
  workflowId: string;
  kind: string;
}

/**
 * Expands a stored outbox into what it publishes. The stored form is compact (an event is its
 * type and data; the envelope, subject, message id and trace context are derived here), and the
 * expansion is deterministic, so a re-publish after a crash yields the same message ids and
 * JetStream drops what it already stored. Message `i` of step `n` of actor `k` is
 * `<wf>.<k>.<n>.<i>`; a deadline's timer is `<wf>.timer.<interruptId>`.
 */
export function outboxEffects(
  outbox: Outbox,
  owner: OutboxOwner,
  subjects: Subjects,
): OutboxEffects {
  const wf = owner.workflowId;
  const effects: OutboxEffects = { interrupts: [], publishes: [] };
  const at = new Date(outbox.at).toISOString();
  let index = 0;
  let entryIndex = 0;
  const publish = (
    subject: string,
    data: unknown,
    about: { msgId?: string; stream?: string; interruptId?: string } = {},
  ): void => {
    effects.publishes.push({
      subject,
      msgId: about.msgId ?? `${wf}.${owner.kind}.${outbox.step}.${index++}`,
      data,
      ...(outbox.trace ? { trace: outbox.trace } : {}),
      entry: entryIndex,
      ...(about.stream !== undefined ? { stream: about.stream } : {}),
      ...(about.interruptId !== undefined ? { interruptId: about.interruptId } : {}),
    });
  };
  const events = { stream: subjects.streams.events };
  const event = (type: string, data: unknown): EventEnvelope => ({
    workflowId: wf,
    type,
    actor: owner.kind,
    at,
    data: data as Record<string, unknown>,
  });
  for (const [i, entry] of outbox.entries.entries()) {
    entryIndex = i;
    switch (entry.op) {
      case 'event':
        publish(subjects.event(wf, entry.type), event(entry.type, entry.data), events);
        break;
      case 'send':
        publish(subjects.mailbox(entry.to, wf), entry.data);
        break;
      case 'reply':
        publish(subjects.outboundReply(wf), entry.data, { stream: subjects.streams.outbound });
        break;
      case 'interrupt': {
        const record = entry.record;
        const asks = { ...events, interruptId: record.interruptId };
        // The KV record first: whoever reacts to the request must find it pending.
        effects.interrupts.push({ op: 'put', record });
        publish(subjects.humanRequest(wf), record, asks);
        publish(subjects.event(wf, 'interrupted'), event('interrupted', record), asks);
        if (record.expiresAt !== undefined) {
          const timer: TimerMessage = {
            workflowId: wf,
            actor: record.actor,
            interruptId: record.interruptId,
            expiresAt: record.expiresAt,
          };
          publish(subjects.timer(wf), timer, {
            msgId: `${wf}.timer.${record.interruptId}`,
            interruptId: record.interruptId,
          });
        }
        break;
      }
      case 'interrupt.delete':
        effects.interrupts.push({
          op: 'delete',
          workflowId: entry.workflowId,
          interruptId: entry.interruptId,
          ...(entry.revision !== undefined ? { revision: entry.revision } : {}),
        });
        break;
      // Written by earlier versions, which stored every message in full.
      case 'interrupt.put':
        effects.interrupts.push({ op: 'put', record: entry.record });
        break;
      case 'publish': {
        const trace =
          entry.traceparent !== undefined
            ? {
                traceparent: entry.traceparent,
                ...(entry.tracestate !== undefined ? { tracestate: entry.tracestate } : {}),
              }
            : outbox.trace;
        effects.publishes.push({
          subject: entry.subject,
          msgId: entry.msgId,
          data: entry.data,
          ...(trace ? { trace } : {}),
          entry: i,
        });
        break;
      }
    }
  }
  return effects;
}

/**
 * Carries out a step's effects: the KV interrupt changes in order first, then every publish
 * pipelined on one connection (so they are stored in order), each with its `Nats-Msg-Id` so
 * that a re-publish after a crash is dropped by JetStream as a duplicate. A message's trace
 * context goes in the `traceparent` / `tracestate` headers.
 */
export async function publishOutbox(
  js: JetStreamClient,
  interrupts: InterruptStore,
  effects: OutboxEffects,
): Promise<void> {
  for (const op of effects.interrupts) {
    // Even a step's first write of its record is a create: a step that stalled past its ack
    // wait (its message redelivered, its question answered, the next one asked) must not put
    // its interrupt back over the newer one. A step that replaces its own record deletes it
    // first (an `interrupt.delete` earlier in the same outbox).
    if (op.op === 'put') await interrupts.putIfAbsent(op.record);
    else await interrupts.resolve(op.workflowId, op.interruptId, op.revision);
  }
  await Promise.all(
    effects.publishes.map((p) => {
      const headers = traceHeaders(p.trace);
      return js.publish(p.subject, p.payload ?? encoder.encode(JSON.stringify(p.data)), {
        msgID: p.msgId,
        ...(headers ? { headers } : {}),
      });
    }),
  );
}
