import type { NatsConnection, Subscription } from '@nats-io/transport-node';

const decoder = new TextDecoder();

/** One message a core subscriber saw. */
export interface Tapped {
  subject: string;
  /** Its `Nats-Msg-Id` header, if any. */
  msgId: string | undefined;
  data: unknown;
}

/**
 * A core NATS subscription, as a tap, a bot or a notifier has: it sees every publish on the
 * subjects, including the duplicates JetStream drops from its streams.
 */
export interface Tap {
  /** Everything seen so far, in order. */
  readonly seen: readonly Tapped[];
  /** Makes sure every message the server routed to the tap before now has arrived. */
  flush(): Promise<void>;
  /** `subject msgId` of each message seen more than once, with its count. */
  repeated(filter?: (m: Tapped) => boolean): Record<string, number>;
  close(): void;
}

/**
 * Subscribes to `subject` (wildcards allowed) on `nc` and records what arrives.
 *
 * @example
 * const tap = await tapSubjects(nc, 'hitl.>');
 * // … run the workflow …
 * await tap.flush();
 * expect(tap.repeated()).toEqual({});
 */
export async function tapSubjects(nc: NatsConnection, subject: string): Promise<Tap> {
  const seen: Tapped[] = [];
  const sub: Subscription = nc.subscribe(subject, {
    callback: (err, m) => {
      if (err) return;
      let data: unknown;
      try {
        data = JSON.parse(decoder.decode(m.data));
      } catch {
        data = decoder.decode(m.data);
      }
      seen.push({ subject: m.subject, msgId: m.headers?.get('Nats-Msg-Id') || undefined, data });
    },
  });
  // The subscription is registered with the server once this returns.
  await nc.flush();
  return {
    seen,
    flush: () => nc.flush(),
    repeated(filter = () => true) {
      const counts: Record<string, number> = {};
      for (const m of seen.filter(filter)) {
        const key = `${m.subject} ${m.msgId ?? JSON.stringify(m.data)}`;
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return Object.fromEntries(Object.entries(counts).filter(([, n]) => n > 1));
    },
    close: () => sub.unsubscribe(),
  };
}
