import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

// `npm run lint` keeps the layers (eslint.config.js): these lint a line of source as if it
// stood in a real file of a layer, and expect the boundaries rule to refuse an upward import.
const eslint = new ESLint({ cwd: fileURLToPath(new URL('../../', import.meta.url)) });

async function layerErrors(filePath: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === 'boundaries/dependencies')
    .map((m) => m.message);
}

describe('the layer check', () => {
  it('refuses an import from a higher layer and allows one from a lower', async () => {
    expect(
      await layerErrors(
        'src/base/errors.ts',
        "import type { Worker } from '../worker/worker.js';\nexport type Up = Worker;\n",
      ),
    ).toEqual([expect.stringMatching(/"base" to elements of type "worker"/)]);
    expect(
      await layerErrors(
        'src/client/parked.ts',
        "import type { Subjects } from '../nats/subjects.js';\nexport type Down = Subjects;\n",
      ),
    ).toEqual([]);
  }, 180_000);

  it('lets the support workflow import the library through its barrel only', async () => {
    const source = (from: string) =>
      `import type { HitlEmitted } from '${from}';\nexport type E = HitlEmitted;\n`;
    expect(await layerErrors('actors/model.ts', source('../src/runtime/effects.js'))).toEqual([
      expect.stringMatching(/"actors" to elements of type "runtime"/),
    ]);
    expect(await layerErrors('actors/model.ts', source('../src/index.js'))).toEqual([]);
  }, 180_000);
});
