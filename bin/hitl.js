#!/usr/bin/env node
// Runs the compiled CLI. `npm pack` and `npm publish` build dist/ first (prepack); in a checkout,
// run `npm run build` once, or run the sources through tsx with `npm run hitl -- <command>`.
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (existsSync(main)) {
  await import(main.href);
} else {
  process.stderr.write(
    "hitl: the CLI is not built (run 'npm run build', or 'npm run hitl -- <command>' to run the sources)\n",
  );
  process.exitCode = 1;
}
