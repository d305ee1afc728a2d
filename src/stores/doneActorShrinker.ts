import type { KV } from '@nats-io/kv';
import type { Logger } from '../base/logger.js';
import type { SnapshotEnvelope } from '../base/schemas.js';
import { mapLimit } from '../nats/streamReads.js';

/** Finished actors waiting to shrink, at most; past it, the newest keep their whole value. */
const MAX_QUEUED = 20_000;

interface Queued {
  key: string;
  workflowId: string;
  revision: number;
  due: number;
  tombstone: Uint8Array;
  cancelled?: boolean;
}

/** What a finished actor keeps once no redelivery can need more (see {@link tombstoneOf}). */
export function tombstoneOf(envelope: SnapshotEnvelope): SnapshotEnvelope {
  const snapshot = envelope.snapshot as { value?: unknown } | null;
  return {
    format: 1,
    kind: envelope.kind,
    workflowId: envelope.workflowId,
    version: envelope.version,
    status: 'done',
    steps: envelope.steps,
    // What `hitl show` prints of it; a finished actor is never restored (it takes no message).
    snapshot: { status: 'done', value: snapshot?.value ?? null },
    applied: [],
    outboxes: [],
  };
}

/** Whether the newest outbox of `envelope` completes its workflow. */
function completes(envelope: SnapshotEnvelope): boolean {
  const last = envelope.outboxes.at(-1);
  return last?.entries.some((e) => e.op === 'event' && e.type === 'completed') ?? false;
}

const encoder = new TextEncoder();

/**
 * Shrinks the snapshot of a finished actor (triage and specialist, in a workflow paused at the
 * gate) to a tombstone once a redelivery can no longer need its outbox and applied ids: after
 * `afterMs` (four ack waits), the span for which commits keep them anyway. The tombstone (about
 * 150 bytes instead of 1.2 KB) is plain JSON that every release reads: it still says the actor
 * has finished, so nothing starts it again.
 *
 * No write is added to a step: the worker that committed the actor remembers it (in memory,
 * bounded), and when it is due writes the tombstone with compare-and-set at the revision it
 * committed, only if the workflow still waits for a human (completed workflows are removed by
 * their retention instead) and nothing changed the actor since. A worker that stops forgets
 * what it had not shrunk yet: those values stay whole, which costs bytes only.
 */
export class DoneActorShrinker {
  private readonly queue: Queued[] = [];
  private readonly byWorkflow = new Map<string, Queued[]>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  /** Tombstones written so far (for tests and metrics). */
  shrunk = 0;

  constructor(
    private readonly kv: KV,
    private readonly options: {
      afterMs: number;
      /** Whether the workflow still waits for a human: then its tombstones are worth a write. */
      waiting: (workflowId: string) => Promise<boolean>;
      logger?: Logger;
      maxQueued?: number;
    },
  ) {}

  /** Told of every snapshot the store wrote, with its new revision. */
  written(key: string, envelope: SnapshotEnvelope, revision: number): void {
    if (this.stopped) return;
    if (completes(envelope)) {
      this.forget(envelope.workflowId);
      return;
    }
    if (envelope.status !== 'done' || envelope.snapshot == null) return;
    if (this.queue.length >= (this.options.maxQueued ?? MAX_QUEUED)) return;
    const entry: Queued = {
      key,
      workflowId: envelope.workflowId,
      revision,
      due: Date.now() + this.options.afterMs,
      tombstone: encoder.encode(JSON.stringify(tombstoneOf(envelope))),
    };
    this.queue.push(entry);
    const same = this.byWorkflow.get(entry.workflowId);
    if (same) same.push(entry);
    else this.byWorkflow.set(entry.workflowId, [entry]);
    this.arm();
  }

  /** Stops shrinking; what is queued stays whole. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
    this.byWorkflow.clear();
  }

  private forget(workflowId: string): void {
    const entries = this.byWorkflow.get(workflowId);
    if (!entries) return;
    for (const e of entries) e.cancelled = true;
    this.byWorkflow.delete(workflowId);
  }

  private arm(): void {
    if (this.timer !== undefined || this.running) return;
    const head = this.queue[0];
    if (!head) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.run();
      },
      Math.max(0, head.due - Date.now()),
    );
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      const now = Date.now();
      const due: Queued[] = [];
      while (this.queue[0] && this.queue[0].due <= now) {
        const e = this.queue.shift() as Queued;
        if (!e.cancelled) due.push(e);
      }
      const workflows = new Map<string, Queued[]>();
      for (const e of due) {
        this.byWorkflow.delete(e.workflowId);
        const list = workflows.get(e.workflowId);
        if (list) list.push(e);
        else workflows.set(e.workflowId, [e]);
      }
      await mapLimit([...workflows.entries()], 16, ([wf, entries]) => this.shrink(wf, entries));
    } finally {
      this.running = false;
      if (!this.stopped) this.arm();
    }
  }

  private async shrink(workflowId: string, entries: Queued[]): Promise<void> {
    try {
      if (this.stopped || !(await this.options.waiting(workflowId))) return;
      for (const e of entries) {
        try {
          await this.kv.update(e.key, e.tombstone, e.revision);
          this.shrunk += 1;
        } catch {
          // Changed or removed since (a retry, the workflow's retention): left as it is.
        }
      }
    } catch (err) {
      this.options.logger?.debug('finished actors not shrunk', {
        workflowId,
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
