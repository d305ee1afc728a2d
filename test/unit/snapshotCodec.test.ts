import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { NewerSnapshotError } from '../../src/base/errors.js';
import { SnapshotEnvelopeSchema, type SnapshotEnvelope } from '../../src/base/schemas.js';
import {
  COMPRESS_ABOVE_BYTES,
  DEFLATE_DICT_1,
  DICTIONARY_1,
  decodeValue,
  encodeEnvelope,
  encodeTombstone,
  isCompressed,
} from '../../src/stores/snapshotCodec.js';
import { tombstoneOf } from '../../src/stores/doneActorShrinker.js';

const draft =
  'Hello, thank you for reaching out about your refund. We have reviewed your request and will return the payment to your original method within 5 business days.';
const record = {
  workflowId: 'wf-1',
  interruptId: 'gate-1',
  actor: 'gate',
  type: 'approval',
  question: 'Send this refund reply to the customer?',
  createdAt: '2026-11-30T09:11:28.028Z',
  options: ['yes', 'no'],
  draft,
  category: 'refund',
};
/** A gate paused at its approval, as the landed version stores it (format 1, plain JSON). */
const paused: SnapshotEnvelope = SnapshotEnvelopeSchema.parse({
  format: 1,
  kind: 'gate',
  workflowId: 'wf-1',
  version: 1,
  status: 'active',
  steps: 1,
  snapshot: {
    status: 'active',
    value: 'awaitingApproval',
    historyValue: {},
    context: { category: 'refund', draft, request: 'refund please', workflowId: 'wf-1' },
    children: {},
  },
  applied: ['specialist.1.1'],
  appliedAt: [1796029888028],
  outboxes: [
    {
      for: 'specialist.1.1',
      source: { local: true },
      at: 1796029888028,
      step: 1,
      trace: { traceparent: '00-dbbdd43e31312688cae1a77ceaa6b101-adf348705c14b75b-01' },
      entries: [{ op: 'interrupt', record }],
    },
  ],
  trace: { traceparent: '00-dbbdd43e31312688cae1a77ceaa6b101-adf348705c14b75b-01' },
  interrupt: record,
});

const json = (env: SnapshotEnvelope) => new TextEncoder().encode(JSON.stringify(env));

describe('snapshot values', () => {
  it('reads the plain JSON that the landed version and format 1 write', () => {
    const stored = json(paused);
    expect(encodeEnvelope(paused, 1)).toEqual(stored);
    expect(isCompressed(stored)).toBe(false);
    expect(SnapshotEnvelopeSchema.parse(decodeValue(stored, 'gate.wf-1'))).toEqual(paused);
  });

  it('compresses a waiting actor under format 2 to under a quarter, and reads it back', () => {
    const stored = encodeEnvelope(paused, 2);
    expect(stored[0]).toBe(DEFLATE_DICT_1);
    expect(isCompressed(stored)).toBe(true);
    expect(stored.length).toBeLessThan(json(paused).length / 4);
    expect(decodeValue(stored, 'gate.wf-1')).toEqual(paused);
  });

  it('keeps small, finished and parked actors in plain JSON under format 2', () => {
    const done = { ...paused, status: 'done' as const };
    const parked = { ...paused, parked: { step: 'gate', reason: 'model down', at: 'now' } };
    const small = tombstoneOf(paused);
    expect(json(small).length).toBeLessThanOrEqual(COMPRESS_ABOVE_BYTES);
    for (const env of [done, parked, { ...small, status: 'active' as const }]) {
      expect(encodeEnvelope(env, 2)).toEqual(json(env));
    }
  });

  it('leaves a value of an encoding it does not know for a later release', () => {
    const later = new Uint8Array([0x02, 1, 2, 3]);
    expect(() => decodeValue(later, 'gate.wf-1')).toThrow(NewerSnapshotError);
    expect(() => decodeValue(later, 'gate.wf-1')).toThrow(
      "snapshot 'gate.wf-1' is stored with encoding mark 0x02",
    );
  });

  it('keeps the dictionary that stored values need to be read', () => {
    // Changing it makes every value compressed with mark 0x01 unreadable: add a new mark instead.
    expect(createHash('sha256').update(DICTIONARY_1).digest('hex').slice(0, 16)).toBe(
      'b5b9dd180a9ae57f',
    );
  });
});

describe('tombstoneOf', () => {
  it('keeps what says the actor finished, and drops its outboxes, applied ids and context', () => {
    const done = {
      ...paused,
      status: 'done' as const,
      snapshot: { status: 'done', value: 'sent' },
    };
    const tomb = tombstoneOf(done);
    expect(SnapshotEnvelopeSchema.parse(tomb)).toEqual({
      format: 1,
      kind: 'gate',
      workflowId: 'wf-1',
      version: 1,
      status: 'done',
      steps: 1,
      snapshot: { status: 'done', value: 'sent' },
      applied: [],
      outboxes: [],
    });
  });

  it('is compressed under format 2 whatever its size, and plain JSON under format 1', () => {
    const tomb = tombstoneOf({ ...paused, status: 'done', snapshot: { status: 'done' } });
    expect(encodeTombstone(tomb, 1)).toEqual(json(tomb));
    const stored = encodeTombstone(tomb, 2);
    expect(stored[0]).toBe(DEFLATE_DICT_1);
    expect(stored.length).toBeLessThan(json(tomb).length / 2);
    expect(decodeValue(stored, 'gate.wf-1')).toEqual(tomb);
  });
});
