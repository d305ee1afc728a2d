import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { NewerSnapshotError } from '../base/errors.js';
import type { SnapshotEnvelope } from '../base/schemas.js';

/**
 * How a snapshot value is written to KV: `1` is plain JSON, which every release reads; `2` (the
 * default) also compresses the large values of actors that wait and the tombstones of finished
 * ones, which only releases that know `HITL_STORAGE_FORMAT` read (see docs/upgrading.md).
 */
export type StorageFormat = 1 | 2;

/**
 * The first byte of a compressed value: deflate-raw with {@link DICTIONARY_1}. A JSON value
 * starts with `{`, so the two never meet; any other first byte is a format of a later release.
 */
export const DEFLATE_DICT_1 = 0x01;
const JSON_OBJECT = 0x7b; // '{'

/** Values of waiting actors above this many bytes of JSON are compressed under format 2. */
export const COMPRESS_ABOVE_BYTES = 400;

/**
 * The preset dictionary of mark {@link DEFLATE_DICT_1}: the envelope's keys and the support
 * workflow's common strings, so that a value of 1.6 KB deflates to about 330 bytes instead of
 * 560. Stored values need it to be read: never change it; a new dictionary takes a new mark.
 */
export const DICTIONARY_1 = Buffer.from(
  '"format":1,"kind":"","workflowId":"","version":1,"status":"done","failed","steps":1,' +
    '"historyValue":{},"children":{}},"context":{"request":"","category":"billing",' +
    '"technical","confidence":0.9,"by":"model","human","rationale":"matched a keyword",' +
    '"draft":"Hello, thank you for reaching out about your refund. We have reviewed your ' +
    'request and will ","reviewers":[""],"parked":{"step":"","reason":"","message":' +
    '"applied":["ticket"],"appliedAt":[1796],"outboxes":[{"for":"","source":{"stream":"",' +
    '"seq":1},{"local":true},"at":1796,"step":1,"trace":{"traceparent":"00-","tracestate":""},' +
    '"entries":[{"op":"event","type":"received","data":{"request":""}},{"op":"send","to":' +
    '"specialist","data":{"type":"triaged","category":"refund","confidence":0.95,"by":"model",' +
    '"request":""}},{"op":"reply","data":{}},{"op":"interrupt","record":{"workflowId":"",' +
    '"interruptId":"gate-1","actor":"gate","type":"escalation","approval","question":' +
    '"Send this refund reply to the customer?","createdAt":"2026-11-30T00:00:00.000Z",' +
    '"expiresAt":"","options":["yes","no"],"draft":"","category":"refund"}}]}],' +
    '"snapshot":{"status":"active","value":"awaitingApproval","historyValue":{},"context":' +
    '{"category":"refund","draft":"","request":"I want a refund for my order","workflowId":"',
  'utf8',
);

// A 2 KB window and less memory than zlib's default: the values are small, and setting up the
// default state (256 KB) costs more CPU than compressing them.
const DEFLATE_OPTIONS = { dictionary: DICTIONARY_1, windowBits: 11, memLevel: 4 } as const;
const INFLATE_OPTIONS = { dictionary: DICTIONARY_1, windowBits: 11 } as const;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * The bytes stored for `envelope`. Format 2 compresses the value of an actor that waits
 * (`active`, not parked) when its JSON is above {@link COMPRESS_ABOVE_BYTES}: such a value may be
 * stored for weeks. A finished actor's value shrinks to a tombstone after a few ack waits (see
 * DoneActorShrinker), and a parked one stays JSON, which `hitl parked` reads without inflating.
 */
export function encodeEnvelope(envelope: SnapshotEnvelope, format: StorageFormat): Uint8Array {
  const json = encoder.encode(JSON.stringify(envelope));
  if (
    format < 2 ||
    json.length <= COMPRESS_ABOVE_BYTES ||
    envelope.status !== 'active' ||
    envelope.parked !== undefined
  ) {
    return json;
  }
  return compress(json);
}

/**
 * The bytes stored for a finished actor's tombstone (see DoneActorShrinker): compressed under
 * format 2 whatever its size (160 bytes of JSON to about 50), since it stays as long as its
 * workflow waits. Releases that know `HITL_STORAGE_FORMAT` read it.
 */
export function encodeTombstone(tombstone: SnapshotEnvelope, format: StorageFormat): Uint8Array {
  const json = encoder.encode(JSON.stringify(tombstone));
  return format < 2 ? json : compress(json);
}

function compress(json: Uint8Array): Uint8Array {
  const packed = deflateRawSync(json, DEFLATE_OPTIONS);
  const out = new Uint8Array(packed.length + 1);
  out[0] = DEFLATE_DICT_1;
  out.set(packed, 1);
  return out;
}

/** Whether a stored value is compressed (so certainly not parked: see {@link encodeEnvelope}). */
export function isCompressed(value: Uint8Array): boolean {
  return value.length > 0 && value[0] !== JSON_OBJECT;
}

/**
 * The JSON value of a stored snapshot, whatever format wrote it. A value with a mark this
 * release does not know was written by a later one: {@link NewerSnapshotError}, so that the
 * message is left for a worker that reads it. Throws `SyntaxError` for a value that is neither.
 */
export function decodeValue(value: Uint8Array, key: string): unknown {
  const mark = value[0];
  if (mark === undefined || mark === JSON_OBJECT) return JSON.parse(decoder.decode(value));
  if (mark === DEFLATE_DICT_1) {
    return JSON.parse(decoder.decode(inflateRawSync(value.subarray(1), INFLATE_OPTIONS)));
  }
  throw new NewerSnapshotError(
    `snapshot '${key}' is stored with encoding mark 0x${mark.toString(16).padStart(2, '0')}, which this release does not read (written by a later release?)`,
    mark,
    DEFLATE_DICT_1,
  );
}
