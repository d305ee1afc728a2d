import type { KV } from '@nats-io/kv';
import type { Logger } from '../base/logger.js';
import type { SnapshotEnvelope } from '../base/schemas.js';
import { mapLimit } from '../nats/streamReads.js';
import type { Subjects } from '../nats/subjects.js';
import { encodeTombstone, type StorageFormat } from './snapshotCodec.js';
import { readSnapshot, type StoredSnapshot } from './snapshotStore.js';

/**
 * Workflows whose finished actors wait to shrink with what their commit told (about 225 bytes of
 * heap each, 1.1 MB in all); past it, a burst's further actors wait as an id only (see
 * {@link Overflow}). It was 20,000: in a burst of 100,000 pauses on 2 workers that list's 4.5 MB
 * per worker, renewed for as long as the burst lasts, grew the worker's heap by 30 to 41 MB of
 * RSS, against 18 to 19 with 5,000 (the bench's cost of waiting, same run length and bytes).
 * Sustained, 5,000 in four ack waits is 42 pauses a second per worker at the default ack wait.
 */
const MAX_PENDING = 5_000;

/** Actors of a burst past {@link MAX_PENDING} that wait as ids, at most (up to 16 MB). */
const MAX_OVERFLOW = 200_000;

/** Ids per overflow batch: each batch is one string once full. */
const OVERFLOW_BATCH = 1_000;

/** A finished actor as committed: what its tombstone keeps, and the revision it replaces. */
interface Finished {
  kind: string;
  revision: number;
  version: number;
  steps: number;
  value: unknown;
}

/**
 * A workflow's finished actors waiting to shrink, kept small: up to {@link MAX_PENDING} of them
 * stay in memory for four ack waits (with an object per actor, 20,000 of them showed as 15 to 20
 * MB of worker RSS).
 */
interface Pending {
  /** Milliseconds after the shrinker's `epoch`: a small integer, not a boxed number. */
  due: number;
  /** Its actors, in commit order, each encoded by {@link encodeFinished}, joined by RS. */
  actors: string;
  /**
   * How many of the first actors the workflow asked a human after: their effects surely went
   * out (see {@link DoneActorShrinker.asked}).
   */
  followed: number;
}

const UNIT = '\x1f';
const RECORD = '\x1e';

/**
 * Finished actors of a burst, past what {@link DoneActorShrinker} keeps in full:
 * `<kind> US <wf> US <revision>` joined by RS, 30 to 80 bytes each (the workflow id's length),
 * due once the last of them is. Nothing else of their commit is kept, so each is read again when
 * due and shrunk only where that read shows it may be (see {@link DoneActorShrinker.shrinkRead}):
 * a read and, for a workflow still paused, a write.
 */
interface Overflow {
  due: number;
  /** When its first entry came: a batch takes entries for at most a second. */
  opened: number;
  /** While the batch fills: its entries; then joined into {@link text}. */
  entries: string[] | undefined;
  text: string;
  count: number;
}

function encodeFinished(a: Finished): string {
  return [a.kind, a.revision, a.version, a.steps, JSON.stringify(a.value ?? null)].join(UNIT);
}

function decodeFinished(text: string): Finished {
  const [kind = '', revision, version, steps, value = 'null'] = text.split(UNIT);
  return {
    kind,
    revision: Number(revision),
    version: Number(version),
    steps: Number(steps),
    value: JSON.parse(value) as unknown,
  };
}

/** What a finished actor keeps once no redelivery can need more (see {@link DoneActorShrinker}). */
export function tombstoneOf(envelope: SnapshotEnvelope): SnapshotEnvelope {
  const snapshot = envelope.snapshot as { value?: unknown } | null;
  return tombstone(envelope.workflowId, {
    kind: envelope.kind,
    revision: 0,
    version: envelope.version,
    steps: envelope.steps,
    value: snapshot?.value ?? null,
  });
}

function tombstone(workflowId: string, actor: Finished): SnapshotEnvelope {
  return {
    format: 1,
    kind: actor.kind,
    workflowId,
    version: actor.version,
    status: 'done',
    steps: actor.steps,
    // What `hitl show` prints of it; a finished actor is never restored (it takes no message).
    snapshot: { status: 'done', value: actor.value },
    applied: [],
    outboxes: [],
  };
}

/** Whether the newest outbox of `envelope` completes its workflow. */
function completes(envelope: SnapshotEnvelope): boolean {
  const last = envelope.outboxes.at(-1);
  return last?.entries.some((e) => e.op === 'event' && e.type === 'completed') ?? false;
}

/**
 * Shrinks the snapshot of a finished actor (triage and specialist, in a workflow paused at the
 * gate) to a tombstone once a redelivery can no longer need its outbox and applied ids: after
 * `afterMs` (four ack waits), the span for which commits keep them anyway. The tombstone (about
 * 160 bytes of JSON instead of 1.2 KB, compressed to about 50 under format 2) still says the
 * actor has finished, so nothing starts it again.
 *
 * No write is added to a step: the worker that committed the actor remembers it (in memory, at
 * most {@link MAX_PENDING} workflows) and, when it is due, writes the tombstone with
 * compare-and-set at the revision it committed (so an actor changed or removed since is left
 * alone). Only actors finished before their workflow paused for a human shrink (see
 * {@link asked}); a workflow that completes first is forgotten, for its retention to remove:
 * this worker saw it complete, or its interrupt resolved. Both come from the interrupts bucket,
 * which every worker watches for deadlines (TimerScheduler). A burst past MAX_PENDING (a
 * worker's 5,000 within four ack waits) is remembered as ids only and read back when due (a
 * get of the interrupt, of the actor that asked it and of each actor), so it shrinks too. A
 * worker that stops forgets what it had not shrunk yet: those values stay whole, which costs
 * bytes only.
 */
export class DoneActorShrinker {
  /** By workflow id, in due order (a Map keeps insertion order, and the delay is constant). */
  private readonly pending = new Map<string, Pending>();
  /** A burst's further actors, in due order (see {@link Overflow}). */
  private readonly overflow: Overflow[] = [];
  private overflowCount = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private stopped = false;
  /** Tombstones written so far. */
  shrunk = 0;
  /** When the shrinker was made: due times count from it. */
  private readonly epoch = Date.now();

  constructor(
    private readonly kv: KV,
    private readonly subjects: Subjects,
    private readonly options: {
      afterMs: number;
      /** How tombstones are written (see {@link encodeTombstone}); 2 unless told. */
      format?: StorageFormat;
      logger?: Logger;
      maxPending?: number;
      maxOverflow?: number;
      /**
       * The workflow's pending question, if it has one: which actor asked it, and its id. An
       * actor read back from the overflow shrinks only where the commit that asked it came after
       * the actor's in the snapshots bucket. Without it, nothing goes to the overflow.
       */
      pendingQuestion?: (
        workflowId: string,
      ) => Promise<{ actor: string; interruptId: string } | undefined>;
    },
  ) {}

  /** Told of every snapshot the store wrote, with its new revision. */
  written(envelope: SnapshotEnvelope, revision: number): void {
    if (this.stopped) return;
    const wf = envelope.workflowId;
    if (completes(envelope)) {
      this.pending.delete(wf);
      return;
    }
    if (envelope.status !== 'done' || envelope.snapshot == null) return;
    const held = this.pending.get(wf);
    if (!held && this.pending.size >= (this.options.maxPending ?? MAX_PENDING)) {
      this.overflowed(envelope.kind, wf, revision);
      return;
    }
    const entry = encodeFinished({
      kind: envelope.kind,
      revision,
      version: envelope.version,
      steps: envelope.steps,
      value: (envelope.snapshot as { value?: unknown }).value ?? null,
    });
    let actors = entry;
    let followed = 0;
    if (held) {
      // The same kind committed again (rare: a retried step) replaces its earlier entry, which
      // also loses its place among the followed ones.
      const kept = held.actors.split(RECORD);
      const at = kept.findIndex((a) => a.startsWith(`${envelope.kind}${UNIT}`));
      followed = held.followed;
      if (at >= 0) {
        kept.splice(at, 1);
        if (at < followed) followed -= 1;
      }
      actors = [...kept, entry].join(RECORD);
    }
    // Due four ack waits after the last of them; moved to the end, to keep the due order.
    this.pending.delete(wf);
    this.pending.set(wf, { due: this.now() + this.options.afterMs, actors, followed });
    this.arm();
  }

  /**
   * The workflow asked a human (its interrupt record was put): every actor that finished before
   * has had its effects stored, since the steps that led to the question ran after they were
   * published. Only such actors shrink: one whose publish failed and whose message is yet to
   * come back (a NATS outage longer than four ack waits, say) keeps its outbox.
   */
  asked(workflowId: string): void {
    const held = this.pending.get(workflowId);
    if (held) held.followed = held.actors.split(RECORD).length;
  }

  /** The workflow's interrupt was resolved: it is likely to complete, so its actors stay. */
  resolved(workflowId: string): void {
    this.pending.delete(workflowId);
  }

  /** Workflows waiting to shrink with what their commit told. */
  get size(): number {
    return this.pending.size;
  }

  /** Actors of a burst waiting to shrink as ids. */
  get overflowSize(): number {
    return this.overflowCount;
  }

  /** Stops shrinking; what is pending stays whole. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.pending.clear();
    this.overflow.length = 0;
    this.overflowCount = 0;
  }

  /** Keeps the id of a finished actor past {@link MAX_PENDING}, to be read again when due. */
  private overflowed(kind: string, workflowId: string, revision: number): void {
    if (
      this.options.pendingQuestion === undefined ||
      this.overflowCount >= (this.options.maxOverflow ?? MAX_OVERFLOW)
    ) {
      return;
    }
    const now = this.now();
    const due = now + this.options.afterMs;
    let batch = this.overflow.at(-1);
    if (
      batch?.entries === undefined ||
      batch.entries.length >= OVERFLOW_BATCH ||
      now - batch.opened >= 1_000
    ) {
      if (batch?.entries) this.seal(batch);
      batch = { due, opened: now, entries: [], text: '', count: 0 };
      this.overflow.push(batch);
    }
    batch.entries?.push(`${kind}${UNIT}${workflowId}${UNIT}${revision}`);
    batch.count += 1;
    batch.due = due;
    this.overflowCount += 1;
    this.arm();
  }

  private seal(batch: Overflow): void {
    batch.text = batch.entries?.join(RECORD) ?? batch.text;
    batch.entries = undefined;
  }

  private now(): number {
    return Date.now() - this.epoch;
  }

  private arm(): void {
    if (this.timer !== undefined || this.running || this.stopped) return;
    const head = this.pending.values().next();
    const dues = [head.done ? undefined : head.value.due, this.overflow[0]?.due].filter(
      (d): d is number => d !== undefined,
    );
    if (dues.length === 0) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        void this.run();
      },
      Math.max(0, Math.min(...dues) - this.now()),
    );
    this.timer.unref();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      const now = this.now();
      const due: [string, Finished[]][] = [];
      for (const [wf, p] of this.pending) {
        if (p.due > now) break;
        // Only actors the workflow asked a human after: one whose publish failed and whose
        // message is yet to come back keeps its outbox.
        due.push([wf, p.actors.split(RECORD).slice(0, p.followed).map(decodeFinished)]);
      }
      for (const [wf] of due) this.pending.delete(wf);
      await mapLimit(due, 16, ([wf, actors]) => this.shrink(wf, actors));
      // One overflow batch a run, so that what falls due meanwhile does not wait behind a burst.
      const batch = this.overflow[0];
      if (!this.stopped && batch !== undefined && batch.due <= now) {
        this.overflow.shift();
        this.overflowCount -= batch.count;
        await this.shrinkAllRead(batch.entries ?? batch.text.split(RECORD));
      }
    } catch (err) {
      // Each write handles its own failure; this is a bug's last stop, not a worker's.
      this.options.logger?.warn('shrinking finished actors failed', {
        reason: err instanceof Error ? err.message : String(err),
      });
    } finally {
      this.running = false;
      this.arm();
    }
  }

  /** {@link shrinkRead} of each `<kind> US <wf> US <revision>`, reading each question once. */
  private async shrinkAllRead(entries: string[]): Promise<void> {
    const asked = new Map<string, Promise<number | undefined>>();
    await mapLimit(entries, 16, (entry) => {
      const [kind = '', wf = '', revision] = entry.split(UNIT);
      let at = asked.get(wf);
      if (at === undefined) {
        at = this.askedAt(wf);
        asked.set(wf, at);
      }
      return this.shrinkRead(kind, wf, Number(revision), at);
    });
  }

  /**
   * The revision, in the snapshots bucket, of the commit that asked the workflow's pending
   * question: the asking actor's current value, where its last step is the one that asked it
   * (otherwise unknown: it committed again since). Stream order, not the workers' clocks.
   */
  private async askedAt(workflowId: string): Promise<number | undefined> {
    try {
      const question = await this.options.pendingQuestion?.(workflowId);
      if (question === undefined) return undefined;
      const asking = await readSnapshot(
        this.kv,
        this.subjects.snapshotKey(question.actor, workflowId),
      );
      const asked = asking?.envelope.outboxes
        .at(-1)
        ?.entries.some(
          (e) =>
            (e.op === 'interrupt' || e.op === 'interrupt.put') &&
            e.record.interruptId === question.interruptId,
        );
      return asked === true ? asking?.revision : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Shrinks an actor of the overflow, read again now: only the very commit it was told of (so
   * four ack waits old by this worker's clock), finished, not a tombstone yet, not the step that
   * completed its workflow, and followed in the snapshots bucket by the commit that asked the
   * workflow's pending question, as {@link asked} tells the others.
   */
  private async shrinkRead(
    kind: string,
    workflowId: string,
    revision: number,
    asked: Promise<number | undefined>,
  ): Promise<void> {
    if (this.stopped) return;
    let stored: StoredSnapshot | undefined;
    try {
      const askedAt = await asked;
      if (askedAt === undefined || askedAt <= revision) return;
      stored = await readSnapshot(this.kv, this.subjects.snapshotKey(kind, workflowId));
    } catch (err) {
      this.notShrunk(workflowId, kind, err);
      return;
    }
    if (stored?.revision !== revision) return;
    const { envelope } = stored;
    if (
      envelope.status !== 'done' ||
      envelope.snapshot == null ||
      envelope.outboxes.length === 0 ||
      completes(envelope)
    ) {
      return;
    }
    await this.writeTombstone(tombstoneOf(envelope), revision);
  }

  private async shrink(workflowId: string, actors: Finished[]): Promise<void> {
    for (const actor of actors)
      await this.writeTombstone(tombstone(workflowId, actor), actor.revision);
  }

  /** Replaces the actor's value at `revision` with `tombstone`, unless it changed since. */
  private async writeTombstone(tombstone: SnapshotEnvelope, revision: number): Promise<void> {
    if (this.stopped) return;
    const key = this.subjects.snapshotKey(tombstone.kind, tombstone.workflowId);
    try {
      await this.kv.update(key, encodeTombstone(tombstone, this.options.format ?? 2), revision);
      this.shrunk += 1;
    } catch (err) {
      // Changed or removed since (a retry, the workflow's retention): left as it is.
      this.notShrunk(tombstone.workflowId, tombstone.kind, err);
    }
  }

  private notShrunk(workflowId: string, actor: string, err: unknown): void {
    this.options.logger?.debug('finished actor not shrunk', {
      workflowId,
      actor,
      reason: err instanceof Error ? err.message : String(err),
    });
  }
}
