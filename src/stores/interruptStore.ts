import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { headers } from '@nats-io/nats-core';
import { BucketReader } from '../nats/streamReads.js';
import { InterruptRecordSchema, type InterruptRecord } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);

/**
 * How the delete markers of resolved interrupts are removed (see {@link InterruptStore}): the
 * marker is written by a publish whose acknowledgement names its sequence, which is then
 * removed without reading the key again.
 */
export interface MarkerRemoval {
  js: JetStreamClient;
  jsm: JetStreamManager;
  /**
   * The bucket's history (values kept per key). With 1, the marker is the key's only message
   * and is deleted by its sequence alone; with more, the values it hides must go too, so the
   * key's messages up to it are purged (a request the server pays several times more for).
   */
  history: number;
  /** Runs a write again through a leader election, as the worker's KV writes are. */
  retry?<T>(what: string, write: () => Promise<T>): Promise<T>;
}

/**
 * The pending interrupts in KV `hitl_interrupts`, key `<wf>`: a live value means "waiting for a
 * human"; the key is deleted once the interrupt is resolved.
 */
export class InterruptStore {
  private readonly reader: BucketReader;

  /**
   * @param markers when given, the delete marker a resolved interrupt leaves is removed, so the
   * bucket (and every listing of it) does not grow with each workflow that ever paused.
   */
  constructor(
    private readonly kv: KV,
    private readonly subjects: Subjects,
    private readonly markers?: MarkerRemoval,
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

  /** The KV subject of a key of this bucket (`$KV.<bucket>.<key>`), which its writes go to. */
  private keySubject(key: string): string {
    return `$KV.${this.subjects.buckets.interrupts}.${key}`;
  }

  /**
   * Deletes `key` if its last revision is still `revision`, as `kv.delete` does (a `DEL`
   * marker that watchers see), then removes the marker (and, where the bucket keeps history,
   * the values before it), so the key leaves nothing behind; a record put again since (the
   * next pause) is kept. Throws the server's error 10071 when the key has changed since.
   */
  private async deleteAt(key: string, revision: number): Promise<void> {
    if (!this.markers) {
      await this.kv.delete(key, { previousSeq: revision });
      return;
    }
    const { js, jsm, history } = this.markers;
    const h = headers();
    h.set('KV-Operation', 'DEL');
    h.set('Nats-Expected-Last-Subject-Sequence', String(revision));
    const write = () => js.publish(this.keySubject(key), EMPTY, { headers: h });
    // Tried again after a timeout, a delete that was stored fails as changed (10071), like
    // `kv.delete`: the caller then reads the key and finds it deleted.
    const ack = await (this.markers.retry ? this.markers.retry('kv delete', write) : write());
    const stream = `KV_${this.subjects.buckets.interrupts}`;
    try {
      if (history <= 1) await jsm.streams.deleteMessage(stream, ack.seq, false);
      else await jsm.streams.purge(stream, { filter: this.keySubject(key), seq: ack.seq + 1 });
    } catch {
      // Best effort: the interrupt is resolved either way; a marker left costs listing time
      // only (a record put since has already replaced it, with a history of 1).
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
      if (!isWrongLastSequence(err)) throw err;
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
        await this.deleteAt(key, revision);
        return;
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
      }
    }
    const entry = await this.kv.get(key);
    if (!entry || entry.operation !== 'PUT') return;
    const parsed = InterruptRecordSchema.safeParse(entry.json());
    if (parsed.success && parsed.data.interruptId !== interruptId) return;
    try {
      await this.deleteAt(key, entry.revision);
    } catch (err) {
      // Changed since we read it: a newer interrupt or a concurrent resolve; either way not ours.
      if (!isWrongLastSequence(err)) throw err;
    }
  }
}

/** JetStream's "wrong last sequence" (10071): the key changed since the revision given. */
function isWrongLastSequence(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 10071 || (err instanceof Error && /wrong last sequence/i.test(err.message));
}

/** A stored record as read, or nothing when it does not parse. */
function parseRecord(value: unknown): InterruptRecord[] {
  const parsed = InterruptRecordSchema.safeParse(value);
  return parsed.success ? [parsed.data] : [];
}
