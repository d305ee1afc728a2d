import { describe, expect, it } from 'vitest';
import { runCli, spawnCli, waitForOutput, exitOf } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import { publishRaw, serverPerFile, workflowScope } from '../helpers/harness.js';

// What customers and reviewers write reaches the terminal of whoever runs hitl pending, show
// or tap: escape sequences in it are printed escaped. And NATS_URL's password is never printed.
const shared = serverPerFile();
const ESC = '\u001b';
// eslint-disable-next-line no-control-regex -- it looks for raw control characters
const RAW = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;

describe('hitl output', () => {
  it('prints customer text and reviewer names with their control characters escaped', async () => {
    await using t = workflowScope(shared.server, 'safe');
    await t.worker();
    const env = {
      NATS_URL: shared.server.url,
      HITL_PREFIX: t.subjects.prefix,
      HITL_MODEL_PROVIDER: 'mock',
    };
    const request = `I want a refund${ESC}[2J${ESC}]0;owned\u0007 \u009b31m`;
    await t.client.start({ id: 'safe-1', request });
    await publishRaw(shared.nc, t.subjects.respond('safe-1'), {
      answer: 'maybe',
      reviewer: `mallory${ESC}[8m`,
    });
    await eventually(async () => {
      const shown = await runCli(['show', 'safe-1'], env);
      expect(shown.stdout).toContain('response_rejected');
      expect(shown.stdout).not.toMatch(RAW);
      expect(shown.stdout).toContain('refund\\x1b[2J\\x1b]0;owned\\x07 \\x9b31m');
      expect(shown.stdout).toContain('mallory\\x1b[8m');
    });
    const pending = await runCli(['pending'], env);
    expect(pending.stdout).toContain('safe-1');
    expect(pending.stdout).not.toMatch(RAW);
    const json = await runCli(['show', 'safe-1', '--json'], env);
    expect(json.stdout).not.toMatch(RAW);
    const parsed = JSON.parse(json.stdout) as { events: { data: { request?: string } }[] };
    expect(parsed.events[0]?.data.request).toBe(request);
  }, 120_000);

  it('masks the password of NATS_URL in the ready line and in errors', async () => {
    const port = new URL(shared.server.url).port;
    const worker = spawnCli(['worker'], {
      NATS_URL: `nats://hitl:s3cret-pw@127.0.0.1:${port}`,
      HITL_MODEL_PROVIDER: 'mock',
    });
    const ready = await waitForOutput(worker, /hitl worker ready/, 60_000);
    worker.kill('SIGTERM');
    await exitOf(worker, 30_000);
    expect(ready).toContain(`nats: nats://hitl:***@127.0.0.1:${port}`);
    expect(ready).not.toContain('s3cret-pw');

    const failed = await runCli(['pending'], { NATS_URL: 'nats://hitl:s3cret-pw@127.0.0.1:1' });
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(
      /^hitl: cannot connect to NATS at nats:\/\/hitl:\*\*\*@127\.0\.0\.1:1: /,
    );
    expect(failed.stderr).not.toContain('s3cret-pw');
  }, 120_000);
});
