import type { KV } from '@nats-io/kv';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { SnapshotEnvelope } from '../../src/base/schemas.js';
import { Subjects } from '../../src/nats/subjects.js';
import { DoneActorShrinker } from '../../src/stores/doneActorShrinker.js';
import { DEFLATE_DICT_1, decodeValue } from '../../src/stores/snapshotCodec.js';

const subjects = new Subjects('hitl');
const AFTER_MS = 1_000;

function finished(kind: string, wf: string, value = 'routed'): SnapshotEnvelope {
  return {
    format: 1,
    kind,
    workflowId: wf,
    version: 3,
    status: 'done',
    steps: 2,
    snapshot: { status: 'done', value, context: { request: 'refund please' }, children: {} },
    applied: ['ticket'],
    outboxes: [{ for: 'ticket', at: 0, step: 2, entries: [] }],
  };
}

/** A KV that records compare-and-set updates: `[key, decoded value, revision]`, and the bytes. */
function recordingKv(): { kv: KV; updates: [string, unknown, number][]; stored: Uint8Array[] } {
  const updates: [string, unknown, number][] = [];
  const stored: Uint8Array[] = [];
  const kv = {
    update: (key: string, value: Uint8Array, revision: number) => {
      updates.push([key, decodeValue(value, key), revision]);
      stored.push(value);
      return Promise.resolve(revision + 100);
    },
  } as unknown as KV;
  return { kv, updates, stored };
}

describe('DoneActorShrinker', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('shrinks, four ack waits later, the actors that finished before their workflow paused', async () => {
    const { kv, updates } = recordingKv();
    const shrinker = new DoneActorShrinker(kv, subjects, { afterMs: AFTER_MS });
    shrinker.written(finished('triage', 'wf-1'), 7);
    shrinker.written(finished('specialist', 'wf-1', 'handedOff'), 8);
    shrinker.asked('wf-1');
    await vi.advanceTimersByTimeAsync(AFTER_MS - 10);
    expect(updates).toEqual([]);
    await vi.advanceTimersByTimeAsync(20);
    expect(updates.map(([key, , rev]) => [key, rev])).toEqual([
      ['triage.wf-1', 7],
      ['specialist.wf-1', 8],
    ]);
    expect(updates[0]?.[1]).toEqual({
      format: 1,
      kind: 'triage',
      workflowId: 'wf-1',
      version: 3,
      status: 'done',
      steps: 2,
      snapshot: { status: 'done', value: 'routed' },
      applied: [],
      outboxes: [],
    });
    expect(shrinker.size).toBe(0);
  });

  it('writes tombstones compressed by default (format 2), plain JSON under format 1', async () => {
    const sizes: Record<number, number[]> = {};
    for (const format of [2, 1] as const) {
      const { kv, updates, stored } = recordingKv();
      const shrinker = new DoneActorShrinker(kv, subjects, {
        afterMs: AFTER_MS,
        ...(format === 1 ? { format } : {}),
      });
      shrinker.written(finished('triage', 'wf-1'), 7);
      shrinker.asked('wf-1');
      await vi.advanceTimersByTimeAsync(AFTER_MS + 10);
      expect(updates[0]?.[1]).toMatchObject({ kind: 'triage', status: 'done', outboxes: [] });
      expect(stored[0]?.[0]).toBe(format === 2 ? DEFLATE_DICT_1 : '{'.charCodeAt(0));
      sizes[format] = stored.map((v) => v.length);
    }
    // About 160 bytes of JSON, about 50 compressed.
    expect(sizes[2]?.[0]).toBeLessThan((sizes[1]?.[0] ?? 0) / 2);
  });

  it('leaves whole an actor its workflow did not pause after (its publish may have failed)', async () => {
    const { kv, updates } = recordingKv();
    const shrinker = new DoneActorShrinker(kv, subjects, { afterMs: AFTER_MS });
    shrinker.written(finished('triage', 'wf-2'), 7);
    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates).toEqual([]);
    // Finished after the pause was seen: not known to be published either.
    shrinker.written(finished('triage', 'wf-3'), 9);
    shrinker.asked('wf-3');
    shrinker.written(finished('specialist', 'wf-3'), 10);
    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates.map(([key]) => key)).toEqual(['triage.wf-3']);
  });

  it('forgets a workflow that completes or whose interrupt is resolved first', async () => {
    const { kv, updates } = recordingKv();
    const shrinker = new DoneActorShrinker(kv, subjects, { afterMs: AFTER_MS });
    shrinker.written(finished('triage', 'wf-4'), 7);
    shrinker.asked('wf-4');
    shrinker.resolved('wf-4');
    shrinker.written(finished('triage', 'wf-5'), 8);
    shrinker.asked('wf-5');
    shrinker.written(
      {
        ...finished('gate', 'wf-5', 'sent'),
        outboxes: [
          {
            for: 'r9',
            at: 0,
            entries: [{ op: 'event', type: 'completed', data: { outcome: 'sent' } }],
          },
        ],
      },
      9,
    );
    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates).toEqual([]);
    expect(shrinker.size).toBe(0);
  });

  it('remembers at most maxPending workflows (no more without askedAt), and nothing once stopped', async () => {
    const { kv, updates } = recordingKv();
    const shrinker = new DoneActorShrinker(kv, subjects, { afterMs: AFTER_MS, maxPending: 2 });
    for (const wf of ['a', 'b', 'c']) {
      shrinker.written(finished('triage', wf), 1);
      shrinker.asked(wf);
    }
    expect(shrinker.size).toBe(2);
    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates.map(([key]) => key)).toEqual(['triage.a', 'triage.b']);
    shrinker.stop();
    shrinker.written(finished('triage', 'd'), 1);
    shrinker.asked('d');
    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates).toHaveLength(2);
  });

  it('keeps the newest commit of an actor committed twice, and a state value of any shape', async () => {
    const { kv, updates } = recordingKv();
    const shrinker = new DoneActorShrinker(kv, subjects, { afterMs: AFTER_MS });
    const nested = { review: { legal: 'done', billing: 'done' } };
    shrinker.written({ ...finished('triage', 'wf-6'), snapshot: { value: nested } }, 7);
    shrinker.written(finished('specialist', 'wf-6'), 8);
    shrinker.asked('wf-6');
    // Committed again after the question: its effects are not known to be out yet.
    shrinker.written(finished('specialist', 'wf-6', 'again'), 11);
    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates.map(([key, value, rev]) => [key, value, rev])).toEqual([
      ['triage.wf-6', expect.objectContaining({ snapshot: { status: 'done', value: nested } }), 7],
    ]);
    shrinker.written(finished('triage', 'wf-7'), 3);
    shrinker.written(finished('triage', 'wf-7', 'retried'), 4);
    shrinker.asked('wf-7');
    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates.slice(1).map(([key, value, rev]) => [key, value, rev])).toEqual([
      [
        'triage.wf-7',
        expect.objectContaining({ snapshot: { status: 'done', value: 'retried' } }),
        4,
      ],
    ]);
  });

  it('past maxPending, reads the actors of a burst again when due and shrinks those it may', async () => {
    // A KV whose revisions are one stream's sequence, and whose updates are compare-and-set.
    const values = new Map<string, { value: Uint8Array; revision: number }>();
    let seq = 0;
    const kv = {
      get: (key: string) => {
        const v = values.get(key);
        return Promise.resolve(v ? { ...v, operation: 'PUT' } : null);
      },
      update: (key: string, value: Uint8Array, revision: number) => {
        if (values.get(key)?.revision !== revision) {
          return Promise.reject(new Error('wrong last sequence'));
        }
        values.set(key, { value, revision: ++seq });
        updates.push(key);
        return Promise.resolve(seq);
      },
    } as unknown as KV;
    const updates: string[] = [];
    const questions = new Map<string, { actor: string; interruptId: string }>();
    const shrinker = new DoneActorShrinker(kv, subjects, {
      afterMs: AFTER_MS,
      maxPending: 1,
      maxOverflow: 7,
      pendingQuestion: (wf) => Promise.resolve(questions.get(wf)),
    });
    const store = (envelope: SnapshotEnvelope): number => {
      const key = subjects.snapshotKey(envelope.kind, envelope.workflowId);
      values.set(key, {
        value: new TextEncoder().encode(JSON.stringify(envelope)),
        revision: ++seq,
      });
      return seq;
    };
    const commit = (envelope: SnapshotEnvelope) => shrinker.written(envelope, store(envelope));
    const step = (kind: string, wf: string): SnapshotEnvelope => ({
      ...finished(kind, wf),
      outboxes: [{ for: 'm', at: 0, step: 2, entries: [] }],
    });
    /** The gate's commit that asks `gate-1` (or, with `asks: false`, a later step of it). */
    const ask = (wf: string, asks = true) => {
      const record = {
        workflowId: wf,
        interruptId: 'gate-1',
        actor: 'gate',
        type: 'approval',
        question: 'Send it?',
        createdAt: new Date(0).toISOString(),
        options: ['yes', 'no'],
      };
      store({
        ...finished('gate', wf),
        status: 'active',
        outboxes: [
          {
            for: 'm2',
            at: 0,
            entries: asks
              ? [{ op: 'interrupt', record }]
              : [{ op: 'event', type: 'response_rejected', data: { reason: 'late' } }],
          },
        ],
      });
      questions.set(wf, { actor: 'gate', interruptId: 'gate-1' });
    };
    commit(step('triage', 'held'));
    shrinker.asked('held');
    // Past maxPending: kept as ids.
    commit(step('triage', 'paused'));
    commit(step('specialist', 'paused'));
    ask('paused');
    commit(step('triage', 'completed')); // no question pending when due
    ask('early');
    commit(step('triage', 'early')); // finished after the question: not known to be out
    commit(step('triage', 'recommitted'));
    // Committed again, before its question (a retried step): the newer commit may still be
    // redelivered, and this worker was not told of it.
    store(step('triage', 'recommitted'));
    ask('recommitted');
    commit(step('triage', 'active'));
    ask('active');
    commit(step('triage', 'moved'));
    ask('moved', false); // the asking actor's last step is not the one that asked
    expect(shrinker.overflowSize).toBe(7);
    commit(step('triage', 'dropped')); // past maxOverflow
    ask('dropped');
    expect(shrinker.overflowSize).toBe(7);
    // Read back, not finished (an earlier release's or a damaged value at the same revision).
    const active = values.get('triage.active');
    values.set('triage.active', {
      value: new TextEncoder().encode(
        JSON.stringify({ ...step('triage', 'active'), status: 'active' }),
      ),
      revision: active?.revision ?? 0,
    });

    await vi.advanceTimersByTimeAsync(AFTER_MS * 2);
    expect(updates.sort()).toEqual(['specialist.paused', 'triage.held', 'triage.paused']);
    const tomb = values.get('triage.paused')?.value as Uint8Array;
    expect(tomb[0]).toBe(DEFLATE_DICT_1);
    expect(decodeValue(tomb, 'triage.paused')).toMatchObject({ status: 'done', outboxes: [] });
    expect(shrinker.overflowSize).toBe(0);
    expect(shrinker.shrunk).toBe(3);
  });
});
