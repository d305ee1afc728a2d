/**
 * `npm run bench`: throughput, resume latency and the cost of waiting of hitl-mesh, against
 * LangGraph.js and against what the NATS server itself allows, in one run on one machine.
 * Progress goes to stderr, the tables to stdout, the numbers to bench/results/latest.json.
 * Sizes: see bench/config.ts (`BENCH_QUICK=1` for a smoke test under a minute).
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { findNatsServerBinary, startNatsServer } from '../src/cli/natsServer.js';
import { runCeiling } from './ceiling.js';
import { runReplicas } from './cluster.js';
import { loadBenchConfig } from './config.js';
import {
  findPostgres,
  runAlternative,
  warmUpLangGraph,
  type AlternativeResult,
} from './langgraph.js';
import { runThroughput, runWaiting } from './ours.js';
import { judgeTargets, renderReport, type BenchResults } from './report.js';
import { machineInfo, natsServerPid, progress, round } from './util.js';

async function natsServerVersion(): Promise<string> {
  const binary = await findNatsServerBinary();
  if (!binary) return 'unknown';
  const { stdout } = await promisify(execFile)(binary, ['--version']);
  return stdout.trim().replace(/^nats-server:\s*/, '');
}

async function main(): Promise<void> {
  const cfg = loadBenchConfig();
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const s = performance.now();
    try {
      return await run();
    } finally {
      timings[name] = round((performance.now() - s) / 1000, 1);
    }
  };
  const results: BenchResults = {
    startedAt: new Date().toISOString(),
    durationS: 0,
    machine: await machineInfo(),
    loadAvgAtEnd: '',
    natsServer: await natsServerVersion(),
    settings: {
      quick: cfg.quick,
      concurrency: cfg.concurrency,
      workerConcurrency: cfg.workerConcurrency ?? 'CLI default (32)',
      warmupS: cfg.warmupS,
      durationS: cfg.durationS,
      steadyRate: cfg.steadyRate,
      steadyS: cfg.steadyS,
      paused: cfg.paused,
      pausedBudgetS: cfg.pausedBudgetS,
      lgPaused: cfg.lgPaused,
      ceilingS: cfg.ceilingS,
      ceilingInFlight: cfg.ceilingInFlight,
      sections: [...cfg.sections],
    },
    throughput: [],
    scaling: [],
    alternatives: [],
    targets: [],
    timingsS: timings,
  };
  progress(`starting nats-server (${results.natsServer}) on a free port with a temporary store`);
  const server = await startNatsServer();
  try {
    const serverPid = await natsServerPid(server.port);
    if (cfg.sections.has('ceiling')) {
      results.ceiling = await timed('ceiling', () => runCeiling(server.url, cfg));
    }
    if (cfg.sections.has('throughput') || cfg.sections.has('latency')) {
      for (const workers of cfg.workerCounts) {
        results.throughput.push(
          await timed(`throughput, ${workers} worker(s)`, () =>
            runThroughput(server.url, serverPid, cfg, workers, cfg.sections.has('latency')),
          ),
        );
      }
    }
    if (cfg.sections.has('throughput')) {
      // The same 2-worker closed loop with an operator's tap on every subject of the prefix.
      results.tapped = await timed('throughput with a tap', () =>
        runThroughput(server.url, serverPid, cfg, 2, false, { prefix: 'btap', tap: true }),
      );
    }
    if (cfg.sections.has('scaling')) {
      for (const concurrency of cfg.scalingConcurrencies) {
        results.scaling.push(
          await timed(`scaling, ${concurrency} in flight`, () =>
            runThroughput(server.url, serverPid, cfg, 2, false, {
              prefix: `bs${concurrency}`,
              concurrency,
            }),
          ),
        );
      }
    }
    if (cfg.sections.has('waiting')) {
      results.waiting = await timed('cost of waiting', () => runWaiting(server.url, cfg));
    }
  } finally {
    await server.dispose();
  }
  if (cfg.sections.has('cluster')) {
    results.replicas = await timed('R3 vs R1 on a cluster', () => runReplicas(cfg));
  }
  if (cfg.sections.has('langgraph')) {
    await timed('LangGraph.js', async () => {
      progress('LangGraph.js: warming up (untimed)');
      await warmUpLangGraph(cfg.quick ? 50 : 300);
      const pg = await findPostgres(cfg.postgresUrls);
      // JetStreamSaver gets a nats-server of its own, fresh like the others' stores.
      progress('LangGraph.js + JetStreamSaver: starting a nats-server for it');
      const lgServer = await startNatsServer();
      const urls = { pgUrl: 'url' in pg ? pg.url : undefined, natsUrl: lgServer.url };
      try {
        for (const kind of [
          'MemorySaver',
          'SqliteSaver',
          'PostgresSaver',
          'JetStreamSaver',
        ] as const) {
          if (kind === 'PostgresSaver' && 'error' in pg) {
            progress(`LangGraph.js + PostgresSaver skipped: no PostgreSQL reachable (${pg.error})`);
            results.alternatives.push(skipped(kind, 'no PostgreSQL reachable'));
            continue;
          }
          try {
            results.alternatives.push(await runAlternative(kind, cfg, urls));
          } catch (err) {
            const reason = err instanceof Error ? err.message : String(err);
            progress(`LangGraph.js + ${kind} failed: ${reason}`);
            results.alternatives.push(skipped(kind, `failed: ${reason}`));
          }
        }
      } finally {
        await lgServer.dispose();
      }
    });
  }
  const two = results.throughput.find((t) => t.workers === 2);
  if (two && results.ceiling) {
    results.ceilingRatio = round(two.writesPerSecond / results.ceiling.publishesPerSecond, 3);
  }
  results.targets = judgeTargets(results);
  results.durationS = round((performance.now() - t0) / 1000, 1);
  results.loadAvgAtEnd = (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
  await mkdir(dirname(cfg.output), { recursive: true });
  await writeFile(cfg.output, `${JSON.stringify(results, null, 2)}\n`);
  progress(`done in ${results.durationS} s; results written to ${cfg.output}`);
  process.stdout.write(`${renderReport(results)}\n`);
}

function skipped(kind: AlternativeResult['checkpointer'], reason: string): AlternativeResult {
  const none = { n: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, meanMs: NaN };
  return {
    name: `LangGraph.js + ${kind}`,
    checkpointer: kind,
    durable: kind !== 'MemorySaver',
    skipped: reason,
    workflowsPerSecond: NaN,
    workflows: 0,
    errors: 0,
    cpuMsPerWorkflow: NaN,
    saturationLatency: none,
    steadyLatency: { ...none, rate: 0 },
    storageBytesPerPaused: NaN,
    storageNote: '',
  };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
