import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = (path: string): string => fileURLToPath(new URL(`../../${path}`, import.meta.url));
const BARRELS = ['src/index.ts', 'actors/index.ts'];

/** The names a barrel exports, each with whether its declaration carries a TSDoc comment. */
function exportsOf(program: ts.Program, file: string): { name: string; documented: boolean }[] {
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(root(file));
  const module = source && checker.getSymbolAtLocation(source);
  if (!module) throw new Error(`'${file}' is not a module of the program`);
  return checker.getExportsOfModule(module).map((exported) => {
    const symbol =
      exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const documented = (symbol.declarations ?? []).some((d) => {
      // A `const` carries its comment on the statement, two levels up.
      const node = ts.isVariableDeclaration(d) ? d.parent.parent : d;
      return ts.getJSDocCommentsAndTags(node).length > 0;
    });
    return { name: exported.name, documented };
  });
}

describe('the public surface', () => {
  const program = ts.createProgram(BARRELS.map(root), {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });

  it.each(BARRELS)('documents every name %s exports with TSDoc', (barrel) => {
    const names = exportsOf(program, barrel);
    expect(names.length).toBeGreaterThan(20);
    expect(names.filter((n) => !n.documented).map((n) => n.name)).toEqual([]);
  });

  it.each(BARRELS)('lists every name %s exports: no export *', async (barrel) => {
    const text = await readFile(root(barrel), 'utf8');
    expect(text).not.toMatch(/export \*/);
  });

  it('keeps the nats-server launcher and the step engine out of the library', () => {
    const names = exportsOf(program, 'src/index.ts').map((n) => n.name);
    expect(names).toEqual(expect.arrayContaining(['defineActor', 'Worker', 'HitlClient']));
    for (const internal of [
      'startNatsServer',
      'ensureNatsServerBinary',
      'findNatsServerBinary',
      'isPortListening',
      'NatsServerHandle',
      'ActorHost',
    ]) {
      expect(names).not.toContain(internal);
    }
  });
});
