import { emptyCheckpoint, uuid6, type Checkpoint } from '@langchain/langgraph-checkpoint';
import { describe, expect, it } from 'vitest';
import { CheckpointTooLargeError, JetStreamSaver } from '../../src/langgraph/index.js';
import { kvKeys } from '../../src/nats/streamReads.js';
import { serverPerFile, uniquePrefix } from '../helpers/harness.js';
import { jetstreamManager } from '@nats-io/jetstream';

const shared = serverPerFile();

async function saver(): Promise<JetStreamSaver> {
  return JetStreamSaver.create({ nc: shared.nc, prefix: uniquePrefix('lgs') });
}

function checkpoint(values: Record<string, unknown>): Checkpoint {
  const c = emptyCheckpoint();
  c.id = uuid6(-1);
  c.channel_values = values;
  c.channel_versions = Object.fromEntries(Object.keys(values).map((k) => [k, 1]));
  return c;
}

const meta = { source: 'loop' as const, step: 0, parents: {} };

async function all<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('JetStreamSaver with input KV keys do not allow', () => {
  it.each([
    ['spaces, dots and wildcards', 'ticket 42.a.*.>', 'parent:1f0|child:2b.*'],
    ['unicode', 'fil-de-discussion-ü-🙂', 'sous-graphe/é'],
    ['an empty-looking namespace marker', '=', '='],
    ['ids too long for a key token', 't'.repeat(40) + ' '.repeat(400), 'n:'.repeat(300)],
  ])('round-trips thread ids and namespaces with %s', async (_label, thread_id, checkpoint_ns) => {
    const s = await saver();
    try {
      const c = checkpoint({ answer: 'yes', odd: { 'key.with dots': [1, 2] } });
      const config = await s.put({ configurable: { thread_id, checkpoint_ns } }, c, meta, {
        answer: 1,
        odd: 1,
      });
      expect(config.configurable).toEqual({ thread_id, checkpoint_ns, checkpoint_id: c.id });
      await s.putWrites(config, [['answer', 'no']], 'task with spaces.and.dots', 'path:1');

      const latest = await s.getTuple({ configurable: { thread_id, checkpoint_ns } });
      expect(latest?.config.configurable).toEqual(config.configurable);
      expect(latest?.checkpoint).toEqual(c);
      expect(latest?.pendingWrites).toEqual([['task with spaces.and.dots', 'answer', 'no']]);

      const listed = await all(s.list({ configurable: { thread_id } }));
      expect(listed.map((t) => t.config.configurable)).toEqual([config.configurable]);
      const everyThread = await all(s.list({}));
      expect(everyThread.map((t) => t.config.configurable?.thread_id)).toEqual([thread_id]);

      await s.deleteThread(thread_id);
      expect(await s.getTuple({ configurable: { thread_id, checkpoint_ns } })).toBeUndefined();
    } finally {
      await s.destroy();
    }
  });

  it('keeps threads whose ids share a prefix apart when one is deleted, leaving nothing of it', async () => {
    const prefix = uniquePrefix('lgs');
    const s = await JetStreamSaver.create({ nc: shared.nc, prefix });
    const jsm = await jetstreamManager(shared.nc);
    const stored = async () => (await jsm.streams.info(`KV_${prefix}_langgraph`)).state.messages;
    try {
      for (const thread_id of ['a.b', 'a b']) {
        await s.put({ configurable: { thread_id } }, checkpoint({}), meta, {});
      }
      const others = await stored();
      await s.put({ configurable: { thread_id: 'a' } }, checkpoint({}), meta, {});
      expect(await stored()).toBeGreaterThan(others);
      await s.deleteThread('a');
      // Each key removed with its purge marker: the stream holds the other threads only.
      expect(await stored()).toBe(others);
      expect(await s.getTuple({ configurable: { thread_id: 'a' } })).toBeUndefined();
      expect(await s.getTuple({ configurable: { thread_id: 'a.b' } })).toBeDefined();
      expect(await s.getTuple({ configurable: { thread_id: 'a b' } })).toBeDefined();
    } finally {
      await s.destroy();
    }
  });

  it('refuses a thread id with a lone surrogate, saying why', async () => {
    const s = await saver();
    try {
      await expect(
        s.put({ configurable: { thread_id: 'bad\ud800' } }, checkpoint({}), meta, {}),
      ).rejects.toThrow(/lone UTF-16 surrogate/);
    } finally {
      await s.destroy();
    }
  });
});

describe('JetStreamSaver with values over the max payload', () => {
  const big = 'x'.repeat(1_200_000); // the harness server keeps the default 1 MB max_payload

  it('fails an oversize checkpoint with a clear error and leaves the previous one intact', async () => {
    const s = await saver();
    try {
      const thread_id = 'big-1';
      const first = checkpoint({ draft: 'short' });
      const firstConfig = await s.put({ configurable: { thread_id } }, first, meta, { draft: 1 });
      const keysBefore = await kvKeys(await jetstreamManager(shared.nc), s.bucket);

      const second = checkpoint({ draft: big, note: 'small' });
      const attempt = s.put(firstConfig, second, { ...meta, step: 1 }, { draft: 2, note: 1 });
      await expect(attempt).rejects.toBeInstanceOf(CheckpointTooLargeError);
      await expect(attempt).rejects.toThrow(/channel 'draft' takes \d+ bytes, more than the \d+/);

      const latest = await s.getTuple({ configurable: { thread_id } });
      expect(latest?.checkpoint).toEqual(first);
      expect(
        (await all(s.list({ configurable: { thread_id } }))).map((t) => t.checkpoint.id),
      ).toEqual([first.id]);
      // Not even the small value of the refused checkpoint was written.
      expect(await kvKeys(await jetstreamManager(shared.nc), s.bucket)).toEqual(keysBefore);
    } finally {
      await s.destroy();
    }
  });

  it('fails oversize pending writes and keeps the writes stored before', async () => {
    const s = await saver();
    try {
      const config = await s.put(
        { configurable: { thread_id: 'big-2' } },
        checkpoint({}),
        meta,
        {},
      );
      await s.putWrites(config, [['draft', 'ok']], 'task-1');
      await expect(s.putWrites(config, [['draft', big]], 'task-2')).rejects.toBeInstanceOf(
        CheckpointTooLargeError,
      );
      expect((await s.getTuple(config))?.pendingWrites).toEqual([['task-1', 'draft', 'ok']]);
    } finally {
      await s.destroy();
    }
  });
});

describe('JetStreamSaver with writers that meet', () => {
  it('keeps every pending write when tasks of one step write at once from two savers', async () => {
    const prefix = uniquePrefix('lgw');
    const a = await JetStreamSaver.create({ nc: shared.nc, prefix });
    const b = await JetStreamSaver.create({ nc: shared.nc, prefix });
    try {
      const config = await a.put(
        { configurable: { thread_id: 'fan-out' } },
        checkpoint({}),
        meta,
        {},
      );
      await Promise.all(
        Array.from({ length: 24 }, (_, i) =>
          (i % 2 ? a : b).putWrites(config, [['results', i]], `task-${String(i).padStart(2, '0')}`),
        ),
      );
      const writes = (await b.getTuple(config))?.pendingWrites ?? [];
      expect(writes.map(([task]) => task)).toEqual(
        Array.from({ length: 24 }, (_, i) => `task-${String(i).padStart(2, '0')}`),
      );
    } finally {
      await a.destroy();
    }
  });

  it('keeps the first regular write of a task and replaces its special writes', async () => {
    const s = await saver();
    try {
      const config = await s.put(
        { configurable: { thread_id: 'rerun' } },
        checkpoint({}),
        meta,
        {},
      );
      await s.putWrites(
        config,
        [
          ['draft', 'first'],
          ['__error__', 'boom 1'],
        ],
        'task-1',
      );
      await s.putWrites(
        config,
        [
          ['draft', 'second'],
          ['__error__', 'boom 2'],
        ],
        'task-1',
      );
      expect((await s.getTuple(config))?.pendingWrites).toEqual([
        ['task-1', '__error__', 'boom 2'],
        ['task-1', 'draft', 'first'],
      ]);
    } finally {
      await s.destroy();
    }
  });

  it('moves the head on from one another saver moved, and never back', async () => {
    const prefix = uniquePrefix('lgh');
    const a = await JetStreamSaver.create({ nc: shared.nc, prefix });
    const b = await JetStreamSaver.create({ nc: shared.nc, prefix });
    try {
      const [c1, c2, c3, c4] = Array.from({ length: 4 }, () => checkpoint({}));
      const config = { configurable: { thread_id: 'two-savers' } };
      const latest = async () => (await b.getTuple(config))?.checkpoint.id;
      await a.put(config, c1 as Checkpoint, meta, {});
      await b.put(config, c2 as Checkpoint, meta, {});
      // a last saw the head at c1: its compare-and-set fails, it reads the head and goes on.
      await a.put(config, c4 as Checkpoint, meta, {});
      expect(await latest()).toBe(c4?.id);
      await b.put(config, c3 as Checkpoint, meta, {});
      expect(await latest()).toBe(c4?.id);
    } finally {
      await a.destroy();
    }
  });

  it('points the thread at its newest checkpoint whatever order concurrent puts land in', async () => {
    const s = await saver();
    try {
      const ids = Array.from({ length: 12 }, () => checkpoint({}));
      await Promise.all(
        [...ids].reverse().map((c) => s.put({ configurable: { thread_id: 'race' } }, c, meta, {})),
      );
      const latest = await s.getTuple({ configurable: { thread_id: 'race' } });
      expect(latest?.checkpoint.id).toBe(ids[ids.length - 1]?.id);
    } finally {
      await s.destroy();
    }
  });
});
