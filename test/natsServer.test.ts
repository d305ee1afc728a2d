import { existsSync } from 'node:fs';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPortListening, startNatsServer, type NatsServerHandle } from '../src/cli/natsServer.js';

describe('startNatsServer', () => {
  let server: NatsServerHandle;

  beforeAll(async () => {
    server = await startNatsServer();
  });

  afterAll(async () => {
    await server.dispose();
  });

  it('starts a server that answers requests on a free local port', async () => {
    expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
    const nc = await connect({ servers: server.url });
    try {
      nc.subscribe('test.echo', {
        callback: (_err, msg) => {
          msg.respond(`echo ${msg.string()}`);
        },
      });
      await nc.flush();
      const reply = await nc.request('test.echo', 'hello', { timeout: 2_000 });
      expect(reply.string()).toBe('echo hello');
    } finally {
      await nc.close();
    }
  });

  it('restarts on the same port and keeps JetStream data', async () => {
    const port = server.port;
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'RESTART_TEST', subjects: ['restart-test.>'] });
      const ack = await jetstream(nc).publish('restart-test.one', 'kept');
      expect(ack.seq).toBe(1);
    } finally {
      await nc.close();
    }

    await server.restart();
    expect(server.port).toBe(port);

    const nc2 = await connect({ servers: server.url });
    try {
      const info = await (await jetstreamManager(nc2)).streams.info('RESTART_TEST');
      expect(info.state.messages).toBe(1);
    } finally {
      await nc2.close();
    }
  });
});

describe('NatsServerHandle disposal', () => {
  it('stops the server and removes the temp store dir it created', async () => {
    let storeDir: string;
    let port: number;
    {
      await using server = await startNatsServer();
      storeDir = server.storeDir;
      port = server.port;
      expect(existsSync(storeDir)).toBe(true);
    }
    expect(existsSync(storeDir)).toBe(false);
    expect(await isPortListening('127.0.0.1', port)).toBe(false);
  });

  it('keeps the store dir on stop so a restart can reuse it', async () => {
    const server = await startNatsServer();
    try {
      await server.stop();
      expect(await isPortListening('127.0.0.1', server.port)).toBe(false);
      expect(existsSync(server.storeDir)).toBe(true);
      await server.restart();
      expect(await isPortListening('127.0.0.1', server.port)).toBe(true);
    } finally {
      await server.dispose();
    }
    expect(existsSync(server.storeDir)).toBe(false);
  });
});

describe('startNatsServer failures', () => {
  it('rejects with the stderr of a server that exits early', async () => {
    await expect(startNatsServer({ args: ['--this-flag-does-not-exist'] })).rejects.toThrow(
      /exited before accepting connections[\s\S]*flag provided but not defined/,
    );
  });

  it('rejects with a clear message when the binary cannot run', async () => {
    await expect(startNatsServer({ binary: '/nonexistent/nats-server' })).rejects.toThrow(
      /could not run nats-server: .*ENOENT/,
    );
  });
});
