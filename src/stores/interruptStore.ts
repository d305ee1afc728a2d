import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { isWrongLastSequence } from '../nats/retry.js';
import {
  removeKeyAt,
  type BucketHistory,
  type KeyRemoval,
  type MarkerDeletes,
} from './keyRemoval.js';
import { BucketReader } from '../nats/streamReads.js';
import { InterruptRecordSchema, type InterruptRecord } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

const encoder = new TextEncoder();

/** Creates tried by {@link InterruptStore.putIfAbsent} while the key's marker changes under it. */
const CREATE_ATTEMPTS = 3;

/**
 * The pending interrupts in KV `hitl_interrupts`, key `<wf>`: a live value means "waiting for a
 * human"; the key is deleted once the interrupt is resolved.
 */
export class InterruptStore {
  private readonly reader: BucketReader;

  /**
   * @param markers when given, a resolved interrupt leaves nothing in the bucket's stream (see
   * {@link removeKeyAt}), so the bucket (and every listing of it) does not grow with each
   * workflow that ever paused.
   */
  constructor(
    private readonly kv: KV,
    private readonly subjects: Subjects,
    private readonly markers?: {
      js: JetStreamClient;
      jsm: JetStreamManager;
      /** Values the bucket keeps per key (see {@link removeKeyAt}). */
      history?: BucketHistory;
      /** Deletes each marker a moment later rather than at once (see {@link MarkerDeletes}). */
      later?: MarkerDeletes;
    },
  ) {
    this.reader = new BucketReader(kv);
  }

  async get(workflowId: string): Promise<InterruptRecord | undefined> {
    return (await this.getEntry(workflowId))?.record;
  }

  /** The pending record with its KV revision, which {@link resolve} can delete at. */
  async getEntry(
    workflowId: string,
  ): Promise<{ record: InterruptRecord; revision: number } | undefined> {
    const entry = await this.kv.get(this.subjects.interruptKey(workflowId));
    if (!entry || entry.operation !== 'PUT') return undefined;
    const parsed = InterruptRecordSchema.safeParse(entry.json());
    return parsed.success ? { record: parsed.data, revision: entry.revision } : undefined;
  }

  /**
   * Every pending record, unsorted: one KV watch, or a get of each key `keys()` lists for a
   * user who may not create consumers (see {@link BucketReader}).
   */
  async list(keys: () => Promise<string[]>, concurrency = 256): Promise<InterruptRecord[]> {
    return (await this.reader.values(keys, concurrency)).flatMap(parseRecord);
  }

  async put(record: InterruptRecord): Promise<void> {
    await this.kv.put(
      this.subjects.interruptKey(record.workflowId),
      encoder.encode(JSON.stringify(record)),
    );
  }

  /**
   * Writes the record only where the workflow has no pending one (none ever, or deleted): a
   * re-publish of an old step must not replace the interrupt a newer step asks.
   */
  async putIfAbsent(record: InterruptRecord): Promise<void> {
    const key = this.subjects.interruptKey(record.workflowId);
    const value = encoder.encode(JSON.stringify(record));
    for (let attempt = 1; ; attempt++) {
      try {
        await this.kv.create(key, value);
        return;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
      // A live record is there (this one, already put, or a newer one): left alone. Or the
      // key held a removal's marker, deleted between the create's read of it and its write
      // (a worker deletes markers a moment after the removal, see MarkerDeletes): the key is
      // free, and the create is tried again.
      const entry = await this.kv.get(key);
      if (entry?.operation === 'PUT') return;
      if (attempt >= CREATE_ATTEMPTS) {
        throw new Error(
          `could not put the interrupt of '${record.workflowId}': the key kept changing`,
        );
      }
    }
  }

  /**
   * Deletes the record only while it still names `interruptId`, so a late re-publish of an old
   * step never removes a newer interrupt. `revision`: where the caller read it; the delete is
   * tried at that revision first, and the record is read again only when it has changed since.
   */
  async resolve(workflowId: string, interruptId: string, revision?: number): Promise<void> {
    const key = this.subjects.interruptKey(workflowId);
    if (revision !== undefined) {
      if ((await this.removeAt(key, revision)) !== 'changed') return;
    }
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') return;
    const parsed = InterruptRecordSchema.safeParse(entry.json());
    if (parsed.success && parsed.data.interruptId !== interruptId) return;
    // 'changed': a newer interrupt or a concurrent resolve since the read; either way not ours.
    await this.removeAt(key, entry.revision);
  }

  /**
   * Removes the marker a workflow's resolved interrupt left (a worker of an earlier release, or
   * one that could not delete it then), removed like any key (see {@link removeKeyAt}), so no
   * older value resurfaces. A live record is left alone. Best effort: a marker costs listing
   * time only.
   */
  async dropMarker(workflowId: string): Promise<void> {
    if (!this.markers) return;
    const key = this.subjects.interruptKey(workflowId);
    try {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation === 'PUT') return;
      await this.removeAt(key, entry.revision);
    } catch {
      // Left for a later removal.
    }
  }

  /**
   * Removes the key at `revision`. With the manager, nothing of it is left in the bucket's
   * stream ({@link removeKeyAt}); without (a client that may not), a plain KV delete.
   */
  private async removeAt(key: string, revision: number): Promise<KeyRemoval> {
    if (this.markers) {
      const { js, jsm, history, later } = this.markers;
      return await removeKeyAt(
        js,
        jsm,
        this.subjects.buckets.interrupts,
        key,
        revision,
        history?.get(),
        later,
      );
    }
    try {
      await this.kv.delete(key, { previousSeq: revision });
      return 'marker-left';
    } catch (err) {
      if (isWrongLastSequence(err)) return 'changed';
      throw err;
    }
  }
}

/** A stored record as read, or nothing when it does not parse. */
function parseRecord(value: unknown): InterruptRecord[] {
  const parsed = InterruptRecordSchema.safeParse(value);
  return parsed.success ? [parsed.data] : [];
}
