import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { BucketReader } from '../nats/streamReads.js';
import { InterruptRecordSchema, type InterruptRecord } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

const encoder = new TextEncoder();

/**
 * The pending interrupts in KV `hitl_interrupts`, key `<wf>`: a live value means "waiting for a
 * human"; the key is deleted once the interrupt is resolved.
 */
export class InterruptStore {
  private readonly reader: BucketReader;

  /**
   * @param jsm when given, the marker a resolved interrupt leaves is removed, so the bucket
   * (and every listing of it) does not grow with each workflow that ever paused.
   */
  constructor(
    private readonly kv: KV,
    private readonly subjects: Subjects,
    private readonly jsm?: JetStreamManager,
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

  /**
   * Removes the marker a resolved key leaves (a KV purge, which has rolled up every older value
   * of the key) from the bucket's stream, by its sequence: a record put again since (the next
   * pause) is another message, and is kept. Not a stream purge filtered on the key: nats-server
   * before 2.9.18 replays one, on a node that restarts and recovers it from its raft log, as a
   * purge of the whole stream up to that point (nats-io/nats-server#4196), and every interrupt
   * pending then would be lost on that node, and read as missing once it leads the bucket.
   */
  private async removeMarker(key: string): Promise<void> {
    if (!this.jsm) return;
    try {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation === 'PUT') return;
      await this.jsm.streams.deleteMessage(
        `KV_${this.subjects.buckets.interrupts}`,
        entry.revision,
        false,
      );
    } catch {
      // Best effort: the interrupt is resolved either way; a marker left costs listing time only.
    }
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
    try {
      await this.kv.create(
        this.subjects.interruptKey(record.workflowId),
        encoder.encode(JSON.stringify(record)),
      );
    } catch (err) {
      // A live record is there: this one, already put, or a newer one.
      const code = (err as { code?: unknown }).code;
      if (code !== 10071 && !(err instanceof Error && /wrong last sequence/i.test(err.message))) {
        throw err;
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
      try {
        await this.kv.purge(key, { previousSeq: revision });
        await this.removeMarker(key);
        return;
      } catch (err) {
        if ((err as { code?: unknown }).code !== 10071) throw err;
      }
    }
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') return;
    const parsed = InterruptRecordSchema.safeParse(entry.json());
    if (parsed.success && parsed.data.interruptId !== interruptId) return;
    try {
      await this.kv.purge(key, { previousSeq: entry.revision });
      await this.removeMarker(key);
    } catch (err) {
      // Changed since we read it: a newer interrupt or a concurrent resolve; either way not ours.
      if ((err as { code?: unknown }).code !== 10071) throw err;
    }
  }
}

/** A stored record as read, or nothing when it does not parse. */
function parseRecord(value: unknown): InterruptRecord[] {
  const parsed = InterruptRecordSchema.safeParse(value);
  return parsed.success ? [parsed.data] : [];
}
