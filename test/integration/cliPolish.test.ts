import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HitlClient, loadConfig, Subjects } from '../../src/index.js';
import type { NatsServerHandle } from '../../src/cli/natsServer.js';
import { runCli, spawnCli, waitForOutput } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { rawConnection, readStream, startServer, uniquePrefix } from '../helpers/harness.js';

let server: NatsServerHandle;
let nc: NatsConnection;
let env: Record<string, string>;
let subjects: Subjects;
let worker: ChildProcess;
let client: HitlClient;

beforeAll(async () => {
  server = await startServer();
  nc = await rawConnection(server);
  const prefix = uniquePrefix('polish');
  subjects = new Subjects(prefix);
  env = {
    NATS_URL: server.url,
    HITL_PREFIX: prefix,
    HITL_MODEL_PROVIDER: 'mock',
    HITL_GATE_TIMEOUT_MS: '600000',
  };
  worker = spawnCli(['worker', '--concurrency', '8'], env);
  await waitForOutput(worker, /hitl worker ready/);
  client = await HitlClient.connect({ config: loadConfig(env) });
});

afterAll(async () => {
  if (worker && worker.exitCode === null) {
    worker.kill('SIGKILL');
    await once(worker, 'exit');
  }
  await client?.close();
  await nc?.close();
  await server?.dispose();
});

describe('hitl CLI for operators and scripts', () => {
  it('pending shows how long each workflow has waited and its deadline', async () => {
    await client.start({ id: 'due-1', request: 'refund my order' });
    const text = await runCli(['pending'], env);
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^WORKFLOW\s+TYPE\s+INTERRUPT\s+AGE\s+DEADLINE\s+QUESTION$/);
    expect(lines.find((l) => l.startsWith('due-1'))).toMatch(
      /^due-1\s+approval\s+gate-1\s+\d+s\s+in (9|10)m\s+\[yes\|no\] Send this refund reply/,
    );
    const json = await runCli(['pending', '--json'], env);
    const [record] = JSON.parse(json.stdout) as { createdAt: string; expiresAt: string }[];
    expect(Date.parse(record?.expiresAt ?? '') - Date.parse(record?.createdAt ?? '')).toBe(600_000);
  });

  it('prints JSON for scripts from respond and retry', async () => {
    await client.start({ id: 'json-1', request: 'I was charged twice' });
    const [rejected, retry] = await Promise.all([
      runCli(['respond', 'json-1', 'maybe', '--reviewer', 'ana', '--json'], env),
      runCli(['retry', 'json-1', '--json'], env),
    ]);
    expect(rejected.code).toBe(1);
    expect(JSON.parse(rejected.stdout)).toMatchObject({
      accepted: false,
      reason: "answer 'maybe' is not an option; expected one of: yes, no",
    });
    const accepted = await runCli(['respond', 'json-1', 'yes', '--reviewer', 'ana', '--json'], env);
    expect(accepted.code).toBe(0);
    expect(JSON.parse(accepted.stdout)).toMatchObject({ accepted: true });
    // Not parked: nothing to retry, said in one line.
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(/^hitl: [^\n]+\n$/);
  });

  it('carries a traceparent to the reply even with no OpenTelemetry SDK in the worker', async () => {
    await client.submit({ id: 'trace-cli', request: 'login is broken' });
    const reply = await eventually(async () => {
      const rows = await readStream(
        nc,
        subjects.streams.outbound,
        subjects.outboundReply('trace-cli'),
      );
      expect(rows).toHaveLength(1);
      return rows[0];
    });
    expect(reply?.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});
