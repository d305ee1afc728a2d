import { Kvm } from '@nats-io/kv';
import type { HitlConfig } from '../base/config.js';
import { describeError } from '../base/errors.js';
import type { EventEnvelope } from '../base/schemas.js';
import { HitlClient } from '../client/client.js';
import type { EventStream } from '../client/eventWatch.js';
import type { Answered } from './answer.js';
import { kvKeys, readOnlyManager } from '../nats/streamReads.js';
import { PendingIndex } from './pendingIndex.js';

/** The `resumed` answers remembered, to tell a second reviewer who answered. */
const ANSWERED_KEPT = 20_000;

/**
 * What the inbox reads, on its own connection (its own role: reviewer users may not create the
 * consumer a KV watch needs): the pending list, followed live, and who answered what, from the
 * live `resumed` events.
 *
 * @example
 * const feed = await InboxFeed.open(config);
 * feed.index.query({ sort: 'deadline' });
 * feed.answered('wf-1'); // { interruptId, reviewer, answer } once someone answered
 */
export class InboxFeed {
  private readonly answers = new Map<string, Answered>();
  private readonly listeners = new Set<(workflowId: string, a: Answered) => void>();

  private constructor(
    readonly client: HitlClient,
    readonly index: PendingIndex,
    private readonly events: EventStream,
  ) {
    void (async () => {
      for await (const e of events) this.onEvent(e);
    })().catch(() => undefined);
  }

  static async open(config: HitlConfig): Promise<InboxFeed> {
    const client = await HitlClient.connect({ config });
    try {
      const { subjects } = client;
      const kv = await new Kvm(client.nc)
        .open(subjects.buckets.interrupts)
        .catch((err: unknown) => {
          throw new Error(
            `cannot open KV bucket '${subjects.buckets.interrupts}': ${describeError(err)} (start a worker once to create it)`,
            { cause: err },
          );
        });
      // Events first: an answer given while the list loads is not missed.
      const events = await client.events();
      const manager = readOnlyManager(client.nc);
      const index = await PendingIndex.follow(kv, subjects, {
        keys: async () => kvKeys(await manager, subjects.buckets.interrupts),
      });
      return new InboxFeed(client, index, events);
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  /** Who answered the workflow's latest interrupt, when the inbox saw it happen. */
  answered(workflowId: string): Answered | undefined {
    return this.answers.get(workflowId);
  }

  /** Calls `fn` on every accepted answer until the returned function is called. */
  onAnswered(fn: (workflowId: string, a: Answered) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  async close(): Promise<void> {
    this.index.stop();
    this.listeners.clear();
    await this.events.close();
    await this.client.close();
  }

  private onEvent(e: EventEnvelope): void {
    if (e.type !== 'resumed') return;
    const a: Answered = {
      interruptId: String(e.data.interruptId),
      reviewer: String(e.data.reviewer),
      answer: String(e.data.answer),
    };
    this.answers.delete(e.workflowId);
    this.answers.set(e.workflowId, a);
    if (this.answers.size > ANSWERED_KEPT) {
      this.answers.delete(this.answers.keys().next().value as string);
    }
    for (const fn of this.listeners) fn(e.workflowId, a);
  }
}
