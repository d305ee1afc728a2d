/**
 * The benchmark's sizes, read from the environment. `BENCH_QUICK=1` picks sizes that finish in
 * under a minute (a smoke test); the defaults aim at the sizes within 10 minutes on a
 * 2-core machine.
 */
export interface BenchConfig {
  quick: boolean;
  /** Measured window of each throughput run, after its warm-up. */
  durationS: number;
  warmupS: number;
  /** Workflows in flight in the closed-loop throughput runs (ours and LangGraph's). */
  concurrency: number;
  /** `--concurrency` of each worker process; the CLI's default when unset. */
  workerConcurrency: number | undefined;
  /** Responses per second of the steady resume-latency run, and how long it runs. */
  steadyRate: number;
  steadyS: number;
  /** Workflows paused at the gate in the cost-of-waiting run, and the small point compared. */
  paused: number;
  pausedSmall: number;
  /** Seconds after which the cost-of-waiting run starts no more workflows (it reports the N reached). */
  pausedBudgetS: number;
  /**
   * The cost-of-waiting run's workers: `HITL_STORAGE_FORMAT`, and `HITL_ACK_WAIT_MS`, short
   * enough that finished actors shrink (four ack waits after their step) within the run.
   */
  waitingStorageFormat: '1' | '2';
  waitingAckWaitMs: number;
  /** Threads paused at the interrupt to measure LangGraph's storage per paused workflow. */
  lgPaused: number;
  /** Seconds of each raw JetStream ceiling measurement, and the publishes kept in flight. */
  ceilingS: number;
  ceilingInFlight: number;
  /** PostgreSQL URLs tried in order for the PostgresSaver row. */
  postgresUrls: string[];
  /** Worker process counts of the throughput runs (the quick mode runs 2 only). */
  workerCounts: number[];
  /** Workflows in flight of the scaling table's extra closed-loop runs (besides `concurrency`). */
  scalingConcurrencies: number[];
  /** Sections to run (`BENCH_ONLY=throughput,scaling,latency,waiting,langgraph,ceiling,cluster`). */
  sections: ReadonlySet<Section>;
  /** Where the JSON results go. */
  output: string;
}

export const SECTIONS = [
  'ceiling',
  'throughput',
  'scaling',
  'latency',
  'waiting',
  'langgraph',
  'cluster',
] as const;
export type Section = (typeof SECTIONS)[number];

function num(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return n;
}

function storageFormat(raw: string | undefined): '1' | '2' {
  const format = raw?.trim() || '2';
  if (format !== '1' && format !== '2') {
    throw new Error(`BENCH_STORAGE_FORMAT must be 1 or 2, got '${format}'`);
  }
  return format;
}

export function loadBenchConfig(env: NodeJS.ProcessEnv = process.env): BenchConfig {
  const quick = env.BENCH_QUICK === '1' || env.BENCH_QUICK === 'true';
  const only = (env.BENCH_ONLY ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of only) {
    if (!(SECTIONS as readonly string[]).includes(s)) {
      throw new Error(
        `BENCH_ONLY: unknown section '${s}' (expected some of ${SECTIONS.join(', ')})`,
      );
    }
  }
  const workerConcurrency = env.BENCH_WORKER_CONCURRENCY
    ? Math.round(num(env, 'BENCH_WORKER_CONCURRENCY', 32))
    : undefined;
  const postgresUrls = env.BENCH_PG_URL
    ? [env.BENCH_PG_URL]
    : [
        'postgres://postgres@127.0.0.1:5432/test',
        'postgres://postgres@127.0.0.1:5432/postgres',
        'postgres://root@127.0.0.1:5432/test',
        'postgres://root@127.0.0.1:5432/postgres',
      ];
  return {
    quick,
    durationS: num(env, 'BENCH_DURATION_S', quick ? 2 : 10),
    warmupS: num(env, 'BENCH_WARMUP_S', quick ? 0.5 : 2),
    concurrency: Math.round(num(env, 'BENCH_CONCURRENCY', 100)),
    workerConcurrency,
    steadyRate: num(env, 'BENCH_STEADY_RATE', 100),
    steadyS: num(env, 'BENCH_STEADY_S', quick ? 1.5 : 10),
    paused: Math.round(num(env, 'BENCH_PAUSED', quick ? 3_000 : 100_000)),
    pausedSmall: Math.round(num(env, 'BENCH_PAUSED_SMALL', 1_000)),
    pausedBudgetS: num(env, 'BENCH_PAUSED_BUDGET_S', quick ? 5 : 200),
    waitingStorageFormat: storageFormat(env.BENCH_STORAGE_FORMAT),
    waitingAckWaitMs: Math.round(num(env, 'BENCH_WAITING_ACK_WAIT_MS', quick ? 2_000 : 10_000)),
    lgPaused: Math.round(num(env, 'BENCH_LG_PAUSED', quick ? 100 : 2_000)),
    ceilingS: num(env, 'BENCH_CEILING_S', quick ? 1 : 5),
    ceilingInFlight: Math.round(num(env, 'BENCH_CEILING_INFLIGHT', 256)),
    postgresUrls,
    workerCounts: quick ? [2] : [1, 2],
    scalingConcurrencies: [10, 1_000],
    sections: new Set<Section>(only.length > 0 ? (only as Section[]) : SECTIONS),
    output: env.BENCH_OUTPUT ?? 'bench/results/latest.json',
  };
}
