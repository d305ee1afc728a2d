import {
  BaseCheckpointSaver,
  WRITES_IDX_MAP,
  copyCheckpoint,
  type ChannelVersions,
  type Checkpoint,
  type CheckpointListOptions,
  type CheckpointMetadata,
  type CheckpointTuple,
  type PendingWrite,
  type SerializerProtocol,
} from '@langchain/langgraph-checkpoint';
import type { RunnableConfig } from '@langchain/core/runnables';
import {
  StorageType,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
} from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { CheckpointTooLargeError, RevisionConflictError } from '../base/errors.js';
import { kvKeys, mapLimit } from '../nats/streamReads.js';
import { removeKeyAt } from '../stores/keyRemoval.js';
import { LangGraphKeys, Subjects, keyTokenValue } from '../nats/subjects.js';
import { CheckpointReader } from './checkpointReader.js';
import { KeyedTurns } from './keyedTurns.js';
import {
  HeadEntrySchema,
  WritesEntrySchema,
  decodeFrame,
  encodeFrame,
  type StoredWrite,
} from './entries.js';
import { isWrongLastSequence } from '../nats/retry.js';

/** Options of {@link JetStreamSaver.create}. */
export interface JetStreamSaverOptions {
  /** A connection to a JetStream-enabled server; the saver does not close it. */
  nc: NatsConnection;
  /** The runtime's subject prefix (`HITL_PREFIX`): the bucket is `<prefix>_langgraph`. */
  prefix?: string;
  /** Replicas of the bucket's stream (3 on a cluster). */
  replicas?: number;
  /** LangGraph's serializer; its default when omitted. */
  serde?: SerializerProtocol;
}

// Room left in a message for the KV subject's headers (the CAS header among them).
const HEADER_ROOM = 512;
// Gets in flight while a list reads checkpoints, newest first.
const LIST_BATCH = 16;
const CAS_ATTEMPTS = 50;
const RECENT_ENTRIES = 10_000;

function requireThread(config: RunnableConfig, what: string): string {
  const thread = config.configurable?.thread_id as unknown;
  if (typeof thread === 'string' && thread !== '') return thread;
  if (typeof thread === 'number') return String(thread);
  throw new Error(
    `cannot ${what}: config.configurable.thread_id is missing (pass { configurable: { thread_id } })`,
  );
}

/**
 * A LangGraph.js checkpointer whose checkpoints, channel values and pending writes live in one
 * JetStream KV bucket, `<prefix>_langgraph`: a graph that calls `interrupt()` pauses in NATS and
 * resumes in any process. Each channel value, the pending writes of a checkpoint and the
 * checkpoint itself must each fit in one NATS message (the server's `max_payload`, 1 MB by
 * default): a larger one throws {@link CheckpointTooLargeError} before anything is written.
 *
 * @example
 * const saver = await JetStreamSaver.create({ nc, prefix: 'hitl' });
 * const app = graph.compile({ checkpointer: saver });
 * await app.invoke(input, { configurable: { thread_id: 'ticket-42' } });
 */
export class JetStreamSaver extends BaseCheckpointSaver {
  /** The KV bucket it keeps everything in. */
  readonly bucket: string;
  private readonly reader: CheckpointReader;
  // Checkpoint key -> which checkpoint stored each of its channel values (see valuesOf).
  private readonly recent = new Map<string, Record<string, string>>();
  private readonly turns = new KeyedTurns();
  // Head key -> the head this saver last wrote or read, with its revision (see advanceHead).
  private readonly heads = new Map<string, { id: string; revision: number }>();

  private constructor(
    private readonly kv: KV,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly keys: LangGraphKeys,
    private readonly maxValueBytes: number,
    serde?: SerializerProtocol,
  ) {
    super(serde);
    this.bucket = keys.bucket;
    this.reader = new CheckpointReader(kv, keys, this.serde, (v) => this.getNextVersion(v));
  }

  /** Creates the bucket when missing (same settings every time) and returns a saver on it. */
  static async create(options: JetStreamSaverOptions): Promise<JetStreamSaver> {
    const keys = new LangGraphKeys(new Subjects(options.prefix ?? 'hitl'));
    const kv = await new Kvm(options.nc).create(keys.bucket, {
      storage: StorageType.File,
      history: 1,
      replicas: options.replicas ?? 1,
    });
    const jsm = await jetstreamManager(options.nc);
    const maxPayload = options.nc.info?.max_payload ?? 1024 * 1024;
    return new JetStreamSaver(
      kv,
      jetstream(options.nc),
      jsm,
      keys,
      maxPayload - HEADER_ROOM,
      options.serde,
    );
  }

  /** Deletes the bucket and everything in it (tests, teardown). */
  async destroy(): Promise<void> {
    await this.kv.destroy();
  }

  async getTuple(config: RunnableConfig): Promise<CheckpointTuple | undefined> {
    const thread = config.configurable?.thread_id as unknown;
    if (typeof thread !== 'string' && typeof thread !== 'number') return undefined;
    const threadId = String(thread);
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? '';
    let id = config.configurable?.checkpoint_id as string | undefined;
    if (!id) {
      const head = await this.kv.get(this.keys.head(threadId, ns));
      if (!head || head.operation !== 'PUT') return undefined;
      id = decodeFrame(HeadEntrySchema, head.value, head.key).header.checkpoint_id;
      this.rememberHead(head.key, { id, revision: head.revision });
    }
    const entry = await this.reader.readCheckpoint(threadId, ns, id);
    if (!entry) return undefined;
    this.remember(this.keys.checkpoint(threadId, ns, id), entry.header.values);
    return this.reader.toTuple(entry);
  }

  async *list(
    config: RunnableConfig,
    options: CheckpointListOptions = {},
  ): AsyncGenerator<CheckpointTuple> {
    const { before, filter } = options;
    let limit = options.limit;
    const thread = config.configurable?.thread_id as unknown;
    const threadId =
      typeof thread === 'string' || typeof thread === 'number' ? String(thread) : undefined;
    const ns = config.configurable?.checkpoint_ns as string | undefined;
    const onlyId = config.configurable?.checkpoint_id as string | undefined;
    const beforeId = before?.configurable?.checkpoint_id as string | undefined;
    // Keys only (one stream info request), newest first by checkpoint id; values read lazily.
    const keys = await kvKeys(this.jsm, this.bucket, this.keys.checkpoints(threadId, ns));
    const found = await this.idsOf(keys);
    found.sort((a, b) => (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const wanted = found.filter(
      (f) => (!onlyId || f.id === onlyId) && (!beforeId || f.id < beforeId),
    );
    for (let i = 0; i < wanted.length; i += LIST_BATCH) {
      const batch = wanted.slice(i, i + LIST_BATCH);
      const entries = await Promise.all(batch.map((f) => this.reader.readEntry(f.key)));
      for (const entry of entries) {
        if (!entry) continue;
        if (filter && !(await this.reader.matches(entry, filter))) continue;
        if (limit !== undefined && limit <= 0) return;
        yield await this.reader.toTuple(entry);
        if (limit !== undefined && --limit <= 0) return;
      }
    }
  }

  async put(
    config: RunnableConfig,
    checkpoint: Checkpoint,
    metadata: CheckpointMetadata,
    newVersions: ChannelVersions,
  ): Promise<RunnableConfig> {
    if (config.configurable === undefined) {
      throw new Error('cannot put a checkpoint: config.configurable is missing');
    }
    const threadId = requireThread(config, 'put a checkpoint');
    const ns = (config.configurable.checkpoint_ns as string | undefined) ?? '';
    const parentId = (config.configurable.checkpoint_id as string | undefined) ?? null;
    const what = `checkpoint '${checkpoint.id}' of thread '${threadId}'`;

    // Serialize and measure everything before the first write: a value too large leaves the
    // thread exactly as it was. A channel not in `newVersions` keeps the value an ancestor
    // stored, which the parent's entry names.
    const inherited = parentId === null ? {} : await this.valuesOf(threadId, ns, parentId);
    const where: Record<string, string> = {};
    for (const channel of Object.keys(checkpoint.channel_versions)) {
      const writer = inherited[channel];
      if (writer !== undefined) where[channel] = writer;
    }
    const stored = await Promise.all(
      Object.keys(newVersions).map(async (channel) => {
        if (!Object.prototype.hasOwnProperty.call(checkpoint.channel_values, channel)) {
          delete where[channel];
          return undefined;
        }
        where[channel] = checkpoint.id;
        const [type, bytes] = await this.serde.dumpsTyped(checkpoint.channel_values[channel]);
        const value = encodeFrame({ k: 'b', type }, [bytes]);
        this.checkSize(value, `${what}: channel '${channel}'`);
        return { key: this.keys.value(threadId, ns, checkpoint.id, channel), value };
      }),
    );
    const bare: Partial<Checkpoint> = copyCheckpoint(checkpoint);
    delete bare.channel_values;
    const [[checkpointType, checkpointBytes], [metadataType, metadataBytes]] = await Promise.all([
      this.serde.dumpsTyped(bare),
      this.serde.dumpsTyped(metadata),
    ]);
    const header = {
      k: 'c',
      thread_id: threadId,
      checkpoint_ns: ns,
      checkpoint_id: checkpoint.id,
      parent_id: parentId,
      values: where,
      checkpointType,
      metadataType,
    };
    const record = encodeFrame(header, [checkpointBytes, metadataBytes]);
    this.checkSize(record, `${what}: its versions and metadata`);

    await Promise.all(stored.map((b) => (b ? this.kv.put(b.key, b.value) : Promise.resolve(0))));
    await this.kv.put(this.keys.checkpoint(threadId, ns, checkpoint.id), record);
    this.remember(this.keys.checkpoint(threadId, ns, checkpoint.id), where);
    await this.advanceHead(threadId, ns, checkpoint.id);
    return {
      configurable: { thread_id: threadId, checkpoint_ns: ns, checkpoint_id: checkpoint.id },
    };
  }

  async putWrites(
    config: RunnableConfig,
    writes: PendingWrite[],
    taskId: string,
    taskPath = '',
  ): Promise<void> {
    const threadId = requireThread(config, 'put writes');
    const ns = (config.configurable?.checkpoint_ns as string | undefined) ?? '';
    const id = config.configurable?.checkpoint_id as string | undefined;
    if (!id) {
      throw new Error('cannot put writes: config.configurable.checkpoint_id is missing');
    }
    const incoming = await Promise.all(
      writes.map(async ([channel, value], i) => {
        const [type, bytes] = await this.serde.dumpsTyped(value);
        const idx = WRITES_IDX_MAP[channel] ?? i;
        return { write: { task: taskId, channel, idx, path: taskPath, type }, bytes };
      }),
    );
    const key = this.keys.writes(threadId, ns, id);
    // Parallel tasks of one step write to the same entry: this saver's writers take turns, and
    // writers in other processes meet under compare-and-set.
    await this.turns.run(key, () => this.mergeWrites(key, id, threadId, taskId, incoming));
  }

  private async mergeWrites(
    key: string,
    id: string,
    threadId: string,
    taskId: string,
    incoming: { write: StoredWrite; bytes: Uint8Array }[],
  ): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const current = await this.kv.get(key);
      const live = current && current.operation === 'PUT' ? current : undefined;
      const stored = live
        ? decodeFrame(WritesEntrySchema, live.value, key)
        : { header: { writes: [] as StoredWrite[] }, parts: [] as Uint8Array[] };
      const rows = stored.header.writes.map((write, i) => ({
        write,
        bytes: stored.parts[i] ?? new Uint8Array(),
      }));
      for (const add of incoming) {
        const at = rows.findIndex((r) => r.write.task === taskId && r.write.idx === add.write.idx);
        // A regular write is kept as first written (a task re-run writes the same); a special
        // one (error, interrupt, resume: negative index) is replaced.
        if (at < 0) rows.push(add);
        else if (add.write.idx < 0) rows[at] = add;
      }
      const value = encodeFrame(
        { k: 'w', writes: rows.map((r) => r.write) },
        rows.map((r) => r.bytes),
      );
      this.checkSize(value, `pending writes of checkpoint '${id}' of thread '${threadId}'`);
      try {
        if (live) await this.kv.update(key, value, live.revision);
        else await this.kv.create(key, value);
        return;
      } catch (err) {
        if (!isWrongLastSequence(err) || attempt >= CAS_ATTEMPTS) throw this.conflict(err, key);
        // Jittered, growing pauses, so that writers in other processes do not collide in step.
        await sleep(Math.random() * Math.min(100, 2 ** attempt));
      }
    }
  }

  async deleteThread(threadId: string): Promise<void> {
    // Each key of the thread (its checkpoints, heads, values and writes) is removed on its own:
    // a KV purge, then its marker deleted by sequence. Not one stream purge filtered on the
    // thread's subjects: nats-server before 2.9.18 replays such a purge, on a clustered node
    // that restarts, as a purge of the whole stream (nats-io/nats-server#4196), which would take
    // every other thread's checkpoints with it on that node.
    this.recent.clear();
    this.heads.clear();
    const keys = await kvKeys(this.jsm, this.bucket, this.keys.thread(String(threadId)));
    await mapLimit(keys, 32, (key) => removeKeyAt(this.js, this.jsm, this.bucket, key, undefined));
  }

  /**
   * Which checkpoint stored each channel value of checkpoint `id`: from the entries this saver
   * wrote or read last (a put's parent is nearly always the checkpoint just read or written),
   * else from the bucket. A checkpoint's entry never changes once written.
   */
  private async valuesOf(
    threadId: string,
    ns: string,
    id: string,
  ): Promise<Record<string, string>> {
    const key = this.keys.checkpoint(threadId, ns, id);
    const known = this.recent.get(key);
    if (known) return known;
    const entry = await this.reader.readCheckpoint(threadId, ns, id);
    return entry?.header.values ?? {};
  }

  private remember(key: string, values: Record<string, string>): void {
    this.recent.delete(key);
    this.recent.set(key, values);
    if (this.recent.size > RECENT_ENTRIES) {
      const oldest = this.recent.keys().next();
      if (!oldest.done) this.recent.delete(oldest.value);
    }
  }

  /** Moves the head to `id` unless it already names a newer checkpoint. */
  private async advanceHead(threadId: string, ns: string, id: string): Promise<void> {
    const key = this.keys.head(threadId, ns);
    const value = encodeFrame({ k: 'h', checkpoint_id: id }, []);
    // The head this saver last saw is tried first, which saves a read per put while one
    // process drives the thread; a stale one fails the compare-and-set and is read afresh.
    let known: { id: string | undefined; revision: number } | undefined = this.heads.get(key);
    for (let attempt = 1; ; attempt++) {
      if (!known) {
        const current = await this.kv.get(key);
        known =
          current && current.operation === 'PUT'
            ? {
                id: decodeFrame(HeadEntrySchema, current.value, key).header.checkpoint_id,
                revision: current.revision,
              }
            : { id: undefined, revision: 0 };
      }
      if (known.id !== undefined && known.id >= id) return;
      try {
        const revision =
          known.revision > 0
            ? await this.kv.update(key, value, known.revision)
            : await this.kv.create(key, value);
        this.rememberHead(key, { id, revision });
        return;
      } catch (err) {
        if (!isWrongLastSequence(err) || attempt >= CAS_ATTEMPTS) throw this.conflict(err, key);
        known = undefined;
        await sleep(Math.random() * Math.min(100, 2 ** attempt));
      }
    }
  }

  private rememberHead(key: string, head: { id: string; revision: number }): void {
    if (this.heads.size >= RECENT_ENTRIES) this.heads.clear();
    this.heads.set(key, head);
  }

  private conflict(err: unknown, key: string): unknown {
    if (!isWrongLastSequence(err)) return err;
    return new RevisionConflictError(
      `checkpointer entry '${key}' kept changing under ${CAS_ATTEMPTS} attempts`,
      { cause: err },
    );
  }

  private checkSize(value: Uint8Array, what: string): void {
    if (value.length <= this.maxValueBytes) return;
    throw new CheckpointTooLargeError(
      `${what} takes ${value.length} bytes, more than the ${this.maxValueBytes} one NATS message carries here (raise max_payload in the server's configuration, or keep large data out of graph state)`,
      { bytes: value.length, limit: this.maxValueBytes },
    );
  }

  /** Checkpoint ids of listed keys (a hashed id token is read back from its entry). */
  private async idsOf(keys: string[]): Promise<{ key: string; id: string }[]> {
    const out = await mapLimit(keys, LIST_BATCH, async (key) => {
      const token = key.slice(key.lastIndexOf('.') + 1);
      const id = keyTokenValue(token) ?? (await this.reader.readEntry(key))?.header.checkpoint_id;
      return id === undefined ? undefined : { key, id };
    });
    return out.filter((f): f is { key: string; id: string } => f !== undefined);
  }
}
