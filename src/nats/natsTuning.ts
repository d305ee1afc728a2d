import { RequestError } from '@nats-io/nats-core';

const encoder = new TextEncoder();
import { RequestOne } from '@nats-io/nats-core/internal';
import type { NatsConnection } from '@nats-io/transport-node';

/**
 * nats.js 3.4 ends every request, answered or not, with `cancel()`, which rejects its
 * (already settled) promise with a new `RequestError("cancelled")`: an Error, with its stack
 * captured, per JetStream publish and KV operation, 6% of a worker's CPU, then thrown away.
 * This `cancel` is the same but for reusing one error, whose stack says nothing anyway.
 * Applied once; left alone should a later nats.js change the shape it relies on.
 */
export function tuneNatsRequests(): void {
  const proto = RequestOne.prototype as unknown as {
    cancel: (err?: Error) => void;
    hitlTuned?: boolean;
  };
  if (proto.hitlTuned || proto.cancel.length !== 1) return;
  const cancelled = new RequestError('cancelled');
  proto.cancel = function cancel(
    this: {
      timer?: { cancel(): void };
      mux: { cancel(r: unknown): void };
      deferred: { reject(e: Error): void };
    },
    err?: Error,
  ): void {
    this.timer?.cancel();
    this.mux.cancel(this);
    this.deferred.reject(err ?? cancelled);
  };
  proto.hitlTuned = true;
}

/** The parts of a nats.js connection's protocol handler that {@link coalesceNatsWrites} uses. */
interface Protocol {
  outbound: {
    length(): number;
    size(): number;
    fill(buf: Uint8Array, ...payloads: Uint8Array[]): void;
  };
  pendingLimit: number;
  flushPending(): void;
  sendCommand(cmd: string | Uint8Array, ...payloads: Uint8Array[]): void;
  close(err?: Error): Promise<void>;
  hitlCoalesced?: boolean;
}

/**
 * nats.js writes to the socket at the end of the microtask that queued the first command, so
 * the requests of many concurrent steps, each queued from its own continuation, go out as one
 * write each. On `nc`, this flushes once per event-loop turn (`setImmediate`) instead, sending
 * everything the turn queued in one write; large buffers still flush at once, and `close()`
 * flushes what is queued first (as the microtask did before it). Only connections the runtime
 * makes get it (`connectNats`); a connection that does not look as expected is left alone.
 */
export function coalesceNatsWrites(nc: NatsConnection): void {
  const protocol = (nc as unknown as { protocol?: Partial<Protocol> }).protocol;
  if (
    !protocol ||
    protocol.hitlCoalesced ||
    typeof protocol.flushPending !== 'function' ||
    typeof protocol.close !== 'function' ||
    typeof protocol.outbound?.fill !== 'function'
  ) {
    return;
  }
  const p = protocol as Protocol;
  p.sendCommand = (cmd, ...payloads) => {
    const len = p.outbound.length();
    p.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (len === 0) setImmediate(() => p.flushPending());
    else if (p.outbound.size() >= p.pendingLimit) p.flushPending();
  };
  const close = p.close.bind(p);
  p.close = (err?: Error) => {
    p.flushPending();
    return close(err);
  };
  p.hitlCoalesced = true;
}
