import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { JetStreamSaver } from '../../src/langgraph/index.js';
import { serverPerFile, uniquePrefix } from '../helpers/harness.js';

const shared = serverPerFile();
const SCRIPT = fileURLToPath(new URL('../helpers/langgraphProcess.ts', import.meta.url));

interface ProcessResult {
  pid: number;
  out: Record<string, unknown>;
}

/** Runs one graph process to its end and returns the JSON line it printed. */
function runGraphProcess(args: string[]): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`graph process exited with ${code}:\n${stderr}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ProcessResult);
    });
  });
}

describe('pattern C with LangGraph.js and JetStreamSaver', () => {
  it('pauses at interrupt() in one process and resumes with Command in another, from KV', async () => {
    const prefix = uniquePrefix('lgc');
    const thread = 'ticket-42';
    const url = shared.server.url;

    const first = await runGraphProcess(['start', url, prefix, thread]);
    const interrupts = first.out.__interrupt__ as { value: unknown }[];
    expect(interrupts.map((i) => i.value)).toEqual([
      { question: 'Send this reply?', draft: 'Refund for: I was charged twice' },
    ]);
    expect(first.out.sent).toBeUndefined();

    // The first process is gone: the paused thread is only in the bucket.
    const saver = await JetStreamSaver.create({ nc: shared.nc, prefix });
    const paused = await saver.getTuple({ configurable: { thread_id: thread } });
    expect(paused?.checkpoint.channel_values).toMatchObject({ ran: ['write'] });
    expect(paused?.pendingWrites?.some(([, channel]) => channel === '__interrupt__')).toBe(true);

    const second = await runGraphProcess(['resume', url, prefix, thread, 'yes']);
    expect(second.pid).not.toBe(first.pid);
    expect(second.out).toMatchObject({
      approved: true,
      sent: 'Refund for: I was charged twice',
      // write ran once, in the first process; gate's update landed once, on resume.
      ran: ['write', 'gate', 'send'],
    });
    expect(second.out.__interrupt__).toBeUndefined();
    await saver.destroy();
  }, 60_000);
});
