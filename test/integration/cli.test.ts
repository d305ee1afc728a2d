import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NatsServerHandle } from '../../src/cli/natsServer.js';
import { runCli, spawnCli, waitForOutput } from '../helpers/cli.js';
import { startServer, uniquePrefix } from '../helpers/harness.js';

let server: NatsServerHandle;
let env: Record<string, string>;
let worker: ChildProcess;

beforeAll(async () => {
  server = await startServer();
  env = { NATS_URL: server.url, HITL_PREFIX: uniquePrefix('cli'), HITL_MODEL_PROVIDER: 'mock' };
  worker = spawnCli(['worker', '--concurrency', '8'], env);
  await waitForOutput(worker, /hitl worker ready/);
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGKILL');
    await once(worker, 'exit');
  }
  await server?.dispose();
});

describe('hitl CLI', () => {
  it('submit prints the workflow id and --wait prints where it paused', async () => {
    const plain = await runCli(['submit', 'My screen shows an error', '--id', 'cli-tech'], env);
    expect(plain).toMatchObject({ code: 0, stdout: 'cli-tech\n' });

    const waited = await runCli(
      ['submit', 'please refund me', '--id', 'cli-refund', '--wait'],
      env,
    );
    expect(waited.code).toBe(0);
    expect(waited.stdout).toMatch(/^cli-refund paused: approval gate-1 \[yes\|no\]/);
    expect(waited.stdout).toMatch(/draft: .*refund/);
  });

  it('pending lists the paused workflows, as text and as JSON', async () => {
    await runCli(['submit', 'refund my order', '--id', 'cli-pending', '--wait'], env);
    const text = await runCli(['pending'], env);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/cli-pending\s+approval\s+gate-1/);
    const json = await runCli(['pending', '--json'], env);
    const records = JSON.parse(json.stdout) as { workflowId: string; options: string[] }[];
    expect(records.find((r) => r.workflowId === 'cli-pending')?.options).toEqual(['yes', 'no']);
  });

  it('respond exits 0 when accepted and 1 with the reason when rejected', async () => {
    await runCli(['submit', 'I want my money back', '--id', 'cli-respond', '--wait'], env);
    const wrong = await runCli(['respond', 'cli-respond', 'maybe', '--reviewer', 'ana'], env);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr.trim()).toBe(
      "hitl: response rejected: answer 'maybe' is not an option; expected one of: yes, no",
    );
    const right = await runCli(
      [
        'respond',
        'cli-respond',
        'yes',
        '--reviewer',
        'ana',
        '--update',
        '{"draft":"Refunded today."}',
      ],
      env,
    );
    expect(right).toMatchObject({ code: 0, stdout: 'cli-respond: yes accepted\n' });
    const again = await runCli(['respond', 'cli-respond', 'yes', '--reviewer', 'bo'], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/not waiting for a human/);
  });

  it('show prints the timeline, actor states and the pending interrupt', async () => {
    await runCli(['submit', 'I was charged twice', '--id', 'cli-show', '--wait'], env);
    const paused = await runCli(['show', 'cli-show'], env);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toMatch(/received/);
    expect(paused.stdout).toMatch(/triaged\s+billing \(0\.9, by model\)/);
    expect(paused.stdout).toMatch(/gate\s+active\s+state="awaitingApproval"/);
    expect(paused.stdout).toMatch(/waiting for a human: cli-show/);
    await runCli(['respond', 'cli-show', 'no', '--reviewer', 'ana'], env);
    const json = JSON.parse((await runCli(['show', 'cli-show', '--json'], env)).stdout) as {
      events: { type: string }[];
      pending: unknown;
    };
    expect(json.events.map((e) => e.type).slice(-3)).toEqual(['resumed', 'rejected', 'completed']);
    expect(json.pending).toBeNull();
  });

  it('tap prints events live as they happen', async () => {
    const tap = spawnCli(['tap', 'cli-tap', '--json'], env);
    const listening = new Promise<void>((resolve) => {
      tap.stderr?.on('data', (d: Buffer) => {
        if (d.toString().includes('hitl tap: listening')) resolve();
      });
    });
    const seen = waitForOutput(tap, /"type":"completed"/);
    await listening;
    const submitted = await runCli(['submit', 'login is broken', '--id', 'cli-tap'], env);
    expect(submitted.code).toBe(0);
    const out = await seen;
    tap.kill('SIGTERM');
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    expect(lines.map((l) => l.type)).toEqual([
      'received',
      'triaged',
      'drafted',
      'sent',
      'completed',
    ]);
  });

  it('fails with one line and a non-zero code on bad usage', async () => {
    const unknown = await runCli(['frobnicate'], env);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^hitl: unknown command 'frobnicate'/);
    const badId = await runCli(['show', 'a b/c'], env);
    expect(badId.code).toBe(1);
    expect(badId.stderr.trim()).toBe(
      "hitl: illegal workflow id: 'a b/c' (use 1 to 64 letters, digits, '-' and '_')",
    );
    const noReviewer = await runCli(['respond', 'x', 'yes'], env);
    expect(noReviewer.code).toBe(2);
    expect(noReviewer.stderr).toMatch(/--reviewer/);
  });

  it('worker drains and exits 0 on SIGTERM', async () => {
    const second = spawnCli(['worker'], env);
    await waitForOutput(second, /hitl worker ready/);
    const exited = once(second, 'exit') as Promise<[number | null]>;
    second.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
  });
});
