import { z } from 'zod';
import { InvalidPayloadError } from '../base/errors.js';

// A KV value here is a frame: one line of JSON (what the entry is, the serializer's type of each
// part and the parts' lengths), a newline, then the parts' bytes back to back. Serialized
// checkpoints and values stay bytes, with no base64 on the way (JSON never holds a raw newline).

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 0x0a;

const Lengths = z.array(z.number().int().nonnegative());

/**
 * A checkpoint without its channel values, which live in value entries: `values` names, for
 * each channel that has one, the checkpoint whose put stored it (this one or an ancestor).
 */
export const CheckpointEntrySchema = z.object({
  k: z.literal('c'),
  thread_id: z.string(),
  checkpoint_ns: z.string(),
  checkpoint_id: z.string(),
  parent_id: z.string().nullable(),
  values: z.record(z.string(), z.string()),
  checkpointType: z.string(),
  metadataType: z.string(),
  n: Lengths.length(2),
});
export type CheckpointEntry = z.infer<typeof CheckpointEntrySchema>;

/** The newest checkpoint id of a thread's namespace. */
export const HeadEntrySchema = z.object({
  k: z.literal('h'),
  checkpoint_id: z.string(),
  n: Lengths,
});

/** One channel value, as a checkpoint's put stored it. */
export const BlobEntrySchema = z.object({ k: z.literal('b'), type: z.string(), n: Lengths });

const WriteSchema = z.object({
  task: z.string(),
  channel: z.string(),
  idx: z.number().int(),
  path: z.string(),
  type: z.string(),
});
export type StoredWrite = z.infer<typeof WriteSchema>;

/** The pending writes of one checkpoint, one part per write. */
export const WritesEntrySchema = z.object({
  k: z.literal('w'),
  writes: z.array(WriteSchema),
  n: Lengths,
});

/** Header and parts of a frame. */
export interface Frame<H> {
  header: H;
  parts: Uint8Array[];
}

/** Encodes `header` (its `n` is set here) and `parts` into one KV value. */
export function encodeFrame(header: Record<string, unknown>, parts: Uint8Array[]): Uint8Array {
  const head = encoder.encode(`${JSON.stringify({ ...header, n: parts.map((p) => p.length) })}\n`);
  const out = new Uint8Array(head.length + parts.reduce((sum, p) => sum + p.length, 0));
  out.set(head, 0);
  let at = head.length;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/**
 * Decodes a KV value written by {@link encodeFrame} through `schema`; throws
 * {@link InvalidPayloadError} naming `key` when it is not one.
 */
export function decodeFrame<H extends { n: number[] }>(
  schema: z.ZodType<H>,
  data: Uint8Array,
  key: string,
): Frame<H> {
  const end = data.indexOf(NEWLINE);
  let header: H;
  try {
    if (end < 0) throw new Error('no header line');
    header = schema.parse(JSON.parse(decoder.decode(data.subarray(0, end))));
  } catch (err) {
    throw new InvalidPayloadError(`malformed checkpointer entry '${key}': ${String(err)}`, {
      cause: err,
    });
  }
  const parts: Uint8Array[] = [];
  let at = end + 1;
  for (const length of header.n) {
    parts.push(data.subarray(at, at + length));
    at += length;
  }
  if (at !== data.length) {
    throw new InvalidPayloadError(
      `malformed checkpointer entry '${key}': ${data.length - end - 1} body bytes, header says ${at - end - 1}`,
    );
  }
  return { header, parts };
}
