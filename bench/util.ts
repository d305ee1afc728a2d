import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

const started = performance.now();

/** A progress line on stderr, stamped with the seconds since the benchmark started. */
export function progress(message: string): void {
  const t = ((performance.now() - started) / 1000).toFixed(1).padStart(6);
  process.stderr.write(`[bench ${t}s] ${message}\n`);
}

export interface LatencySummary {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** p50 / p99 / max of a sample of milliseconds (nearest-rank percentiles). */
export function summarize(samples: readonly number[]): LatencySummary {
  if (samples.length === 0) return { n: 0, p50Ms: NaN, p99Ms: NaN, maxMs: NaN, meanMs: NaN };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    n: sorted.length,
    p50Ms: round(rank(0.5), 2),
    p99Ms: round(rank(0.99), 2),
    maxMs: round(sorted[sorted.length - 1] ?? NaN, 2),
    meanMs: round(sum / sorted.length, 2),
  };
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Resident set size of a process, in bytes, from /proc (undefined when it is gone). */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/** Waits until `check` is true, polling; throws after `timeoutMs` naming `what`. */
export async function waitFor(
  check: () => boolean,
  timeoutMs: number,
  what: string,
  pollMs = 20,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(pollMs);
  }
}

/** A promise with its resolve function, for a caller that settles it later. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** Machine facts recorded with the results. */
export async function machineInfo(): Promise<{
  cpu: string;
  cores: number;
  memGb: number;
  node: string;
  loadAvg: string;
}> {
  const { cpus, totalmem } = await import('node:os');
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memGb: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    loadAvg: (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' '),
  };
}

export const MB = 2 ** 20;

/** User + system CPU seconds a process has used so far, from /proc (NaN when it is gone). */
export async function cpuSeconds(pid: number): Promise<number> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return ticks / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

const CLOCK_TICKS = 100;

/** The pid of the nats-server listening on `port`, found by its command line. */
export async function natsServerPid(port: number): Promise<number | undefined> {
  const { readdir } = await import('node:fs/promises');
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (args[0]?.endsWith('nats-server') && args.includes(String(port))) return Number(entry);
    } catch {
      // Gone meanwhile.
    }
  }
  return undefined;
}
