import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

// A stand-in for nats-server that records each start's port. Its first start finds its port
// held by another process: that process answers on the port, and this "server" never says it
// is ready and fails to bind a second later, as nats-server does after starting JetStream.
// Later starts listen and say they are ready.
const FAKE_SERVER = `#!/usr/bin/env node
const fs = require('node:fs');
const net = require('node:net');
const port = Number(process.argv[process.argv.indexOf('-p') + 1]);
const state = process.env.FAKE_NATS_STATE;
const starts = fs.existsSync(state) ? fs.readFileSync(state, 'utf8').split(' ').filter(Boolean) : [];
fs.writeFileSync(state, [...starts, port].join(' '));
const first = starts.length === 0;
net.createServer((socket) => socket.end()).listen(port, '127.0.0.1', () => {
  console.error('[1] [INF] Starting nats-server');
  if (first) {
    setTimeout(() => {
      console.error('[1] [FTL] Error listening on port: 127.0.0.1:' + port + ', "bind: address already in use"');
      process.exit(1);
    }, 1000);
  } else {
    console.error('[1] [INF] Server is ready');
  }
});
process.on('SIGTERM', () => process.exit(0));
`;

describe('startNatsServer on a port taken meanwhile', () => {
  it('does not take another process listening on the port for the server, and picks another port', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hitl-fake-nats-'));
    const binary = join(dir, 'nats-server');
    const state = join(dir, 'starts');
    await writeFile(binary, FAKE_SERVER);
    await chmod(binary, 0o755);
    process.env.FAKE_NATS_STATE = state;
    try {
      await using server = await startNatsServer({ binary });
      const starts = (await readFile(state, 'utf8')).split(' ').map(Number);
      expect(starts).toHaveLength(2);
      expect(server.port).toBe(starts[1]);
      expect(server.port).not.toBe(starts[0]);
    } finally {
      delete process.env.FAKE_NATS_STATE;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
