import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './util.js';
import { spawnReady } from './workers.js';

const SCRIPT = fileURLToPath(new URL('./tapProcess.ts', import.meta.url));

/** What a tap saw while it ran, and the CPU it used. */
export interface TapCounts {
  messages: number;
  bytes: number;
  parsed: number;
}

export interface TapProcess {
  pid: number;
  /** CPU seconds used so far. */
  cpuSeconds(): Promise<number>;
  /** SIGTERM; resolves with what it counted. */
  stop(): Promise<TapCounts>;
}

/** Starts a core subscriber on `subject` in a process of its own (bench/tapProcess.ts). */
export async function startTap(url: string, subject: string): Promise<TapProcess> {
  const { child, exited } = await spawnReady(
    ['--import', 'tsx', SCRIPT, url, subject],
    process.env,
    'tap ready',
    'tap',
  );
  // What it prints after it is ready: its counts, when stopped.
  let out = '';
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
  });
  const pid = child.pid;
  if (pid === undefined) throw new Error('tap has no pid');
  let stopped: Promise<TapCounts> | undefined;
  const stop = async (): Promise<TapCounts> => {
    out = '';
    child.kill('SIGTERM');
    await exited;
    const line = out.trim().split('\n').pop() ?? '';
    try {
      return JSON.parse(line) as TapCounts;
    } catch {
      throw new Error(`tap printed no counts: ${out}`);
    }
  };
  return {
    pid,
    cpuSeconds: () => cpuSeconds(pid),
    stop: () => (stopped ??= stop()),
  };
}
