import * as vitest from 'vitest';
import { JetStreamSaver } from '../../src/langgraph/index.js';
import { serverPerFile, uniquePrefix } from '../helpers/harness.js';

// LangGraph's own conformance suite for checkpointers (@langchain/langgraph-checkpoint-validation),
// run against a real nats-server. Its spec files call vitest's globals (`describe`, `it`,
// `beforeEach`, …), which this project does not turn on: they are set here, for this file's
// worker only, before the suite is loaded. The name "JetStreamSaver" is none of those the suite
// skips tests for (MemorySaver, the SQLite and MongoDB packages), so every test runs.
const g = globalThis as Record<string, unknown>;
for (const name of [
  'describe',
  'it',
  'test',
  'expect',
  'beforeAll',
  'afterAll',
  'beforeEach',
  'afterEach',
] as const) {
  g[name] = vitest[name];
}
const { validate } = await import('@langchain/langgraph-checkpoint-validation');

const shared = serverPerFile();

validate({
  checkpointerName: 'JetStreamSaver',
  // Each instance gets its own bucket: the suite lists "all threads" and expects only its own.
  createCheckpointer: () => JetStreamSaver.create({ nc: shared.nc, prefix: uniquePrefix('lgc') }),
  destroyCheckpointer: (saver: JetStreamSaver) => saver.destroy(),
});
