import { RequestError } from '@nats-io/nats-core';

const encoder = new TextEncoder();
import { ProtocolHandler, RequestOne } from '@nats-io/nats-core/internal';

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

/**
 * nats.js writes to the socket at the end of the microtask that queued the first command, so
 * the requests of many concurrent steps, each queued from its own continuation, go out as one
 * write each. Flushing once per event-loop turn (`setImmediate`) instead sends everything the
 * turn queued in one write. Large buffers still flush at once, as before.
 */
export function coalesceNatsWrites(): void {
  const proto = ProtocolHandler.prototype as unknown as {
    sendCommand: (cmd: string | Uint8Array, ...payloads: Uint8Array[]) => void;
    hitlCoalesced?: boolean;
  };
  if (proto.hitlCoalesced) return;
  proto.sendCommand = function sendCommand(
    this: {
      outbound: {
        length(): number;
        size(): number;
        fill(buf: Uint8Array, ...payloads: Uint8Array[]): void;
      };
      pendingLimit: number;
      flushPending(): void;
    },
    cmd: string | Uint8Array,
    ...payloads: Uint8Array[]
  ): void {
    const len = this.outbound.length();
    this.outbound.fill(typeof cmd === 'string' ? encoder.encode(cmd) : cmd, ...payloads);
    if (len === 0) setImmediate(() => this.flushPending());
    else if (this.outbound.size() >= this.pendingLimit) this.flushPending();
  };
  proto.hitlCoalesced = true;
}
