import { DiscardPolicy, type StreamConfig } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { DEFAULT_MAX_PAYLOAD_BYTES, type StreamLimitSettings } from '../base/config.js';
import type { Subjects } from './subjects.js';

const DAY_MS = 24 * 60 * 60_000;
const MIB = 1024 * 1024;

/**
 * The largest message a stream the runtime writes takes: nats-server's default `max_payload`,
 * so that it refuses nothing the server lets through (an event, a dead letter, a snapshot).
 */
export const RUNTIME_MAX_MSG_BYTES = MIB;

/** The limits a worker sets when no variable names them (see {@link StreamLimitSettings}). */
export const DEFAULT_STREAM_LIMITS: Required<
  Omit<StreamLimitSettings, 'eventsMaxBytes' | 'eventsMaxAgeMs' | 'outboundMaxAgeMs'>
> = {
  ticketsMaxBytes: 1024 * MIB,
  ticketsMaxAgeMs: 7 * DAY_MS,
  responsesMaxBytes: 256 * MIB,
  responsesMaxAgeMs: 30 * DAY_MS,
  dlqMaxBytes: 256 * MIB,
  dlqMaxAgeMs: 30 * DAY_MS,
};

type Limits = Pick<StreamConfig, 'max_bytes' | 'max_age' | 'discard' | 'max_msg_size'>;

/**
 * Each stream's size and age limits. What publishers write (tickets, responses) is refused
 * when full (`discard: new`: the publisher gets an error and retries later) and ages out, so
 * intake does not stop for ever. What the runtime writes never refuses a committed step's
 * write: dead letters and events drop their oldest when full (`discard: old`); mailboxes,
 * timers and outbound replies have no size limit (they grow with the tickets taken in, which
 * are limited), and outbound replies an age only when `HITL_OUTBOUND_MAX_AGE_MS` names one. Every stream has a `max_msg_size`: inbound ones twice `HITL_MAX_PAYLOAD_BYTES`
 * (larger is refused at publish; between the two, dead-lettered with the reason).
 *
 * @example
 * streamLimits(new Subjects('hitl'), {}, 65536)['HITL_TICKETS']; // { discard: 'new', … }
 */
export function streamLimits(
  s: Subjects,
  settings: StreamLimitSettings,
  maxPayloadBytes = DEFAULT_MAX_PAYLOAD_BYTES,
): Record<string, Limits> {
  const l = { ...DEFAULT_STREAM_LIMITS, ...settings };
  const inbound = 2 * maxPayloadBytes;
  const unlimited: Limits = {
    max_bytes: -1,
    max_age: 0,
    discard: DiscardPolicy.Old,
    max_msg_size: RUNTIME_MAX_MSG_BYTES,
  };
  return {
    [s.streams.tickets]: {
      max_bytes: l.ticketsMaxBytes,
      max_age: nanos(l.ticketsMaxAgeMs),
      discard: DiscardPolicy.New,
      max_msg_size: inbound,
    },
    [s.streams.responses]: {
      max_bytes: l.responsesMaxBytes,
      max_age: nanos(l.responsesMaxAgeMs),
      discard: DiscardPolicy.New,
      max_msg_size: inbound,
    },
    [s.streams.dlq]: {
      max_bytes: l.dlqMaxBytes,
      max_age: nanos(l.dlqMaxAgeMs),
      discard: DiscardPolicy.Old,
      max_msg_size: RUNTIME_MAX_MSG_BYTES,
    },
    // The audit trail: kept for ever unless HITL_EVENTS_MAX_AGE_MS; with HITL_EVENTS_MAX_BYTES
    // (which needs an age too) the oldest events go first when it is full.
    [s.streams.events]: {
      ...unlimited,
      ...(l.eventsMaxBytes !== undefined ? { max_bytes: l.eventsMaxBytes } : {}),
      ...(l.eventsMaxAgeMs !== undefined ? { max_age: nanos(l.eventsMaxAgeMs) } : {}),
    },
    // Released replies: kept for ever unless HITL_OUTBOUND_MAX_AGE_MS.
    [s.streams.outbound]: {
      ...unlimited,
      ...(l.outboundMaxAgeMs !== undefined ? { max_age: nanos(l.outboundMaxAgeMs) } : {}),
    },
    [s.streams.mailbox]: unlimited,
    [s.streams.timers]: unlimited,
    [s.finishedStream]: unlimited,
  };
}
