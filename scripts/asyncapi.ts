// Writes docs/asyncapi.json from the runtime's zod schemas (npm run asyncapi).
import { writeFileSync } from 'node:fs';
import { buildAsyncApi } from '../src/nats/asyncapi.js';

writeFileSync(
  new URL('../docs/asyncapi.json', import.meta.url),
  `${JSON.stringify(buildAsyncApi(), null, 2)}\n`,
);
