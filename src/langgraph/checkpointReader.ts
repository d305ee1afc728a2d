import {
  TASKS,
  compareWritesSortKeys,
  maxChannelVersion,
  writesSortKey,
  type Checkpoint,
  type CheckpointMetadata,
  type CheckpointPendingWrite,
  type CheckpointTuple,
  type SerializerProtocol,
} from '@langchain/langgraph-checkpoint';
import type { KV } from '@nats-io/kv';
import type { LangGraphKeys } from '../nats/subjects.js';
import {
  BlobEntrySchema,
  CheckpointEntrySchema,
  WritesEntrySchema,
  decodeFrame,
  type CheckpointEntry,
} from './entries.js';

/**
 * Reads of the checkpointer's bucket, turned back into LangGraph's checkpoint tuples: a
 * checkpoint entry, the channel values its versions name, and its pending writes.
 */
export class CheckpointReader {
  constructor(
    private readonly kv: KV,
    private readonly keys: LangGraphKeys,
    private readonly serde: SerializerProtocol,
    private readonly nextVersion: (current: number | undefined) => number,
  ) {}

  async readCheckpoint(threadId: string, ns: string, id: string) {
    const entry = await this.readEntry(this.keys.checkpoint(threadId, ns, id));
    const h = entry?.header;
    // Guards against the (SHA-256) chance that two long ids share a key.
    if (!h || h.thread_id !== threadId || h.checkpoint_ns !== ns || h.checkpoint_id !== id) {
      return undefined;
    }
    return entry;
  }

  async readEntry(key: string) {
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return undefined;
    return decodeFrame(CheckpointEntrySchema, e.value, key);
  }

  async matches(
    entry: { header: CheckpointEntry; parts: Uint8Array[] },
    filter: Record<string, unknown>,
  ): Promise<boolean> {
    const metadata = (await this.serde.loadsTyped(
      entry.header.metadataType,
      entry.parts[1] ?? new Uint8Array(),
    )) as Record<string, unknown>;
    return Object.entries(filter).every(([k, v]) => metadata[k] === v);
  }

  async toTuple(entry: { header: CheckpointEntry; parts: Uint8Array[] }): Promise<CheckpointTuple> {
    const h = entry.header;
    const [bare, metadata] = (await Promise.all([
      this.serde.loadsTyped(h.checkpointType, entry.parts[0] ?? new Uint8Array()),
      this.serde.loadsTyped(h.metadataType, entry.parts[1] ?? new Uint8Array()),
    ])) as [Omit<Checkpoint, 'channel_values'>, CheckpointMetadata];
    const checkpoint: Checkpoint = {
      ...bare,
      channel_versions: bare.channel_versions ?? {},
      versions_seen: bare.versions_seen ?? {},
      channel_values: await this.readValues(h.thread_id, h.checkpoint_ns, h.values),
    };
    const pendingWrites = await this.readWrites(h.thread_id, h.checkpoint_ns, h.checkpoint_id);
    if (checkpoint.v < 4 && h.parent_id !== null) {
      await this.migratePendingSends(checkpoint, h.thread_id, h.checkpoint_ns, h.parent_id);
    }
    const ids = { thread_id: h.thread_id, checkpoint_ns: h.checkpoint_ns };
    const tuple: CheckpointTuple = {
      config: { configurable: { ...ids, checkpoint_id: h.checkpoint_id } },
      checkpoint,
      metadata,
      pendingWrites,
    };
    if (h.parent_id !== null) {
      tuple.parentConfig = { configurable: { ...ids, checkpoint_id: h.parent_id } };
    }
    return tuple;
  }

  /** The channel values `where` points at (channel → the checkpoint that stored it). */
  async readValues(
    threadId: string,
    ns: string,
    where: Record<string, string>,
  ): Promise<Record<string, unknown>> {
    const values: Record<string, unknown> = {};
    await Promise.all(
      Object.entries(where).map(async ([channel, writer]) => {
        const key = this.keys.value(threadId, ns, writer, channel);
        const e = await this.kv.get(key);
        if (!e || e.operation !== 'PUT') return;
        const { header, parts } = decodeFrame(BlobEntrySchema, e.value, key);
        values[channel] = await this.serde.loadsTyped(header.type, parts[0] ?? new Uint8Array());
      }),
    );
    return values;
  }

  /** Pending writes in `writesSortKey` order (task path, task id, index), as LangGraph applies them. */
  async readWrites(threadId: string, ns: string, id: string): Promise<CheckpointPendingWrite[]> {
    const key = this.keys.writes(threadId, ns, id);
    const e = await this.kv.get(key);
    if (!e || e.operation !== 'PUT') return [];
    const { header, parts } = decodeFrame(WritesEntrySchema, e.value, key);
    const rows = header.writes.map((w, i) => ({ w, bytes: parts[i] ?? new Uint8Array() }));
    rows.sort((a, b) =>
      compareWritesSortKeys(
        writesSortKey(a.w.path, a.w.task, a.w.idx),
        writesSortKey(b.w.path, b.w.task, b.w.idx),
      ),
    );
    return Promise.all(
      rows.map(
        async ({ w, bytes }) =>
          [w.task, w.channel, await this.serde.loadsTyped(w.type, bytes)] as CheckpointPendingWrite,
      ),
    );
  }

  /** Checkpoints before format 4 kept pending sends as writes of their parent. */
  async migratePendingSends(
    checkpoint: Checkpoint,
    threadId: string,
    ns: string,
    parentId: string,
  ): Promise<void> {
    const sends = (await this.readWrites(threadId, ns, parentId))
      .filter(([, channel]) => channel === TASKS)
      .map(([, , value]) => value);
    checkpoint.channel_values[TASKS] = sends;
    const versions = Object.values(checkpoint.channel_versions);
    checkpoint.channel_versions[TASKS] =
      versions.length > 0 ? maxChannelVersion(...versions) : this.nextVersion(undefined);
  }
}
