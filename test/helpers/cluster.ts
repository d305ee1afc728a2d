import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import {
  findNatsServerBinary,
  isAddressInUse,
  isPortListening,
  READY_LINE,
} from '../../src/cli/natsServer.js';
import { connectNats } from '../../src/index.js';
import { eventually } from './eventually.js';
import { started } from './harness.js';

const HOST = '127.0.0.1';

/** One nats-server of a {@link NatsCluster}: its ports, store and process. */
export interface ClusterNode {
  readonly name: string;
  /** Client port. */
  readonly port: number;
  readonly url: string;
  /** Route port (`--cluster`). */
  readonly clusterPort: number;
  /** HTTP monitoring port (`/jsz`, `/varz`). */
  readonly monitorPort: number;
  readonly storeDir: string;
}

interface NodeState extends ClusterNode {
  child: ChildProcess | undefined;
  exited: Promise<void> | undefined;
  stderr: string[];
  /** Its current process logged that it is ready. */
  ready: boolean;
}

/** What `/jsz` says about the JetStream meta group, as one node sees it. */
interface Jsz {
  server_name?: string;
  meta_cluster?: { leader?: string; cluster_size?: number };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// Nodes still running when the test process exits are killed: no orphan holds ports or disk.
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/**
 * The leader of `stream` once it has one and two current followers (a node restarted has
 * caught up, so the next fault leaves the group a quorum); throws while it has not.
 */
export async function streamCaughtUp(jsm: JetStreamManager, stream: string): Promise<string> {
  const info = await jsm.streams.info(stream);
  const replicas = info.cluster?.replicas ?? [];
  if (!info.cluster?.leader || replicas.length !== 2 || replicas.some((r) => !r.current)) {
    throw new Error(`${stream} not caught up: ${JSON.stringify(info.cluster)}`);
  }
  return info.cluster.leader;
}

/**
 * A JetStream cluster of nats-server processes on 127.0.0.1 (routes, server names `n1`…,
 * cluster `hitl`), each on free ports with its own temp store, for failover tests: kill, stop
 * (SIGSTOP), continue and restart a node by name; find the meta leader and a stream's leader.
 *
 * @example
 * await using cluster = await NatsCluster.start(3);
 * const nc = await connect({ servers: cluster.urls });
 * await cluster.kill(await cluster.streamLeader(nc, 'KV_hitl_snapshots'));
 */
export class NatsCluster {
  private constructor(
    private readonly binary: string,
    private readonly states: NodeState[],
  ) {}

  static async start(size = 3): Promise<NatsCluster> {
    const binary = await findNatsServerBinary();
    if (binary === undefined) {
      throw new Error(
        'nats-server is not installed; install it with: apt-get install -y nats-server',
      );
    }
    // A port free when picked may be taken before a node binds it (by a server another test
    // file starts at the same time, or a connection's local port): then every node gets new
    // ports and the cluster starts again.
    for (let attempt = 1; ; attempt++) {
      const states: NodeState[] = [];
      for (let i = 1; i <= size; i++) {
        const port = await freePort();
        states.push({
          name: `n${i}`,
          port,
          url: `nats://${HOST}:${port}`,
          clusterPort: await freePort(),
          monitorPort: await freePort(),
          storeDir: await mkdtemp(join(tmpdir(), `hitl-cluster-n${i}-`)),
          child: undefined,
          exited: undefined,
          stderr: [],
          ready: false,
        });
      }
      const cluster = new NatsCluster(binary, states);
      try {
        await Promise.all(states.map((s) => cluster.launch(s)));
        await cluster.waitForMetaLeader();
        return cluster;
      } catch (err) {
        await cluster.dispose();
        if (attempt < 3 && isAddressInUse(err)) continue;
        throw err;
      }
    }
  }

  /** Every node's client URL, comma-separated: a `NATS_URL` for the whole cluster. */
  get urls(): string {
    return this.states.map((s) => s.url).join(',');
  }

  get nodes(): readonly ClusterNode[] {
    return this.states;
  }

  node(name: string): ClusterNode {
    return this.state(name);
  }

  private state(name: string): NodeState {
    const s = this.states.find((n) => n.name === name);
    if (!s)
      throw new Error(`no node '${name}' (nodes: ${this.states.map((n) => n.name).join(', ')})`);
    return s;
  }

  private async launch(s: NodeState): Promise<void> {
    const routes = this.states.map((n) => `nats://${HOST}:${n.clusterPort}`).join(',');
    const args = [
      ...['-a', HOST, '-p', String(s.port), '-n', s.name, '-m', String(s.monitorPort)],
      ...['--cluster_name', 'hitl', '--cluster', `nats://${HOST}:${s.clusterPort}`],
      ...['--routes', routes, '-js', '-sd', s.storeDir],
    ];
    const child = spawn(this.binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    live.add(child);
    s.child = child;
    s.stderr = [];
    s.ready = false;
    let partial = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      if (s.child === child && lines.some((l) => l.includes(READY_LINE))) s.ready = true;
      s.stderr.push(...lines.filter((l) => l.trim() !== ''));
      if (s.stderr.length > 30) s.stderr.splice(0, s.stderr.length - 30);
    });
    s.exited = new Promise((resolve) => {
      child.once('close', () => {
        live.delete(child);
        if (s.child === child) s.child = undefined;
        resolve();
      });
    });
    await eventually(
      // Another process may hold the port while this node starts, until it fails to bind.
      async () => s.child !== child || (s.ready && (await isPortListening(HOST, s.port, 250))),
      { timeout: 15_000, interval: 50, message: `node ${s.name} never listened on ${s.port}` },
    );
    if (s.child !== child) {
      throw new Error(`node ${s.name} exited: ${s.stderr.slice(-5).join(' | ')}`);
    }
  }

  /** Whether the node's process runs (it may be stopped with SIGSTOP). */
  isUp(name: string): boolean {
    return this.state(name).child !== undefined;
  }

  /** SIGKILL: the node dies at once, mid-write, without telling its peers. */
  async kill(name: string): Promise<void> {
    const s = this.state(name);
    if (!s.child) return;
    s.child.kill('SIGCONT');
    s.child.kill('SIGKILL');
    await s.exited;
  }

  /** SIGSTOP: the node hangs; its sockets stay open and say nothing. */
  pause(name: string): void {
    this.state(name).child?.kill('SIGSTOP');
  }

  /** SIGCONT: a paused node goes on. */
  resume(name: string): void {
    this.state(name).child?.kill('SIGCONT');
  }

  /** SIGTERM (a clean shutdown), waited for. */
  async stop(name: string): Promise<void> {
    const s = this.state(name);
    if (!s.child) return;
    s.child.kill('SIGTERM');
    await s.exited;
  }

  /** Starts a node that was killed or stopped, on its ports and store; waits until it listens. */
  async restart(name: string): Promise<void> {
    const s = this.state(name);
    if (s.child) await this.kill(name);
    await this.launch(s);
  }

  /** What `/jsz` of a node says, or undefined when it does not answer. */
  async jsz(name: string): Promise<Jsz | undefined> {
    const s = this.state(name);
    if (!s.child) return undefined;
    try {
      const res = await fetch(`http://${HOST}:${s.monitorPort}/jsz`, {
        signal: AbortSignal.timeout(1_000),
      });
      return (await res.json()) as Jsz;
    } catch {
      return undefined;
    }
  }

  /**
   * The JetStream meta leader's name, once every running node agrees on one (and it runs):
   * waits through an election.
   */
  async waitForMetaLeader(timeoutMs = 30_000): Promise<string> {
    return eventually(
      async () => {
        const up = this.states.filter((s) => s.child !== undefined);
        const seen = await Promise.all(up.map((s) => this.jsz(s.name)));
        const leaders = new Set(seen.map((j) => j?.meta_cluster?.leader ?? ''));
        const [leader] = [...leaders];
        if (leaders.size !== 1 || !leader || !up.some((s) => s.name === leader)) {
          throw new Error(`meta leaders seen: ${[...leaders].join(', ') || 'none'}`);
        }
        return leader;
      },
      { timeout: timeoutMs, interval: 100, message: 'the cluster never agreed on a meta leader' },
    );
  }

  /** The server that leads `stream` now (stream info `cluster.leader`), waiting through an election. */
  async streamLeader(nc: NatsConnection, stream: string, timeoutMs = 30_000): Promise<string> {
    const jsm = await jetstreamManager(nc);
    return eventually(
      async () => {
        const info = await jsm.streams.info(stream);
        const leader = info.cluster?.leader;
        if (!leader) throw new Error(`stream ${stream} has no leader`);
        return leader;
      },
      { timeout: timeoutMs, interval: 100, message: `stream ${stream} never had a leader` },
    );
  }

  /** Kills every node and removes their stores. Idempotent. */
  async dispose(): Promise<void> {
    await Promise.all(this.states.map((s) => this.kill(s.name)));
    await Promise.all(this.states.map((s) => rm(s.storeDir, { recursive: true, force: true })));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }
}

/** A test file's cluster, and a connection that reconnects to any live node by itself. */
export interface FileCluster {
  readonly cluster: NatsCluster;
  readonly nc: NatsConnection;
  readonly jsm: JetStreamManager;
}

/**
 * Starts a cluster of `nodes` for the calling test file before its tests, with a connection to
 * it (as the workers' connections do, it follows any live node), and stops both after them.
 * Call it at the top level of the file, like `serverPerFile()`.
 */
export function clusterPerFile(nodes = 3): FileCluster {
  let cluster: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  beforeAll(async () => {
    cluster = await NatsCluster.start(nodes);
    nc = await connectNats({ url: cluster.urls }, 'test');
    jsm = await jetstreamManager(nc);
  }, 60_000);
  afterAll(async () => {
    await nc?.close();
    await cluster?.dispose();
  });
  return {
    get cluster() {
      return started(cluster, 'the file cluster');
    },
    get nc() {
      return started(nc, 'the file cluster');
    },
    get jsm() {
      return started(jsm, 'the file cluster');
    },
  };
}
