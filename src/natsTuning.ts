import { RequestError } from '@nats-io/nats-core';
import { RequestOne } from '@nats-io/nats-core/internal';

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
