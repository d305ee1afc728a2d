import { afterAll, beforeAll, expect, it } from 'vitest';
import type { NatsServerHandle } from '../../src/cli/natsServer.js';
import { runCli } from '../helpers/cli.js';
import { startServer, uniquePrefix } from '../helpers/harness.js';

let server: NatsServerHandle;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.dispose();
});

it('runs patterns A, B and C end to end, pattern C across worker processes', async () => {
  const env = {
    NATS_URL: server.url,
    HITL_PREFIX: uniquePrefix('demo'),
    HITL_MODEL_PROVIDER: 'mock',
  };
  const { code, stdout, stderr } = await runCli(['demo'], env, 60_000);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  // Each pattern's steps, printed from the event subjects as they happen.
  expect(stdout).toMatch(
    /Pattern A[\s\S]*interrupted\s+approval[\s\S]*resumed\s+yes by alice[\s\S]*completed\s+sent \(refund\)/,
  );
  expect(stdout).toMatch(
    /Pattern B[\s\S]*interrupted\s+escalation[\s\S]*triaged\s+technical \(1, by human\)[\s\S]*completed\s+sent \(technical\)/,
  );
  // Pattern C: the worker that paused it exits before a new worker and a separate responder resume it.
  expect(stdout).toMatch(
    /Pattern C[\s\S]*interrupted\s+approval[\s\S]*worker 1 \(pid \d+\) exited with code 0[\s\S]*KV still holds the pause: approval gate-1[\s\S]*worker 2 started[\s\S]*resumed\s+yes by carol[\s\S]*completed\s+sent \(billing\)/,
  );
  expect(stdout).toMatch(/done: A sent, B sent, C sent/);
  // Where a reviewer could have answered pattern A in the browser.
  expect(stdout).toMatch(/answer it in the inbox: http:\/\/127\.0\.0\.1:\d+\/link\/\S+/);
  // No event is printed twice.
  const eventLines = stdout
    .split('\n')
    .filter((l) => /demo-[abc]-/.test(l) && /\d\d:\d\d:\d\d\.\d{3}/.test(l));
  expect(new Set(eventLines).size).toBe(eventLines.length);
  // runCli's own bound: three processes and the inbox start, slow on a loaded machine.
}, 70_000);
