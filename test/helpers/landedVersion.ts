import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The commit of the last landed version before this round: what deployed workers run, and what
 * paused workflows were stored by. Upgrade tests run a worker of it beside the new code.
 */
export const LANDED_COMMIT = '1b3c67b';

/**
 * The last landed commit of all (the base of this round's branches): what stored the values that
 * the storage-format tests read.
 */
export const LAST_LANDED_COMMIT = '7eacdda';

/**
 * The landed commit that first read storage format 2 (HITL_STORAGE_FORMAT): from it, a rollout
 * runs with format 2, the default since.
 */
export const FORMAT_2_LANDED_COMMIT = 'd306db2';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A checkout of the landed version, with this repository's node_modules linked in. */
export interface LandedVersion {
  dir: string;
  /** Spawns `hitl <args>` of the landed version (its bin runs its TypeScript through tsx). */
  spawnCli(args: string[], env: Record<string, string>): ChildProcess;
  [Symbol.dispose](): void;
}

/**
 * Extracts {@link LANDED_COMMIT} from this clone's history into a temporary folder. Throws with
 * what to do when the clone lacks the commit (a shallow clone).
 */
export function landedVersion(commit = LANDED_COMMIT): LandedVersion {
  try {
    execFileSync('git', ['cat-file', '-e', `${commit}^{commit}`], { cwd: ROOT, stdio: 'ignore' });
  } catch {
    throw new Error(
      `landed version ${commit} is not in this clone's history (a shallow clone?): run 'git fetch --unshallow' to test upgrades`,
    );
  }
  const dir = mkdtempSync(join(tmpdir(), `hitl-landed-${commit}-`));
  const tar = execFileSync('git', ['archive', '--format=tar', commit], {
    cwd: ROOT,
    maxBuffer: 256 * 1024 * 1024,
  });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return {
    dir,
    spawnCli(args, env) {
      // Later commits' bin runs the compiled CLI only: their sources run through tsx instead.
      const main = join(dir, 'src/cli/main.ts');
      const runs = readFileSync(join(dir, 'bin/hitl.js'), 'utf8').includes('dist/src/cli')
        ? ['--import', 'tsx', main]
        : [join(dir, 'bin/hitl.js')];
      return spawn(process.execPath, [...runs, ...args], {
        cwd: dir,
        env: { ...process.env, HITL_LOG_LEVEL: 'warn', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
    [Symbol.dispose]() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
