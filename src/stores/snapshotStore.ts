import type { KV } from '@nats-io/kv';
import { RevisionConflictError, SnapshotTooLargeError } from '../base/errors.js';
import { SnapshotEnvelopeSchema, type SnapshotEnvelope } from '../base/schemas.js';
import { BucketReader } from '../nats/streamReads.js';
import type { Subjects } from '../nats/subjects.js';
import { decodeValue, encodeEnvelope, isCompressed, type StorageFormat } from './snapshotCodec.js';
import type { DoneActorShrinker } from './doneActorShrinker.js';
import { isWrongLastSequence } from '../nats/retry.js';

/** The failed step a parked workflow waits at: what `hitl retry` re-runs. */
export interface ParkedStep {
  /** The actor kind that failed; the retry goes to its mailbox. */
  actor: string;
  step: string;
  reason: string;
  /** When it failed (the `failed` event's `at`); names this failure in the retry's message id. */
  at: string;
}

/** A workflow parked at a failed step, as `hitl parked` lists it. */
export type ParkedWorkflow = ParkedStep & { workflowId: string };

/** A stored envelope and the revision to compare-and-set against. */
export interface StoredSnapshot {
  envelope: SnapshotEnvelope;
  revision: number;
}

/** The envelope stored at `key` and its revision, decoded whatever the format; none when absent. */
export async function readSnapshot(kv: KV, key: string): Promise<StoredSnapshot | undefined> {
  const entry = await kv.get(key);
  if (!entry || entry.operation !== 'PUT') return undefined;
  return {
    envelope: SnapshotEnvelopeSchema.parse(decodeValue(entry.value, key)),
    revision: entry.revision,
  };
}

/** Where actor snapshots live between steps. */
export interface SnapshotStore {
  get(kind: string, workflowId: string): Promise<StoredSnapshot | undefined>;
  /**
   * Writes `envelope` if the stored revision is still `revision` (`undefined`: the key must not
   * exist). Throws {@link RevisionConflictError} when another writer got there first.
   */
  put(envelope: SnapshotEnvelope, revision: number | undefined): Promise<number>;
  /** Every actor snapshot of one workflow. */
  listWorkflow(workflowId: string): Promise<StoredSnapshot[]>;
}

/** How a {@link KvSnapshotStore} writes: the format, and who shrinks finished actors. */
export interface SnapshotWriteOptions {
  /** The largest snapshot written: a larger one fails its step ({@link SnapshotTooLargeError}). */
  maxBytes?: number;
  /** `HITL_STORAGE_FORMAT`: 2 (the default: compresses waiting actors and tombstones) or 1 (JSON). */
  format?: StorageFormat;
  /** Shrinks the snapshots of finished actors once no redelivery can need them. */
  shrinker?: DoneActorShrinker;
}

/** {@link SnapshotStore} on JetStream KV (`hitl_snapshots`, key `<kind>.<wf>`). */
export class KvSnapshotStore implements SnapshotStore {
  private readonly reader: BucketReader;
  private readonly maxBytes: number;
  private readonly format: StorageFormat;
  private readonly shrinker: DoneActorShrinker | undefined;

  /** @param options how it writes; a number is `maxBytes` alone (the earlier signature). */
  constructor(
    private readonly kv: KV,
    private readonly subjects: Subjects,
    options: SnapshotWriteOptions | number = {},
  ) {
    if (typeof options === 'number') options = { maxBytes: options };
    // Only uncompressed values can be parked (see encodeEnvelope): `hitl parked` skips the rest.
    this.reader = new BucketReader(kv, (entry) =>
      isCompressed(entry.value) ? undefined : decodeValue(entry.value, entry.key),
    );
    this.maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    this.format = options.format ?? 2;
    this.shrinker = options.shrinker;
  }

  async get(kind: string, workflowId: string): Promise<StoredSnapshot | undefined> {
    return readSnapshot(this.kv, this.subjects.snapshotKey(kind, workflowId));
  }

  async put(envelope: SnapshotEnvelope, revision: number | undefined): Promise<number> {
    const key = this.subjects.snapshotKey(envelope.kind, envelope.workflowId);
    const data = encodeEnvelope(envelope, this.format);
    if (data.length > this.maxBytes) {
      throw new SnapshotTooLargeError(key, data.length, this.maxBytes, {
        workflowId: envelope.workflowId,
      });
    }
    try {
      const written =
        revision === undefined
          ? await this.kv.create(key, data)
          : await this.kv.update(key, data, revision);
      this.shrinker?.written(envelope, written);
      return written;
    } catch (err) {
      if (isWrongLastSequence(err)) {
        throw new RevisionConflictError(`snapshot '${key}' changed since revision ${revision}`, {
          workflowId: envelope.workflowId,
          revision,
          cause: err,
        });
      }
      throw err;
    }
  }

  /**
   * Every actor parked at a failed step (waiting for `hitl retry`), unsorted: one KV watch of
   * the bucket, or a get of each key `keys()` lists (see {@link BucketReader}).
   */
  async listParked(keys: () => Promise<string[]>, concurrency = 256): Promise<ParkedWorkflow[]> {
    const values = await this.reader.values(keys, concurrency);
    const parked: ParkedWorkflow[] = [];
    for (const value of values) {
      // Most actors are not parked: only those are validated.
      const rough = value as { parked?: unknown; status?: unknown } | null;
      if (!rough?.parked || rough.status !== 'active') continue;
      const env = SnapshotEnvelopeSchema.safeParse(value);
      if (env.success && env.data.parked) {
        // The failed message the runtime keeps for the retry is its own business.
        const { step, reason, at } = env.data.parked;
        parked.push({ workflowId: env.data.workflowId, actor: env.data.kind, step, reason, at });
      }
    }
    return parked;
  }

  async listWorkflow(workflowId: string): Promise<StoredSnapshot[]> {
    const keys = await this.kv.keys(`*.${workflowId}`);
    const found: StoredSnapshot[] = [];
    for await (const key of keys) {
      const [kind] = key.split('.');
      if (kind === undefined) continue;
      const stored = await this.get(kind, workflowId);
      if (stored) found.push(stored);
    }
    return found;
  }
}
