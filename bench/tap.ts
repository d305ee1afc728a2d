import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './util.js';

const SCRIPT = fileURLToPath(new URL('./tapProcess.ts', import.meta.url));
const READY_TIMEOUT_MS = 30_000;

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
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, url, subject], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr.on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tap not ready within ${READY_TIMEOUT_MS} ms: ${err}`));
    }, READY_TIMEOUT_MS);
    const check = (): void => {
      if (out.includes('tap ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`tap exited before ready: ${err}`));
    });
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
      throw new Error(`tap printed no counts: ${out}${err}`);
    }
  };
  return {
    pid,
    cpuSeconds: () => cpuSeconds(pid),
    stop: () => (stopped ??= stop()),
  };
}
