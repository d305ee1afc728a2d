import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

// Help and usage errors need no server: nothing here connects.
const COMMANDS = [
  'worker',
  'submit',
  'pending',
  'parked',
  'respond',
  'show',
  'tap',
  'retry',
  'cancel',
  'inbox',
  'link',
  'demo',
];
const env = { NATS_URL: 'nats://127.0.0.1:1', HITL_MODEL_PROVIDER: 'mock' };

describe('hitl CLI help', () => {
  it('prints help with examples for every command, with --help, -h and hitl help', async () => {
    const runs = await Promise.all([
      ...COMMANDS.map((c) => runCli([c, '--help'], env, 80_000)),
      runCli(['respond', '-h'], env, 80_000),
      runCli(['help', 'respond'], env, 80_000),
      runCli(['--help'], env, 80_000),
    ]);
    COMMANDS.forEach((c, i) => {
      const run = runs[i];
      expect(run?.code).toBe(0);
      expect(run?.stdout).toMatch(new RegExp(`^usage: hitl ${c}`));
      expect(run?.stdout).toMatch(new RegExp(`examples:\\n  hitl ${c}`));
    });
    const [short, viaHelp, top] = runs.slice(COMMANDS.length);
    expect(short?.stdout).toBe(runs[COMMANDS.indexOf('respond')]?.stdout);
    expect(viaHelp?.stdout).toBe(short?.stdout);
    expect(top?.stdout).toMatch(/exit codes: 0 ok; 1 failed .*; 2 usage error/);
    // Fifteen CLI processes at once: slow on a loaded machine.
  }, 90_000);

  it('says what to do in one line, with exit code 2 for usage errors', async () => {
    const [bogus, timeout, none, noReason] = await Promise.all([
      runCli(['respond', 'wf', 'yes', '--reviewer', 'ana', '--bogus'], env),
      runCli(['submit', 'hi', '--wait', '--timeout', 'soon'], env),
      runCli([], env),
      runCli(['cancel', 'wf'], env),
    ]);
    expect(noReason).toMatchObject({
      code: 2,
      stderr: 'hitl: cancel needs --reason TEXT (why it ends is recorded in the event)\n',
    });
    expect(bogus).toMatchObject({
      code: 2,
      stderr: "hitl: Unknown option '--bogus' (see hitl respond --help)\n",
    });
    expect(timeout).toMatchObject({
      code: 2,
      stderr: "hitl: --timeout must be a positive integer of milliseconds, got 'soon'\n",
    });
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/^hitl: human-in-the-loop workflows on NATS/);
  });
});
