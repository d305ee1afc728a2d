import type { KV } from '@nats-io/kv';
import { InterruptRecordSchema, type InterruptRecord } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';

/** A change to the pending list, as the page is told of it. */
export type PendingChange = { op: 'put'; workflowId: string } | { op: 'del'; workflowId: string };

/** What the page asks of the list. */
export interface PendingQuery {
  sort?: 'newest' | 'deadline';
  type?: string;
  category?: string;
  /** Case-insensitive text in the workflow id, question, draft or category. */
  text?: string;
  offset?: number;
  limit?: number;
}

/** One page of the list. */
export interface PendingPage {
  total: number;
  offset: number;
  items: InterruptRecord[];
  /** Every category pending (for the filter), sorted. */
  categories: string[];
}

/**
 * The pending interrupts, followed live: one KV watch on `hitl_interrupts` delivers each key's
 * last value and then every put and delete, so the list is in memory and answering a query of
 * 10,000 records is a sort and a slice. Listeners hear each change.
 *
 * @example
 * const index = await PendingIndex.follow(kv, subjects);
 * index.query({ sort: 'deadline', type: 'approval', limit: 50 });
 */
export class PendingIndex {
  private readonly records = new Map<string, InterruptRecord>();
  private readonly listeners = new Set<(c: PendingChange) => void>();
  private stopWatch: (() => void) | undefined;

  private constructor(private readonly subjects: Subjects) {}

  /**
   * Starts following the bucket; resolves once the current values are loaded.
   *
   * `options.keys`: the bucket's keys as the server holds them now (its stream's subjects), read
   * every `reconcileMs` (30 s) to drop what the watch never said went. A watch that restarts
   * (a reconnect, a stall) goes on after the last message it saw, and a removed key's marker
   * deleted meanwhile is never delivered: without this, its question would stay listed.
   */
  static async follow(
    kv: KV,
    subjects: Subjects,
    options: { keys?: () => Promise<string[]>; reconcileMs?: number } = {},
  ): Promise<PendingIndex> {
    const index = new PendingIndex(subjects);
    const watch = await kv.watch();
    const keys = options.keys;
    const timer =
      keys === undefined
        ? undefined
        : setInterval(() => {
            index.reconcile(keys).catch(() => {
              // Refused or cut off: the next round tries again; the watch goes on meanwhile.
            });
          }, options.reconcileMs ?? 30_000);
    timer?.unref();
    index.stopWatch = () => {
      clearInterval(timer);
      watch.stop();
    };
    let loaded!: () => void;
    const initial = new Promise<void>((resolve) => (loaded = resolve));
    // An empty bucket delivers nothing before updates: then it is loaded at once.
    if ((await kv.status()).values === 0) loaded();
    void (async () => {
      for await (const entry of watch) {
        const wf = index.workflowOfKey(entry.key);
        if (wf !== undefined) {
          if (entry.operation === 'PUT') {
            const parsed = InterruptRecordSchema.safeParse(jsonOf(entry));
            if (parsed.success) {
              index.records.set(wf, parsed.data);
              index.emit({ op: 'put', workflowId: wf });
            }
          } else if (index.records.delete(wf)) {
            index.emit({ op: 'del', workflowId: wf });
          }
        }
        if (entry.delta === 0) loaded();
      }
      loaded();
    })();
    await initial;
    return index;
  }

  /**
   * Drops, with a `del` to the listeners, every record whose key `keys()` does not list, unless
   * the watch put it again while the keys were read. Returns how many went.
   */
  async reconcile(keys: () => Promise<string[]>): Promise<number> {
    const before = new Map(this.records);
    const live = new Set(await keys());
    let dropped = 0;
    for (const [wf, record] of before) {
      if (live.has(this.subjects.interruptKey(wf)) || this.records.get(wf) !== record) continue;
      this.records.delete(wf);
      this.emit({ op: 'del', workflowId: wf });
      dropped++;
    }
    return dropped;
  }

  get size(): number {
    return this.records.size;
  }

  get(workflowId: string): InterruptRecord | undefined {
    return this.records.get(workflowId);
  }

  /** Calls `fn` on every change until the returned function is called. */
  subscribe(fn: (c: PendingChange) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  query(q: PendingQuery): PendingPage {
    const text = q.text?.trim().toLowerCase();
    const categories = new Set<string>();
    const hits: InterruptRecord[] = [];
    for (const r of this.records.values()) {
      if (r.category) categories.add(r.category);
      if (q.type && r.type !== q.type) continue;
      if (q.category && r.category !== q.category) continue;
      if (text && !haystack(r).includes(text)) continue;
      hits.push(r);
    }
    // ISO-8601 times in UTC order as plain strings; localeCompare would cost 10x more here.
    if (q.sort === 'deadline') {
      // Nearest deadline first; those without one last, newest first among equals.
      hits.sort(
        (a, b) =>
          order(a.expiresAt ?? '\uffff', b.expiresAt ?? '\uffff') ||
          order(b.createdAt, a.createdAt),
      );
    } else {
      hits.sort((a, b) => order(b.createdAt, a.createdAt));
    }
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
    const offset = Math.min(Math.max(q.offset ?? 0, 0), Math.max(hits.length - 1, 0));
    return {
      total: hits.length,
      offset,
      items: hits.slice(offset, offset + limit),
      categories: [...categories].sort(),
    };
  }

  stop(): void {
    this.stopWatch?.();
    this.listeners.clear();
  }

  private emit(change: PendingChange): void {
    for (const fn of this.listeners) fn(change);
  }

  private workflowOfKey(key: string): string | undefined {
    try {
      // The key is the workflow id: the store builds it from the id and nothing else.
      return this.subjects.interruptKey(key) === key ? key : undefined;
    } catch {
      return undefined;
    }
  }
}

function order(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function haystack(r: InterruptRecord): string {
  return `${r.workflowId} ${r.question} ${r.draft ?? ''} ${r.category ?? ''}`.toLowerCase();
}

function jsonOf(entry: { json(): unknown }): unknown {
  try {
    return entry.json();
  } catch {
    return undefined;
  }
}
