import { RequestError } from '@nats-io/nats-core';
import { NatsConnectionImpl, ProtocolHandler, RequestOne } from '@nats-io/nats-core/internal';
import type { NatsConnection } from '@nats-io/transport-node';
import { createLogger, type Logger } from '../base/logger.js';

const encoder = new TextEncoder();

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

/** The nats-core classes the patches above are applied to (this module's copy). */
export interface PatchedClasses {
  connection: abstract new (...args: never[]) => unknown;
  protocol: abstract new (...args: never[]) => unknown;
}

const OUR_CLASSES: PatchedClasses = {
  connection: NatsConnectionImpl as unknown as PatchedClasses['connection'],
  protocol: ProtocolHandler,
};

/**
 * Whether `nc` is built from the nats-core classes this module patches. The patches reach
 * nats-core through a deep import: should a lockfile refresh install a second copy (one for
 * `@nats-io/transport-node`, another for this package), they would change the copy no
 * connection uses, silently. The four `@nats-io` packages are pinned to one exact version, and
 * this checks it held.
 */
export function patchesReach(nc: NatsConnection, classes: PatchedClasses = OUR_CLASSES): boolean {
  const protocol = (nc as unknown as { protocol?: unknown }).protocol;
  return nc instanceof classes.connection && protocol instanceof classes.protocol;
}

let warned = false;

/**
 * Applies the tuning to a connection the runtime made, after checking that the patched classes
 * are the ones it uses ({@link patchesReach}); otherwise the connection runs unpatched, and one
 * warning says why. Returns whether the tuning applies.
 *
 * @example
 * const nc = await connect(options);
 * tuneConnection(nc);
 */
export function tuneConnection(
  nc: NatsConnection,
  log?: Logger,
  classes: PatchedClasses = OUR_CLASSES,
): boolean {
  if (!patchesReach(nc, classes)) {
    if (!warned || log !== undefined) {
      warned = true;
      (log ?? createLogger({ component: 'nats' })).warn(
        'nats.js tuning not applied: the connection uses another copy of @nats-io/nats-core than the one patched (run npm ci; the @nats-io packages must share one exact version)',
      );
    }
    return false;
  }
  coalesceNatsWrites(nc);
  return true;
}
