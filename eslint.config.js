import js from '@eslint/js';
import boundaries from 'eslint-plugin-boundaries';
import { defineConfig, globalIgnores } from 'eslint/config';
import tseslint from 'typescript-eslint';

// The layers of src/ (folders), lowest first: each may import itself and the layers listed.
const LAYERS = {
  base: [],
  nats: ['base'],
  stores: ['nats', 'base'],
  runtime: ['stores', 'nats', 'base'],
  worker: ['runtime', 'stores', 'nats', 'base'],
  // The client reads the stores and publishes; it never hosts a step.
  client: ['stores', 'nats', 'base'],
  // Room for the LangGraph checkpointer: NATS and the stores, not the runtime.
  langgraph: ['stores', 'nats', 'base'],
  cli: ['inbox', 'client', 'worker', 'runtime', 'stores', 'nats', 'base'],
  inbox: ['client', 'worker', 'runtime', 'stores', 'nats', 'base'],
  // src/index.ts, the public barrel: what users may import.
  barrel: ['client', 'worker', 'runtime', 'stores', 'nats', 'base'],
  // The support workflow is the library's first user: it imports the barrel only.
  actors: ['barrel'],
};

export default defineConfig(
  globalIgnores(['node_modules/', 'dist/', 'coverage/', 'bench/results/']),
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // An un-awaited publish is a lost message.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    // `npm run lint` keeps the layers: an import the table above does not allow is an error.
    files: ['src/**/*.ts', 'actors/**/*.ts'],
    plugins: { boundaries },
    settings: {
      'import/resolver': { typescript: { project: './tsconfig.json' } },
      'boundaries/elements': [
        ...Object.keys(LAYERS)
          .filter((type) => type !== 'barrel' && type !== 'actors')
          .map((type) => ({ type, pattern: `src/${type}`, partialMatch: false })),
        { type: 'actors', pattern: 'actors', partialMatch: false },
        { type: 'barrel', pattern: 'src', partialMatch: false },
      ],
    },
    rules: {
      'boundaries/dependencies': [
        'error',
        {
          default: 'disallow',
          policies: Object.entries(LAYERS).map(([type, below]) => ({
            from: { element: { type } },
            allow: { to: { element: { types: { anyOf: [type, ...below] } } } },
          })),
        },
      ],
    },
  },
  {
    // The library logs through its logger; only the CLI prints.
    files: ['src/**/*.ts', 'actors/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: { 'no-console': 'error' },
  },
  {
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  {
    // Plain JavaScript (bin/, this file) is not type-checked (checkJs is off).
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly' },
    },
  },
  {
    // The inbox page: browser modules, type-checked by tsc -p src/inbox/page.
    files: ['src/inbox/page/**/*.js'],
    languageOptions: {
      globals: Object.fromEntries(
        [
          'document',
          'window',
          'location',
          'fetch',
          'Headers',
          'URLSearchParams',
          'EventSource',
          'Event',
          'setInterval',
          'setTimeout',
          'clearTimeout',
        ].map((name) => [name, 'readonly']),
      ),
    },
  },
);
