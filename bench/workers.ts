import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { rssBytes } from './util.js';

// The CLI's sources through tsx, as `npm run hitl` runs them: the bench needs no build.
const CLI = fileURLToPath(new URL('../src/cli/main.ts', import.meta.url));
const READY_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

/** A `hitl worker` child process, started as `npm run hitl -- worker` starts it. */
export interface WorkerProcess {
  pid: number;
  /** Its VmRSS now, in bytes. */
  rss(): Promise<number>;
  /** SIGTERM, then waits for it to drain and exit (SIGKILL after a grace period). */
  stop(): Promise<void>;
}

export interface WorkerOptions {
  natsUrl: string;
  prefix: string;
  concurrency?: number | undefined;
  /** Further environment of the worker (`HITL_REPLICAS`, say). */
  env?: Record<string, string>;
  /** Extra node flags, e.g. `--cpu-prof` (also from `BENCH_WORKER_NODE_ARGS`). */
  nodeArgs?: string[];
}

export async function startWorker(options: WorkerOptions): Promise<WorkerProcess> {
  const nodeArgs =
    options.nodeArgs ?? (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...nodeArgs, '--import', 'tsx', CLI, 'worker'];
  if (options.concurrency !== undefined) args.push('--concurrency', String(options.concurrency));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NATS_URL: options.natsUrl,
    HITL_PREFIX: options.prefix,
    HITL_LOG_LEVEL: 'warn',
    HITL_MODEL_PROVIDER: 'mock',
    ...options.env,
  };
  delete env.OPENAI_API_KEY;
  delete env.HITL_APPROVERS;
  delete env.HITL_GATE_TIMEOUT_MS;
  delete env.HITL_APPROVAL_CATEGORIES;
  const { child, exited } = await spawnReady(args, env, 'hitl worker ready', 'worker');
  const pid = child.pid;
  if (pid === undefined) throw new Error('worker has no pid');
  return {
    pid,
    async rss() {
      return (await rssBytes(pid)) ?? NaN;
    },
    async stop() {
      await stopChild(child, exited);
    },
  };
}

/** A child process of the bench, started by {@link spawnReady}. */
export interface ReadyChild {
  child: ChildProcess & { stdout: Readable; stderr: Readable };
  /** Resolves with the exit code once it has exited. */
  exited: Promise<number | null>;
}

/**
 * Spawns `node <args>` and resolves once its stdout says `ready`; rejects, with the tail of its
 * stderr, when it exits first or is not ready within 30 s (then it is killed).
 */
export async function spawnReady(
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: string,
  what: string,
): Promise<ReadyChild> {
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const stderrTail: string[] = [];
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderrTail.push(chunk);
    if (stderrTail.length > 20) stderrTail.shift();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  await new Promise<void>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what} not ready within ${READY_TIMEOUT_MS} ms: ${stderrTail.join('')}`));
    }, READY_TIMEOUT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes(ready)) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (code ${code}) before ready: ${stderrTail.join('')}`));
    });
  });
  return { child, exited };
}

async function stopChild(child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/** Starts `n` workers side by side. */
export async function startWorkers(n: number, options: WorkerOptions): Promise<WorkerProcess[]> {
  return Promise.all(Array.from({ length: n }, () => startWorker(options)));
}

export async function stopWorkers(workers: readonly WorkerProcess[]): Promise<void> {
  await Promise.all(workers.map((w) => w.stop()));
}
