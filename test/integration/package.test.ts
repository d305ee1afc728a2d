import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exitOf, waitForOutput } from '../helpers/cli.js';
import { serverPerFile, uniquePrefix } from '../helpers/harness.js';

// What a new user does: `npm pack`, install the tarball into an empty project, compile the
// README's example against the shipped types with `tsc --strict`, and run it.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const run = promisify(execFile);
const shared = serverPerFile();

/** The environment of a nested npm: none of the calling npm's package or lifecycle settings. */
function npmEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of Object.keys(env)) {
    if (/^npm_(package_|lifecycle_|config_(local_)?prefix$|config_global$)/i.test(key)) {
      delete env[key];
    }
  }
  return env;
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run('npm', args, { cwd, env: npmEnv(), maxBuffer: 16 << 20 });
  return stdout;
}

/** The version of a dev dependency installed here, so the consumer's install hits the cache. */
async function installedVersion(name: string): Promise<string> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'node_modules', name, 'package.json'), 'utf8'));
  return (pkg as { version: string }).version;
}

/** The TypeScript block between the README's example markers, without its fences. */
async function readmeExample(): Promise<string> {
  const readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  const block = /<!-- example:start -->\s*```ts\n([\s\S]*?)```\s*<!-- example:end -->/.exec(readme);
  if (!block?.[1]) throw new Error('README.md has no ```ts block between the example markers');
  return block[1];
}

let temp: string;
let project: string;

beforeAll(async () => {
  temp = await mkdtemp(join(tmpdir(), 'hitl-package-'));
  // prepack builds dist/ first, as `npm publish` does.
  await npm(['pack', '--pack-destination', temp], ROOT);
  const tarball = (await readdir(temp)).find((f) => f.endsWith('.tgz'));
  if (!tarball) throw new Error(`npm pack wrote no tarball into ${temp}`);
  project = join(temp, 'consumer');
  await mkdir(project);
  await writeFile(
    join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
  );
  await writeFile(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        // As `tsc --init` sets it: the dependencies' own declarations are theirs to check.
        skipLibCheck: true,
        types: ['node'],
        outDir: 'out',
      },
      files: ['approval.ts'],
    }),
  );
  await writeFile(join(project, 'approval.ts'), await readmeExample());
  const deps = await Promise.all(
    ['xstate', 'typescript', '@types/node'].map(async (d) => `${d}@${await installedVersion(d)}`),
  );
  await npm(
    ['install', '--prefer-offline', '--no-audit', '--no-fund', join(temp, tarball), ...deps],
    project,
  );
}, 300_000);

afterAll(async () => {
  if (temp) await rm(temp, { recursive: true, force: true });
});

describe('the packed package', () => {
  it("has the README's example as examples/approval.ts, word for word", async () => {
    const file = await readFile(join(ROOT, 'examples/approval.ts'), 'utf8');
    expect(await readmeExample()).toBe(file);
  });

  it('ships compiled ESM with declarations and a working hitl bin, without tests or dev config', async () => {
    const installed = join(project, 'node_modules/hitl-mesh');
    const top = await readdir(installed);
    expect(top).toEqual(expect.arrayContaining(['dist', 'bin', 'package.json', 'README.md']));
    for (const dev of [
      'test',
      'bench',
      'scripts',
      'Dockerfile',
      'tsconfig.json',
      'eslint.config.js',
    ]) {
      expect(top).not.toContain(dev);
    }
    const dist = await readdir(join(installed, 'dist/src'));
    expect(dist).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'index.js.map']));
    const help = await run(join(project, 'node_modules/.bin/hitl'), ['worker', '--help'], {
      cwd: project,
    });
    expect(help.stdout).toMatch(/^usage: hitl worker/);
    const actors = await run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "console.log(typeof (await import('hitl-mesh/actors')).createActors)",
      ],
      { cwd: project },
    );
    expect(actors.stdout.trim()).toBe('function');
  });

  it('compiles the example with tsc --strict, runs its worker, pauses, and resumes from another process', async () => {
    const tsc = join(project, 'node_modules/typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', '.'], { cwd: project });

    const env = {
      ...process.env,
      NATS_URL: shared.server.url,
      HITL_PREFIX: uniquePrefix('pkg'),
      HITL_LOG_LEVEL: 'warn',
    };
    const example = (...args: string[]) =>
      run(process.execPath, ['out/approval.js', ...args], { cwd: project, env, timeout: 60_000 });
    const worker = spawn(process.execPath, ['out/approval.js', 'worker'], {
      cwd: project,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await waitForOutput(worker, /worker ready/, 60_000);
      const started = JSON.parse((await example('start')).stdout) as Record<string, unknown>;
      expect(started).toMatchObject({
        status: 'paused',
        interrupt: { type: 'approval', question: 'Pay 42?', options: ['yes', 'no'] },
      });
      const workflowId = started.workflowId as string;
      const resumed = JSON.parse((await example('resume', workflowId)).stdout) as unknown;
      expect(resumed).toMatchObject({ status: 'completed', workflowId, outcome: 'paid' });
    } finally {
      worker.kill('SIGTERM');
    }
    expect(await exitOf(worker, 30_000, 'the example worker to drain')).toEqual({
      code: 0,
      signal: null,
    });
  }, 180_000);
});
