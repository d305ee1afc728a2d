import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A checkout of an earlier commit of this repository, to run beside the code under test. */
export interface LandedVersion {
  /** The commit, as given. */
  readonly commit: string;
  /** Where its files are (its `node_modules` is this clone's). */
  readonly dir: string;
  /**
   * Spawns its `bin/hitl.js <args>` (TypeScript through tsx, as shipped), from `dir`, with
   * this process's environment, `HITL_LOG_LEVEL=warn` and `env` on top. Stdout and stderr are
   * piped.
   */
  spawnCli(args: string[], env: Record<string, string>): ChildProcess;
  /** Kills the processes it spawned that still run, and removes `dir`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Extracts `commit` of this clone (`git archive | tar -x`) into a temporary directory, for an
 * upgrade test: a worker or CLI of the landed version beside the current one. Its
 * `node_modules` is a symlink to this clone's, so it runs with the current dependencies.
 * Fails with a clear message when the commit is not in the clone (a shallow clone, say).
 *
 * @example
 * await using landed = await landedVersion('1b3c67b');
 * const worker = landed.spawnCli(['worker'], { NATS_URL: server.url });
 */
export async function landedVersion(commit: string): Promise<LandedVersion> {
  try {
    await run('git', ['-C', REPO, 'cat-file', '-e', `${commit}^{commit}`]);
  } catch {
    throw new Error(
      `commit '${commit}' is not in this clone (${REPO}): upgrade tests run the landed version from git history; fetch it (git fetch --unshallow) or run them in a full clone`,
    );
  }
  const dir = await mkdtemp(join(tmpdir(), `hitl-landed-${commit.slice(0, 12)}-`));
  const children = new Set<ChildProcess>();
  try {
    await run('sh', ['-c', 'git -C "$1" archive "$2" | tar -x -C "$3"', 'sh', REPO, commit, dir]);
    await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`cannot extract commit '${commit}' into ${dir}: ${String(err)}`, {
      cause: err,
    });
  }
  return {
    commit,
    dir,
    spawnCli(args, env) {
      const child = spawn(process.execPath, [join(dir, 'bin', 'hitl.js'), ...args], {
        cwd: dir,
        env: { ...process.env, HITL_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(
        [...children].map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGKILL');
            }),
        ),
      );
      await rm(dir, { recursive: true, force: true });
    },
  };
}
