import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { setTimeout as sleep } from 'node:timers/promises';
import { HitlClient } from '../src/client/client.js';
import { loadConfig } from '../src/base/config.js';
import { InterruptStore } from '../src/stores/interruptStore.js';
import { kvKeys, mapLimit, readOnlyManager } from '../src/nats/streamReads.js';
import type { BenchConfig } from './config.js';
import { Driver } from './driver.js';
import { bytesOf, storeCounters, writesBetween } from './jetstreamStats.js';
import { cpuSeconds, MB, progress, round, summarize, type LatencySummary } from './util.js';
import { startTap, type TapCounts } from './tap.js';
import { SubjectCounter } from './subjectCount.js';
import { startWorker, startWorkers, stopWorkers, type WorkerProcess } from './workers.js';

/** Sections 1 and 2 for one worker count: throughput, writes, and resume latency. */
export interface ThroughputResult {
  workers: number;
  /** Workflows kept in flight by the closed loop. */
  concurrency: number;
  /**
   * Set when a core subscriber on `<prefix>.>` (an operator's tap, a process of its own) ran
   * through the closed loop: what it received, and its CPU per workflow.
   */
  tap?: TapCounts & { cpuMsPerWorkflow: number; messagesPerWorkflow: number };
  workflowsPerSecond: number;
  /** JetStream writes (stream publishes and KV puts / updates / deletes) per workflow. */
  writesPerWorkflow: number;
  writesPerWorkflowByStream: Record<string, number>;
  /** Stream + KV writes per second the run achieved. */
  writesPerSecond: number;
  workflows: number;
  errors: number;
  /** Resume latency while the closed loop keeps the workers saturated. */
  saturationLatency: LatencySummary;
  /** Resume latency at a steady rate of responses to workflows paused beforehand. */
  steadyLatency: LatencySummary & { rate: number; achievedRate: number; errors: number };
  /**
   * CPU milliseconds per workflow during the closed loop: all worker processes together, the
   * nats-server, and this driver process (which publishes tickets and responses).
   */
  cpuMsPerWorkflow: { workers: number; natsServer: number; driver: number; total: number };
  /** RSS of each worker right after it said it is ready, and after the runs. */
  idleRssMb: number[];
  afterRssMb: number[];
}

async function rssMb(workers: readonly WorkerProcess[]): Promise<number[]> {
  return Promise.all(workers.map(async (w) => round((await w.rss()) / MB, 1)));
}

export async function runThroughput(
  url: string,
  serverPid: number | undefined,
  cfg: BenchConfig,
  workerCount: number,
  withSteady: boolean,
  /**
   * Another prefix, `HITL_REPLICAS` for the workers (the cluster section), another number in
   * flight (the scaling section), a tap on `<prefix>.>` through the closed loop (the tap row).
   */
  on: { prefix?: string; replicas?: number; concurrency?: number; tap?: boolean } = {},
): Promise<ThroughputResult> {
  const prefix = on.prefix ?? `bt${workerCount}`;
  const concurrency = on.concurrency ?? cfg.concurrency;
  progress(`ours, ${workerCount} worker(s): starting worker processes (prefix ${prefix})`);
  const workers = await startWorkers(workerCount, {
    natsUrl: url,
    prefix,
    concurrency: cfg.workerConcurrency,
    ...(on.replicas !== undefined ? { env: { HITL_REPLICAS: String(on.replicas) } } : {}),
  });
  const driver = await Driver.connect(url, prefix);
  const jsm = await jetstreamManager(driver.nc);
  const tap = on.tap ? await startTap(url, `${prefix}.>`) : undefined;
  try {
    const idleRssMb = await rssMb(workers);
    const before = await storeCounters(jsm, prefix);
    const cpuBefore = await cpuOf(workers, serverPid);
    const tapCpuBefore = tap ? await tap.cpuSeconds() : 0;
    // BENCH_COUNT_SUBJECTS=1: count what the server routes during the closed loop, over the
    // same workflows as the CPU (a subscriber on `>`, itself load: such a run reports counts,
    // not CPU or throughput).
    const counter =
      process.env.BENCH_COUNT_SUBJECTS === '1' ? await SubjectCounter.start(url) : undefined;
    counter?.reset();
    progress(
      `ours, ${workerCount} worker(s): closed loop, ${concurrency} in flight, ` +
        `${cfg.warmupS} s warm-up + ${cfg.durationS} s` +
        (tap ? `, a tap on ${prefix}.>` : ''),
    );
    const loop = await driver.closedLoop({
      concurrency,
      warmupS: cfg.warmupS,
      durationS: cfg.durationS,
    });
    const cpu = cpuSince(cpuBefore, await cpuOf(workers, serverPid), loop.workflows);
    let tapResult: ThroughputResult['tap'];
    if (tap) {
      const tapCpu = (await tap.cpuSeconds()) - tapCpuBefore;
      const counts = await tap.stop();
      tapResult = {
        ...counts,
        cpuMsPerWorkflow: round((tapCpu * 1000) / Math.max(1, loop.workflows), 2),
        messagesPerWorkflow: round(counts.messages / Math.max(1, loop.workflows), 1),
      };
      progress(
        `ours, ${workerCount} worker(s): the tap saw ${tapResult.messagesPerWorkflow} messages ` +
          `per workflow and used ${tapResult.cpuMsPerWorkflow} CPU ms per workflow`,
      );
    }
    if (counter) await counter.report(`ours, ${workerCount} worker(s)`, loop.workflows);
    await sleep(250);
    const after = await storeCounters(jsm, prefix);
    const writes = writesBetween(before, after);
    const writesPerWorkflow = writes.total / Math.max(1, loop.workflows);
    const byStream = Object.fromEntries(
      Object.entries(writes.byStream).map(([k, v]) => [k, round(v / loop.workflows, 2)]),
    );
    const saturation = summarize(loop.resumeLatenciesMs);
    progress(
      `ours, ${workerCount} worker(s): ${round(loop.workflowsPerSecond)} workflows/s, ` +
        `${round(writesPerWorkflow, 1)} writes/workflow, resume p50 ${saturation.p50Ms} ms ` +
        `p99 ${saturation.p99Ms} ms at saturation, CPU ms/workflow: workers ${cpu.workers}, ` +
        `nats-server ${cpu.natsServer}, driver ${cpu.driver}; ${loop.errors} errors`,
    );
    let steady: ThroughputResult['steadyLatency'] = {
      ...summarize([]),
      rate: cfg.steadyRate,
      achievedRate: 0,
      errors: 0,
    };
    if (withSteady) {
      const count = Math.round(cfg.steadyRate * cfg.steadyS);
      progress(`ours, ${workerCount} worker(s): pausing ${count} workflows for the steady run`);
      const paused = await driver.pauseMany(count, { window: cfg.concurrency, tag: 's' });
      await sleep(500);
      progress(
        `ours, ${workerCount} worker(s): answering at ${cfg.steadyRate}/s for ${cfg.steadyS} s`,
      );
      const r = await driver.respondSteady(paused.workflowIds, cfg.steadyRate, cfg.steadyS);
      steady = {
        ...summarize(r.latenciesMs),
        rate: cfg.steadyRate,
        achievedRate: round(r.achievedRate, 1),
        errors: r.errors,
      };
      progress(
        `ours, ${workerCount} worker(s): steady resume p50 ${steady.p50Ms} ms, p99 ${steady.p99Ms} ms, max ${steady.maxMs} ms`,
      );
    }
    return {
      workers: workerCount,
      concurrency,
      ...(tapResult ? { tap: tapResult } : {}),
      workflowsPerSecond: round(loop.workflowsPerSecond),
      writesPerWorkflow: round(writesPerWorkflow, 2),
      writesPerWorkflowByStream: byStream,
      writesPerSecond: round(loop.workflowsPerSecond * writesPerWorkflow),
      workflows: loop.workflows,
      errors: loop.errors,
      saturationLatency: saturation,
      steadyLatency: steady,
      cpuMsPerWorkflow: cpu,
      idleRssMb,
      afterRssMb: await rssMb(workers),
    };
  } finally {
    if (tap) await tap.stop().catch(() => undefined);
    await driver.close();
    await stopWorkers(workers);
  }
}

interface CpuReading {
  workers: number;
  server: number;
  driver: NodeJS.CpuUsage;
}

async function cpuOf(
  workers: readonly WorkerProcess[],
  serverPid: number | undefined,
): Promise<CpuReading> {
  const each = await Promise.all(workers.map((w) => cpuSeconds(w.pid)));
  return {
    workers: each.reduce((a, b) => a + b, 0),
    server: serverPid === undefined ? NaN : await cpuSeconds(serverPid),
    driver: process.cpuUsage(),
  };
}

function cpuSince(
  a: CpuReading,
  b: CpuReading,
  workflows: number,
): ThroughputResult['cpuMsPerWorkflow'] {
  const per = (seconds: number): number => round((seconds * 1000) / Math.max(1, workflows), 2);
  const driver = (b.driver.user - a.driver.user + b.driver.system - a.driver.system) / 1e6;
  const workers = per(b.workers - a.workers);
  const natsServer = per(b.server - a.server);
  const drv = per(driver);
  return { workers, natsServer, driver: drv, total: round(workers + natsServer + drv, 2) };
}

/** Section 3: what N workflows paused at the gate cost. */
export interface WaitingResult {
  /** Workflows paused: BENCH_PAUSED, or fewer when the time budget ran out first. */
  paused: number;
  requested: number;
  pausedSmall: number;
  workers: number;
  /** Seconds to start and pause them all, and the rate. */
  pauseSeconds: number;
  pausedPerSecond: number;
  /** Workflows run to completion before pausing any, so that heaps reach their working size. */
  warmupWorkflows: number;
  /** RSS of the workers that paused them (max over the workers), at the small and at N. */
  rssAtSmallMb: number;
  rssAtNMb: number;
  rssGrowthMb: number;
  /** Worker RSS (max over the workers) by workflows paused so far. */
  rssCurveMb: Record<number, number>;
  /** A worker started afresh while N wait: its RSS once idle. */
  freshWorkerRssMb: number;
  /** The workers' HITL_STORAGE_FORMAT and HITL_ACK_WAIT_MS. */
  storageFormat: string;
  ackWaitMs: number;
  /**
   * Every stream and bucket of the prefix, the event log included, once the finished actors
   * have shrunk (four ack waits after the last pause): what a workflow costs while it waits.
   */
  storageBytesPerPaused: number;
  storageBytesPerPausedByStream: Record<string, number>;
  /** The KV buckets alone (snapshots and interrupts): the state a paused workflow needs. */
  stateBytesPerPaused: number;
  /** The same right after the last pause, before finished actors shrink. */
  storageBytesPerPausedAtPause: number;
  /** Seconds after the shrinking was due until the bytes stopped falling. */
  shrinkSettleSeconds: number;
  storageBytesPerPausedByStreamAtPause: Record<string, number>;
  /** `HitlClient.pending()` (what `hitl pending` runs): seconds, and records found. */
  listSeconds: number;
  listed: number;
  /** Set when `pending()` failed (it did at ~64,000 paused on the 2-core box). */
  listError?: string;
  /**
   * The same list as a reviewer reads it, who may not create consumers (a watch is one): the
   * keys from the bucket's subject counts, then a get per key.
   */
  listByGetsSeconds: number;
  listedByGets: number;
  /** Resume latency at a steady rate of responses to some of the N paused (the scaling table). */
  steadyAtN: LatencySummary & { rate: number; achievedRate: number; errors: number };
  errors: number;
}

export async function runWaiting(url: string, cfg: BenchConfig): Promise<WaitingResult> {
  const prefix = 'bw';
  const workerCount = 2;
  progress(`cost of waiting: starting ${workerCount} workers (prefix ${prefix})`);
  const workerEnv = {
    HITL_STORAGE_FORMAT: cfg.waitingStorageFormat,
    HITL_ACK_WAIT_MS: String(cfg.waitingAckWaitMs),
  };
  const workers = await startWorkers(workerCount, {
    natsUrl: url,
    prefix,
    concurrency: cfg.workerConcurrency,
    env: workerEnv,
  });
  const driver = await Driver.connect(url, prefix);
  const jsm = await jetstreamManager(driver.nc);
  const extra: WorkerProcess[] = [];
  try {
    // Warm up first: a worker's heap grows to its working size over its first few thousand
    // steps whatever waits, and that growth is not the cost of waiting. The warm-up's
    // workflows all complete; what they store is left out of the per-paused bytes below.
    const warmupS = cfg.quick ? 2 : 8;
    const warm = await driver.closedLoop({
      concurrency: cfg.concurrency,
      warmupS: 0,
      durationS: warmupS,
    });
    progress(`cost of waiting: warm-up ran ${warm.workflows} workflows to completion`);
    const before = bytesOf(await storeCounters(jsm, prefix));
    const small = Math.min(cfg.pausedSmall, cfg.paused);
    let rssAtSmall = NaN;
    const rssCurveMb: Record<number, number> = {};
    progress(
      `cost of waiting: pausing ${cfg.paused} workflows at the gate (starting none after ${cfg.pausedBudgetS} s)`,
    );
    const paused = await driver.pauseMany(cfg.paused, {
      window: Math.max(500, cfg.concurrency),
      budgetS: cfg.pausedBudgetS,
      checkpoints: [small, ...[10_000, 25_000, 50_000, 75_000].filter((c) => c > small)],
      tag: 'w',
      at: async (count) => {
        await sleep(1_000);
        const rss = Math.max(...(await rssMb(workers)));
        if (count === small) rssAtSmall = rss;
        rssCurveMb[count] = rss;
        progress(`cost of waiting: ${count} paused, worker RSS ${rss} MB`);
      },
    });
    const n = paused.workflowIds.length;
    await sleep(1_000);
    const rssAtN = Math.max(...(await rssMb(workers)));
    rssCurveMb[n] = rssAtN;
    const pausedPerSecond = paused.workflowIds.length / paused.seconds;
    progress(
      `cost of waiting: ${paused.workflowIds.length} paused in ${round(paused.seconds, 1)} s ` +
        `(${round(pausedPerSecond)}/s), worker RSS ${rssAtN} MB`,
    );
    const pausedAt = performance.now();
    const since = (after: ReturnType<typeof bytesOf>) => ({
      total: after.total - before.total,
      byStream: Object.fromEntries(
        Object.entries(after.byStream).map(([k, v]) => [k, v - (before.byStream[k] ?? 0)]),
      ),
    });
    const atPause = since(bytesOf(await storeCounters(jsm, prefix)));
    progress(
      `cost of waiting: ${round(atPause.total / n)} bytes of JetStream storage per paused workflow right after the last pause`,
    );

    const client = await HitlClient.connect({
      connection: driver.nc,
      config: { ...loadConfig({}), prefix },
    });
    let t = performance.now();
    let listed: number;
    let listError: string | undefined;
    try {
      listed = (await client.pending()).length;
    } catch (err) {
      // It reads every key with its own request, all at once: past some N, some time out.
      listed = 0;
      listError = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    }
    const listSeconds = (performance.now() - t) / 1000;
    progress(
      listError === undefined
        ? `cost of waiting: HitlClient.pending() listed ${listed} in ${round(listSeconds, 2)} s`
        : `cost of waiting: HitlClient.pending() failed after ${round(listSeconds, 2)} s: ${listError}`,
    );
    t = performance.now();
    const listedByGets = await listByGets(driver);
    const listByGetsSeconds = (performance.now() - t) / 1000;
    progress(
      `cost of waiting: a get per key (as a reviewer) listed ${listedByGets} in ${round(listByGetsSeconds, 2)} s`,
    );

    // Finished actors shrink four ack waits after their step (and a second for the writes).
    const shrinkMs = 4 * cfg.waitingAckWaitMs + 1_000 - (performance.now() - pausedAt);
    if (shrinkMs > 0) {
      progress(
        `cost of waiting: ${round(shrinkMs / 1000, 1)} s more for finished actors to shrink`,
      );
      await sleep(shrinkMs);
    }
    // A burst past what a worker remembers in full is read back when due (DoneActorShrinker's
    // overflow), which takes a while at 100,000: wait until the bytes stop falling (at most 2 min).
    let bytes = since(bytesOf(await storeCounters(jsm, prefix)));
    const settleFrom = performance.now();
    let lastFall = settleFrom;
    let flat = 0;
    while (flat < 2 && performance.now() - settleFrom < 120_000) {
      await sleep(2_000);
      const next = since(bytesOf(await storeCounters(jsm, prefix)));
      if (next.total < bytes.total) {
        lastFall = performance.now();
        flat = 0;
      } else {
        flat += 1;
      }
      bytes = next;
    }
    const settleSeconds = round((lastFall - settleFrom) / 1000, 1);
    progress(`cost of waiting: the bytes settled ${settleSeconds} s after the shrinking was due`);
    const perPaused = bytes.total / n;
    progress(`cost of waiting: ${round(perPaused)} bytes of JetStream storage per paused workflow`);

    progress(
      `cost of waiting: answering ${cfg.steadyRate}/s for ${cfg.steadyS} s with ${n} paused`,
    );
    const answered = await driver.respondSteady(
      paused.workflowIds.slice(-Math.round(cfg.steadyRate * cfg.steadyS)),
      cfg.steadyRate,
      cfg.steadyS,
    );
    const steadyAtN = {
      ...summarize(answered.latenciesMs),
      rate: cfg.steadyRate,
      achievedRate: round(answered.achievedRate, 1),
      errors: answered.errors,
    };
    progress(
      `cost of waiting: resume p50 ${steadyAtN.p50Ms} ms, p99 ${steadyAtN.p99Ms} ms with ${n} paused`,
    );

    extra.push(
      await startWorker({
        natsUrl: url,
        prefix,
        concurrency: cfg.workerConcurrency,
        env: workerEnv,
      }),
    );
    await sleep(2_000);
    const freshWorkerRssMb = round((await (extra[0] as WorkerProcess).rss()) / MB, 1);
    progress(`cost of waiting: a fresh worker with ${n} paused: RSS ${freshWorkerRssMb} MB`);
    return {
      warmupWorkflows: warm.workflows,
      paused: n,
      requested: cfg.paused,
      pausedSmall: small,
      workers: workerCount,
      pauseSeconds: round(paused.seconds, 1),
      pausedPerSecond: round(pausedPerSecond),
      rssAtSmallMb: rssAtSmall,
      rssAtNMb: rssAtN,
      rssGrowthMb: round(rssAtN - rssAtSmall, 1),
      rssCurveMb,
      freshWorkerRssMb,
      storageFormat: cfg.waitingStorageFormat,
      ackWaitMs: cfg.waitingAckWaitMs,
      storageBytesPerPaused: round(perPaused),
      storageBytesPerPausedAtPause: round(atPause.total / n),
      shrinkSettleSeconds: settleSeconds,
      storageBytesPerPausedByStreamAtPause: Object.fromEntries(
        Object.entries(atPause.byStream).map(([k, v]) => [k, round(v / n)]),
      ),
      stateBytesPerPaused: round(
        Object.entries(bytes.byStream)
          .filter(([k]) => k.startsWith('KV_'))
          .reduce((a, [, v]) => a + v, 0) / n,
      ),
      storageBytesPerPausedByStream: Object.fromEntries(
        Object.entries(bytes.byStream).map(([k, v]) => [k, round(v / n)]),
      ),
      listSeconds: round(listSeconds, 2),
      listed,
      ...(listError === undefined ? {} : { listError }),
      listByGetsSeconds: round(listByGetsSeconds, 2),
      listedByGets,
      steadyAtN,
      errors: paused.errors + (listed === n ? 0 : 1) + steadyAtN.errors,
    };
  } finally {
    await driver.close();
    await stopWorkers([...workers, ...extra]);
  }
}

/** Reads every live interrupt record with one watch of the bucket (last values only). */
async function listByGets(driver: Driver): Promise<number> {
  const kv = await new Kvm(driver.nc).open(driver.subjects.buckets.interrupts);
  // A store whose watch is refused, as the reviewer role's is.
  const store = new InterruptStore(kv, driver.subjects);
  const keys = await kvKeys(await readOnlyManager(driver.nc), driver.subjects.buckets.interrupts);
  const found = await mapLimit(keys, 256, (k) => store.get(k));
  return found.filter((r) => r !== undefined).length;
}
