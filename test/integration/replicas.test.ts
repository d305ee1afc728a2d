import { describe, expect, it } from 'vitest';
import { jetstreamManager } from '@nats-io/jetstream';
import { ReplicasUnavailableError, Subjects } from '../../src/index.js';
import { serverPerFile, startWorker, testConfig, uniquePrefix } from '../helpers/harness.js';

const shared = serverPerFile();

describe('HITL_REPLICAS on a single nats-server', () => {
  it('refuses to start a worker asking for 3 replicas, in one line, creating nothing', async () => {
    const prefix = uniquePrefix('r3');
    const config = testConfig(shared.server, prefix, { HITL_REPLICAS: '3' });
    const err = await startWorker(config).then(
      async (w) => {
        await w.stop();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ReplicasUnavailableError);
    expect((err as Error).message).toBe(
      `HITL_REPLICAS=3 needs a JetStream cluster of at least 3 running nodes, but the server at 127.0.0.1:${shared.server.port} is not part of a cluster (start more nodes, or set HITL_REPLICAS to at most the number of nodes)`,
    );
    const jsm = await jetstreamManager(shared.nc);
    await expect(jsm.streams.info(new Subjects(prefix).streams.tickets)).rejects.toThrow(
      /stream not found/,
    );
  });

  it('starts with HITL_REPLICAS=1', async () => {
    const config = testConfig(shared.server, uniquePrefix('r1'), { HITL_REPLICAS: '1' });
    const worker = await startWorker(config);
    await worker.stop();
  });
});
