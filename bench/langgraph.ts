import {
  Annotation,
  Command,
  END,
  MemorySaver,
  START,
  StateGraph,
  interrupt,
  type BaseCheckpointSaver,
} from '@langchain/langgraph';
import { PostgresSaver } from '@langchain/langgraph-checkpoint-postgres';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { JetStreamSaver } from '../src/langgraph/index.js';
import { mockModel } from '../actors/mockModel.js';
import type { Category } from '../actors/categories.js';
import type { BenchConfig } from './config.js';
import { REQUEST } from './driver.js';
import { progress, round, summarize, type LatencySummary } from './util.js';

/** Section 4: the same approval workflow on LangGraph.js, per checkpointer. */
export interface AlternativeResult {
  name: string;
  checkpointer: 'MemorySaver' | 'SqliteSaver' | 'PostgresSaver' | 'JetStreamSaver';
  durable: boolean;
  /** Set when the row could not run (PostgreSQL unreachable, say). */
  skipped?: string;
  workflowsPerSecond: number;
  workflows: number;
  errors: number;
  /** Resume (`invoke(new Command({ resume }))`) latency in the closed loop. */
  saturationLatency: LatencySummary;
  /** Resume latency at a steady rate of resumes to threads paused beforehand. */
  steadyLatency: LatencySummary & { rate: number };
  /**
   * CPU milliseconds per workflow of this process during the closed loop (LangGraph runs in
   * it; PostgreSQL's own CPU is not counted).
   */
  cpuMsPerWorkflow: number;
  /** Checkpoint bytes per thread paused at the interrupt, and how they were measured. */
  storageBytesPerPaused: number;
  storageNote: string;
}

const model = mockModel();

const State = Annotation.Root({
  request: Annotation<string>(),
  category: Annotation<Category | undefined>(),
  draft: Annotation<string | undefined>(),
  approvedBy: Annotation<string | undefined>(),
  sent: Annotation<string | undefined>(),
});

/**
 * triage (the mock keyword rule) → specialist (the mock's templated draft) → gate
 * (`interrupt()` until a human answers `yes` or `no`) → send. The same trivial steps as the
 * runtime's support workflow, with the same model functions.
 */
function approvalGraph(checkpointer: BaseCheckpointSaver) {
  return new StateGraph(State)
    .addNode('triage', async (s) => {
      const c = await model.classify(s.request);
      return { category: c.category ?? undefined };
    })
    .addNode('specialist', async (s) => ({
      draft: await model.draft({ category: s.category ?? 'refund', request: s.request }),
    }))
    .addNode('gate', (s) => {
      const answer: unknown = interrupt({
        type: 'approval',
        question: `Send this ${s.category} reply to the customer?`,
        options: ['yes', 'no'],
        draft: s.draft,
      });
      return { approvedBy: answer === 'yes' ? 'bench' : undefined };
    })
    .addNode('send', (s) => ({ sent: s.draft }))
    .addEdge(START, 'triage')
    .addEdge('triage', 'specialist')
    .addEdge('specialist', 'gate')
    .addConditionalEdges('gate', (s) => (s.approvedBy ? 'send' : END), ['send', END])
    .addEdge('send', END)
    .compile({ checkpointer });
}

type Graph = ReturnType<typeof approvalGraph>;

interface Store {
  saver: BaseCheckpointSaver;
  /** Bytes its checkpoints take now. */
  bytes(): Promise<number>;
  close(): Promise<void>;
}

const SCHEMA = 'hitl_bench_langgraph';

/** Where the durable checkpointers keep their data (one is unset when unreachable). */
export interface StoreUrls {
  pgUrl: string | undefined;
  natsUrl: string | undefined;
}

async function openStore(
  kind: AlternativeResult['checkpointer'],
  dir: string,
  tag: string,
  urls: StoreUrls,
): Promise<Store> {
  if (kind === 'MemorySaver') {
    const saver = new MemorySaver();
    return {
      saver,
      bytes: () => Promise.resolve(memorySaverBytes(saver)),
      close: () => Promise.resolve(),
    };
  }
  if (kind === 'SqliteSaver') {
    const file = join(dir, `${tag}.sqlite`);
    const saver = SqliteSaver.fromConnString(file);
    return {
      saver,
      async bytes() {
        saver.db.pragma('wal_checkpoint(TRUNCATE)');
        return (await stat(file)).size;
      },
      close: () => {
        saver.db.close();
        return Promise.resolve();
      },
    };
  }
  if (kind === 'JetStreamSaver') {
    if (!urls.natsUrl) throw new Error('no nats-server');
    const nc = await connect({ servers: urls.natsUrl });
    const saver = await JetStreamSaver.create({ nc, prefix: `${SCHEMA}_${tag}` });
    const jsm = await jetstreamManager(nc);
    return {
      saver,
      // What JetStream stores for the bucket: messages with their subjects and headers.
      bytes: async () => (await jsm.streams.info(`KV_${saver.bucket}`)).state.bytes,
      async close() {
        await saver.destroy();
        await nc.close();
      },
    };
  }
  const pgUrl = urls.pgUrl;
  if (!pgUrl) throw new Error('no PostgreSQL');
  const schema = `${SCHEMA}_${tag}`;
  const admin = new pg.Client({ connectionString: pgUrl });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  const saver = PostgresSaver.fromConnString(pgUrl, { schema });
  await saver.setup();
  return {
    saver,
    async bytes() {
      await admin.query(
        `VACUUM ANALYZE "${schema}".checkpoints, "${schema}".checkpoint_blobs, "${schema}".checkpoint_writes`,
      );
      const r = await admin.query<{ bytes: string }>(
        `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0)::bigint AS bytes
           FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind = 'r'`,
        [schema],
      );
      return Number(r.rows[0]?.bytes ?? 0);
    },
    async close() {
      await saver.end();
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  };
}

/** The bytes of the serialized checkpoints and writes a MemorySaver holds. */
function memorySaverBytes(saver: MemorySaver): number {
  let bytes = 0;
  for (const byNs of Object.values(saver.storage)) {
    for (const byId of Object.values(byNs)) {
      for (const [checkpoint, metadata, parent] of Object.values(byId)) {
        bytes += checkpoint.byteLength + metadata.byteLength + (parent?.length ?? 0);
      }
    }
  }
  for (const byTask of Object.values(saver.writes)) {
    for (const [task, channel, value] of Object.values(byTask)) {
      bytes += task.length + channel.length + value.byteLength;
    }
  }
  return bytes;
}

/** Finds a PostgreSQL that answers, or says why none does. */
export async function findPostgres(
  urls: readonly string[],
): Promise<{ url: string } | { error: string }> {
  const errors: string[] = [];
  for (const url of urls) {
    const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return { url };
    } catch (err) {
      errors.push(`${url}: ${err instanceof Error ? err.message : String(err)}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  return { error: errors.join('; ') };
}

interface ThreadConfig {
  configurable: { thread_id: string };
}

let threads = 0;
function threadConfig(tag: string): ThreadConfig {
  return { configurable: { thread_id: `${tag}-${++threads}` } };
}

/** Runs a few hundred workflows untimed, so the first measured row does not pay for the JIT. */
export async function warmUpLangGraph(workflows: number): Promise<void> {
  const app = approvalGraph(new MemorySaver());
  await runLanes(10, workflows, async () => resume(app, await startPaused(app, 'warm')));
}

async function startPaused(app: Graph, tag: string): Promise<ThreadConfig> {
  const config = threadConfig(tag);
  const out = await app.invoke({ request: REQUEST }, config);
  if (!('__interrupt__' in out)) throw new Error('the graph did not pause at the gate');
  return config;
}

async function resume(app: Graph, config: ThreadConfig): Promise<boolean> {
  const out = await app.invoke(new Command({ resume: 'yes' }), config);
  return typeof out.sent === 'string';
}

export async function runAlternative(
  kind: AlternativeResult['checkpointer'],
  cfg: BenchConfig,
  urls: StoreUrls,
): Promise<AlternativeResult> {
  const dir = await mkdtemp(join(tmpdir(), 'hitl-bench-lg-'));
  const name = `LangGraph.js + ${kind}`;
  try {
    // Throughput and latency on one store, storage per paused thread on a fresh one.
    const store = await openStore(kind, dir, 'run', urls);
    let loop: Awaited<ReturnType<typeof closedLoop>>;
    let steady: LatencySummary;
    try {
      const app = approvalGraph(store.saver);
      progress(
        `${name}: closed loop, ${cfg.concurrency} in flight, ${cfg.warmupS} s warm-up + ${cfg.durationS} s`,
      );
      loop = await closedLoop(app, cfg);
      progress(
        `${name}: ${round(loop.workflowsPerSecond)} workflows/s, resume p50 ${loop.latency.p50Ms} ms p99 ${loop.latency.p99Ms} ms at saturation`,
      );
      const count = Math.round(cfg.steadyRate * cfg.steadyS);
      const paused: ThreadConfig[] = [];
      await runLanes(cfg.concurrency, count, async () => {
        paused.push(await startPaused(app, 'steady'));
      });
      progress(`${name}: resuming at ${cfg.steadyRate}/s for ${cfg.steadyS} s`);
      steady = await steadyResumes(app, paused, cfg.steadyRate);
      progress(`${name}: steady resume p50 ${steady.p50Ms} ms, p99 ${steady.p99Ms} ms`);
    } finally {
      await store.close();
    }

    const fresh = await openStore(kind, dir, 'paused', urls);
    let perPaused: number;
    try {
      const app = approvalGraph(fresh.saver);
      const before = await fresh.bytes();
      const n = cfg.lgPaused;
      await runLanes(cfg.concurrency, n, () => startPaused(app, 'paused'));
      perPaused = ((await fresh.bytes()) - before) / n;
      progress(`${name}: ${round(perPaused)} bytes per paused thread (${n} paused)`);
    } finally {
      await fresh.close();
    }
    return {
      name,
      checkpointer: kind,
      durable: kind !== 'MemorySaver',
      workflowsPerSecond: round(loop.workflowsPerSecond),
      workflows: loop.workflows,
      errors: loop.errors,
      cpuMsPerWorkflow: round(loop.cpuMsPerWorkflow, 2),
      saturationLatency: loop.latency,
      steadyLatency: { ...steady, rate: cfg.steadyRate },
      storageBytesPerPaused: round(perPaused),
      storageNote: {
        MemorySaver: 'serialized checkpoints and writes held in memory (not durable)',
        SqliteSaver: 'SQLite file size after a WAL checkpoint',
        PostgresSaver: 'pg_total_relation_size of its tables (with indexes and TOAST)',
        JetStreamSaver: "bytes JetStream stores for its KV bucket's stream (stream info)",
      }[kind],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function closedLoop(app: Graph, cfg: BenchConfig) {
  const t0 = performance.now();
  const windowStart = t0 + cfg.warmupS * 1000;
  const windowEnd = windowStart + cfg.durationS * 1000;
  const latencies: number[] = [];
  const cpu0 = process.cpuUsage();
  let measured = 0;
  let lastCompletion = 0;
  let workflows = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: cfg.concurrency }, async () => {
      while (performance.now() < windowEnd) {
        workflows++;
        const config = await startPaused(app, 'loop');
        const at = performance.now();
        const ok = await resume(app, config);
        const now = performance.now();
        if (!ok) errors++;
        if (now >= windowStart) {
          measured++;
          lastCompletion = now;
          latencies.push(now - at);
        }
      }
    }),
  );
  return {
    // As for ours: from the end of the warm-up to the last completion.
    workflowsPerSecond: measured / Math.max(0.001, (lastCompletion - windowStart) / 1000),
    workflows,
    errors,
    latency: summarize(latencies),
    cpuMsPerWorkflow: cpuMs(process.cpuUsage(cpu0)) / Math.max(1, workflows),
  };
}

async function steadyResumes(
  app: Graph,
  paused: ThreadConfig[],
  rate: number,
): Promise<LatencySummary> {
  const latencies: number[] = [];
  const running: Promise<void>[] = [];
  const t0 = performance.now();
  for (let i = 0; i < paused.length; i++) {
    const wait = t0 + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const at = performance.now();
    const config = paused[i] as ThreadConfig;
    running.push(
      resume(app, config).then(() => {
        latencies.push(performance.now() - at);
      }),
    );
  }
  await Promise.all(running);
  return summarize(latencies);
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000;
}

async function runLanes(lanes: number, total: number, op: () => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < total) {
        next++;
        await op();
      }
    }),
  );
}
