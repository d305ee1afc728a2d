import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { expect } from 'vitest';
import type { HitlClient, Subjects } from '../../src/index.js';
import { streamCaughtUp } from './cluster.js';
import { eventually } from './eventually.js';
import { mapLimit } from './harness.js';

const encoder = new TextEncoder();

/**
 * The workload of the cluster tests, read from the streams: workflows paused at the approval
 * gate, a reviewer answering them (trying again until JetStream stores each answer), and the
 * counts that show every workflow completed exactly once.
 *
 * @example
 * const load = await ClusterWorkload.open(nc, subjects);
 * await load.pause(client, ids);
 * await load.answer(ids);
 * await load.expectCompletedOnce(ids.length);
 */
export class ClusterWorkload {
  /** When each `completed` event was seen (a core subscription): how long a fault stalled. */
  readonly completedAt: number[] = [];

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly subjects: Subjects,
  ) {
    nc.subscribe(subjects.eventsOfType('completed'), {
      callback: () => {
        this.completedAt.push(Date.now());
      },
    });
  }

  /** `nc` must reconnect by itself (connectNats with every node's URL). */
  static async open(nc: NatsConnection, subjects: Subjects): Promise<ClusterWorkload> {
    return new ClusterWorkload(nc, await jetstreamManager(nc), subjects);
  }

  /** How many messages each subject matching `filter` holds in `stream`. */
  async perSubject(stream: string, filter: string): Promise<Record<string, number>> {
    const info = await this.jsm.streams.info(stream, { subjects_filter: filter });
    return info.state.subjects ?? {};
  }

  /** Workflows with at least one event of `type`. */
  async workflowsWith(type: string): Promise<number> {
    const counts = await this.perSubject(
      this.subjects.streams.events,
      this.subjects.eventsOfType(type),
    );
    return Object.keys(counts).length;
  }

  /** Submits a refund ticket per id and waits until each waits at the approval gate. */
  async pause(client: HitlClient, ids: string[]): Promise<void> {
    await mapLimit(ids, 32, (id) => client.submit({ id, request: 'I want a refund' }));
    await eventually(async () => expect(await this.workflowsWith('interrupted')).toBe(ids.length), {
      timeout: 30_000,
      interval: 200,
      message: 'workflows never all paused',
    });
  }

  /** Publishes with a Nats-Msg-Id until JetStream stores it; a copy stored twice is dropped. */
  async publishUntilStored(subject: string, payload: object, msgID: string): Promise<void> {
    const js = jetstream(this.nc);
    for (let attempt = 1; ; attempt++) {
      try {
        await js.publish(subject, encoder.encode(JSON.stringify(payload)), {
          msgID,
          timeout: 1_000,
        });
        return;
      } catch (err) {
        if (attempt >= 300) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** A reviewer approving `ids`, `lanes` at a time, `spacingMs` apart in each lane. */
  answer(ids: string[], lanes = 4, spacingMs = 40): Promise<void> {
    return mapLimit(ids, lanes, async (id) => {
      await this.publishUntilStored(
        this.subjects.respond(id),
        { answer: 'yes', reviewer: 'ana' },
        `${id}.yes`,
      );
      await new Promise((resolve) => setTimeout(resolve, spacingMs));
    }).then(() => undefined);
  }

  /** Resolves with the time of the first `completed` seen after `since` (+50 ms). */
  async nextCompletionAfter(since: number, what: string): Promise<number> {
    return eventually(
      () => {
        const t = this.completedAt.find((at) => at > since + 50);
        if (t === undefined) throw new Error('none yet');
        return t;
      },
      { timeout: 30_000, message: `nothing completed after ${what}` },
    );
  }

  /**
   * Waits until every stream of the prefix has a leader and two current followers: a node
   * restarted has caught up, so the next fault leaves each group a quorum.
   */
  async allCaughtUp(): Promise<void> {
    const names = [
      ...Object.values(this.subjects.streams),
      `KV_${this.subjects.buckets.snapshots}`,
      `KV_${this.subjects.buckets.interrupts}`,
    ];
    await eventually(
      async () => {
        for (const name of names) await streamCaughtUp(this.jsm, name);
      },
      { timeout: 30_000, interval: 200, message: 'the restarted node never caught up' },
    );
  }

  /**
   * Waits until all `n` workflows completed and the workers are idle, then checks from the
   * streams: one `completed` and one outbound reply per workflow, no rejected answer, no dead
   * letter.
   */
  async expectCompletedOnce(n: number): Promise<void> {
    const { subjects, jsm } = this;
    await eventually(async () => expect(await this.workflowsWith('completed')).toBe(n), {
      timeout: 40_000,
      interval: 250,
      message: 'not every workflow completed',
    }).catch(async (err: unknown) => {
      // Say where the rest stand, so that a failure can be read without running it again.
      const seen: Record<string, number> = {};
      for (const type of ['resumed', 'response_rejected', 'approved', 'failed', 'expired']) {
        seen[type] = await this.workflowsWith(type);
      }
      const stored = (await jsm.streams.info(subjects.streams.responses)).state.messages;
      const firstRejection = await jsm.streams
        .getMessage(subjects.streams.events, {
          seq: 1,
          next_by_subj: subjects.eventsOfType('response_rejected'),
        } as unknown as { seq: number })
        .then((m) => (m ? new TextDecoder().decode(m.data) : 'none'))
        .catch(() => 'none');
      const consumers: string[] = [];
      for (const stream of [subjects.streams.responses, subjects.streams.mailbox]) {
        for await (const c of jsm.consumers.list(stream)) {
          consumers.push(`${c.name}: pending ${c.num_pending}, ack pending ${c.num_ack_pending}`);
        }
      }
      throw new Error(
        `${String(err)}; workflows with ${JSON.stringify(seen)}; responses stored ${stored}; ${consumers.join('; ')}; first rejection: ${firstRejection}`,
      );
    });
    // Steps cut off by a fault come back after the ack wait: let them, before counting.
    await eventually(
      async () => {
        for (const stream of [subjects.streams.responses, subjects.streams.mailbox]) {
          for await (const c of jsm.consumers.list(stream)) {
            if (c.num_pending > 0 || c.num_ack_pending > 0) throw new Error(`${c.name} busy`);
          }
        }
      },
      { timeout: 20_000, interval: 250, message: 'workers never became idle' },
    );
    const completed = await this.perSubject(
      subjects.streams.events,
      subjects.eventsOfType('completed'),
    );
    const replies = await this.perSubject(subjects.streams.outbound, subjects.outboundAll);
    const rejected = await this.workflowsWith('response_rejected');
    const dlq = await jsm.streams.info(subjects.streams.dlq);
    expect(Object.values(completed).filter((c) => c !== 1)).toEqual([]);
    expect(Object.keys(replies).length).toBe(n);
    expect(Object.values(replies).filter((c) => c !== 1)).toEqual([]);
    expect(rejected, `rejected answers: ${await this.rejections()}`).toBe(0);
    expect(dlq.state.messages).toBe(0);
  }

  /** The `response_rejected` events stored (the first ten), and how many responses are stored. */
  private async rejections(): Promise<string> {
    const { jsm, subjects } = this;
    const found: string[] = [];
    let seq = 1;
    while (found.length < 10) {
      const m = await jsm.streams
        .getMessage(subjects.streams.events, {
          seq,
          next_by_subj: subjects.eventsOfType('response_rejected'),
        } as unknown as { seq: number })
        .catch(() => null);
      if (!m) break;
      found.push(new TextDecoder().decode(m.data));
      seq = m.seq + 1;
    }
    const stored = (await jsm.streams.info(subjects.streams.responses)).state.messages;
    return `responses stored ${stored}; ${found.join('; ')}`;
  }
}
