import { spawn, type ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import { access, mkdtemp, rm, stat } from 'node:fs/promises';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const HOST = '127.0.0.1';
const READY_TIMEOUT_MS = 10_000;
const READY_POLL_MS = 25;
/** How long a server that never logs "ready" on stderr must hold its port to count as up. */
const UNANNOUNCED_READY_MS = 3_000;
const STOP_GRACE_MS = 5_000;
const STDERR_TAIL_LINES = 20;
const FALLBACK_DIRS = ['/usr/sbin', '/usr/local/bin', '/usr/bin'];
const INSTALL_HINT =
  'install it with: sudo apt-get install -y nats-server ' +
  '(or see https://docs.nats.io/running-a-nats-service/introduction/installation)';

/**
 * Options for {@link startNatsServer}.
 *
 * @example
 * ```ts
 * await using server = await startNatsServer({ args: ['-m', '8222'] });
 * ```
 */
export interface NatsServerOptions {
  /** Client port; a free port is picked when omitted. */
  port?: number;
  /** JetStream store directory; a temp dir (removed on dispose) is created when omitted. */
  storeDir?: string;
  /** A nats-server configuration file, passed as `-c`; command-line flags take precedence. */
  configFile?: string;
  /** Extra command-line arguments, appended last. */
  args?: string[];
  /** Path to the nats-server binary; searched on PATH and in the usual sbin/bin dirs when omitted. */
  binary?: string;
}

/**
 * A running `nats-server` child process with JetStream enabled, listening on 127.0.0.1.
 *
 * @example
 * ```ts
 * await using server = await startNatsServer();
 * const nc = await connect({ servers: server.url });
 * await server.restart(); // same port, same JetStream data
 * ```
 */
export interface NatsServerHandle {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (`-sd`). */
  readonly storeDir: string;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); keeps the store dir so it can restart. */
  stop(): Promise<void>;
  /** Stops the server and starts it again on the same port and store dir; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** Stops the server and removes the store dir when the launcher created it. Idempotent. */
  dispose(): Promise<void>;
  /** Same as {@link NatsServerHandle.dispose}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts `nats-server -a 127.0.0.1 -p PORT -js -sd STOREDIR` and resolves once it accepts TCP
 * connections. Rejects, after killing the child, when the server exits early (the error quotes
 * the tail of its stderr), when it is not ready within 10 s, or when the binary is missing.
 *
 * @example
 * ```ts
 * const server = await startNatsServer();
 * try {
 *   const nc = await connect({ servers: server.url });
 *   // …
 *   await nc.close();
 * } finally {
 *   await server.dispose();
 * }
 * ```
 */
export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const binary = opts.binary ?? (await findNatsServerBinary());
  if (binary === undefined) throw new Error(`nats-server is not installed; ${INSTALL_HINT}`);

  if (opts.port !== undefined && (await isPortListening(HOST, opts.port))) {
    throw new Error(
      `port ${opts.port} is already in use on ${HOST} (omit 'port' to pick a free one)`,
    );
  }
  const ownsStoreDir = opts.storeDir === undefined;
  const storeDir = opts.storeDir ?? (await mkdtemp(join(tmpdir(), 'hitl-nats-')));

  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort());
    const args = ['-a', HOST, '-p', String(port), '-js', '-sd', storeDir];
    if (opts.configFile !== undefined) args.push('-c', opts.configFile);
    if (opts.args !== undefined) args.push(...opts.args);
    try {
      const proc = await launch(binary, args, port);
      return new NatsServerProcess(binary, args, port, storeDir, ownsStoreDir, proc);
    } catch (err) {
      // A port picked here was free when picked, and taken before the server bound it (by
      // another server started at the same time, or a connection's local port): pick another.
      if (opts.port === undefined && attempt < PORT_ATTEMPTS && isAddressInUse(err)) continue;
      // No handle reaches the caller, so nobody else could remove the dir.
      if (ownsStoreDir) await rm(storeDir, { recursive: true, force: true });
      throw err;
    }
  }
}

/** Ports tried by {@link startNatsServer} when it picks them itself. */
const PORT_ATTEMPTS = 5;

/** Whether a start failed because its port was taken (nats-server says so on stderr). */
export function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message);
}

/**
 * Looks for an executable `nats-server` on PATH, then in /usr/sbin, /usr/local/bin and /usr/bin
 * (Debian installs it in /usr/sbin, which is not on every user's PATH).
 *
 * @example
 * ```ts
 * const binary = await findNatsServerBinary(); // '/usr/sbin/nats-server' or undefined
 * ```
 */
export async function findNatsServerBinary(): Promise<string | undefined> {
  return findExecutable('nats-server');
}

/**
 * Returns the path of `nats-server`, installing it with apt-get when it is missing and the
 * process runs as root on a system that has apt-get (apt's output goes to stderr). Otherwise
 * throws an error that says how to install it.
 *
 * @example
 * ```ts
 * const binary = await ensureNatsServerBinary();
 * await using server = await startNatsServer({ binary });
 * ```
 */
export async function ensureNatsServerBinary(): Promise<string> {
  const found = await findNatsServerBinary();
  if (found !== undefined) return found;

  const aptGet = await findExecutable('apt-get');
  if (aptGet === undefined || process.getuid?.() !== 0) {
    throw new Error(`nats-server is not installed; ${INSTALL_HINT}`);
  }
  await runToStderr(aptGet, ['update']);
  await runToStderr(aptGet, ['install', '-y', 'nats-server']);

  const installed = await findNatsServerBinary();
  if (installed === undefined) {
    throw new Error(`apt-get installed nats-server but no binary was found; ${INSTALL_HINT}`);
  }
  return installed;
}

/**
 * Resolves true when a TCP connection to `host:port` succeeds within `timeoutMs`.
 *
 * @example
 * ```ts
 * if (await isPortListening('127.0.0.1', 4222)) console.log('something listens on 4222');
 * ```
 */
export async function isPortListening(
  host: string,
  port: number,
  timeoutMs = 300,
): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (listening: boolean): void => {
      socket.destroy();
      resolve(listening);
    };
    socket.setTimeout(timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('timeout', () => done(false));
    socket.once('error', () => done(false));
  });
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  error?: Error;
}

/** One spawned nats-server process; a restart makes a new one. */
interface ServerProcess {
  child: ChildProcess;
  /** Set once the process is gone (or failed to spawn). */
  exit: Exit | undefined;
  exited: Promise<Exit>;
  stderrTail: string[];
  /** It logged {@link READY_LINE}. */
  readySeen?: boolean;
}

/** What nats-server logs (at its default level) once it accepts clients. */
export const READY_LINE = 'Server is ready';

class NatsServerProcess implements NatsServerHandle {
  readonly url: string;
  // Serializes stop/restart/dispose so concurrent calls never race on the child.
  #queue: Promise<unknown> = Promise.resolve();
  #disposed = false;

  constructor(
    private readonly binary: string,
    private readonly args: readonly string[],
    readonly port: number,
    readonly storeDir: string,
    private readonly ownsStoreDir: boolean,
    private proc: ServerProcess | undefined,
  ) {
    this.url = `nats://${HOST}:${port}`;
  }

  stop(): Promise<void> {
    return this.#serialize(async () => {
      if (this.proc !== undefined) await terminate(this.proc);
      this.proc = undefined;
    });
  }

  restart(): Promise<void> {
    return this.#serialize(async () => {
      if (this.#disposed)
        throw new Error(`nats-server on port ${this.port} was disposed; start a new one`);
      if (this.proc !== undefined) await terminate(this.proc);
      this.proc = undefined;
      this.proc = await launch(this.binary, this.args, this.port);
    });
  }

  dispose(): Promise<void> {
    return this.#serialize(async () => {
      this.#disposed = true;
      if (this.proc !== undefined) await terminate(this.proc);
      this.proc = undefined;
      if (this.ownsStoreDir) await rm(this.storeDir, { recursive: true, force: true });
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  #serialize(op: () => Promise<void>): Promise<void> {
    const next = this.#queue.then(op);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

// Children still running when this process exits are killed, so an aborted test run or a crashed
// demo does not leave orphan servers holding ports and store dirs.
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function trackChild(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of liveChildren) c.kill('SIGKILL');
    });
  }
  liveChildren.add(child);
}

async function launch(
  binary: string,
  args: readonly string[],
  port: number,
): Promise<ServerProcess> {
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  trackChild(child);
  const stderrTail: string[] = [];
  let partial = '';
  // Drained for the whole life of the server: nats-server logs to stderr, and a full pipe would
  // block it.
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    stderrTail.push(...lines.filter((l) => l.trim() !== ''));
    if (lines.some((l) => l.includes(READY_LINE))) proc.readySeen = true;
    if (stderrTail.length > STDERR_TAIL_LINES)
      stderrTail.splice(0, stderrTail.length - STDERR_TAIL_LINES);
  });

  const proc: ServerProcess = {
    child,
    exit: undefined,
    stderrTail,
    exited: new Promise<Exit>((resolve) => {
      const settle = (exit: Exit): void => {
        if (proc.exit !== undefined) return;
        if (partial.trim() !== '') stderrTail.push(partial);
        partial = '';
        liveChildren.delete(child);
        proc.exit = exit;
        resolve(exit);
      };
      // 'close' (not 'exit') so that stderr has been read to the end.
      child.once('close', (code, signal) => settle({ code, signal }));
      child.once('error', (error) => settle({ code: null, signal: null, error }));
    }),
  };

  try {
    await waitUntilReady(proc, port);
    return proc;
  } catch (err) {
    await terminate(proc);
    throw err;
  }
}

async function waitUntilReady(proc: ServerProcess, port: number): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let listeningSince: number | undefined;
  for (;;) {
    // Checked before and after the probe: a server that dies right away may leave the port to
    // someone else, and nats-server exits with status 0 even on a bad flag.
    if (proc.exit !== undefined) throw earlyExitError(proc, proc.exit);
    const listening = await isPortListening(HOST, port, 250);
    if (proc.exit !== undefined) throw earlyExitError(proc, proc.exit);
    // Something listens on the port; it is this server once it says it is ready. Another
    // process may hold the port while this one starts JetStream, then fails to bind it. A
    // server whose configuration logs to a file says nothing here: then the port, held while
    // the server stays up for UNANNOUNCED_READY_MS, is all there is to go by.
    if (listening) {
      if (proc.readySeen) return;
      listeningSince ??= Date.now();
      if (Date.now() - listeningSince >= UNANNOUNCED_READY_MS) return;
    } else {
      listeningSince = undefined;
    }
    if (Date.now() >= deadline) {
      throw new Error(
        `nats-server did not accept connections on ${HOST}:${port} within ${READY_TIMEOUT_MS} ms` +
          stderrSuffix(proc),
      );
    }
    await sleep(READY_POLL_MS);
  }
}

function earlyExitError(proc: ServerProcess, exit: Exit): Error {
  if (exit.error !== undefined) {
    return new Error(`could not run nats-server: ${exit.error.message}`, { cause: exit.error });
  }
  const how = exit.signal !== null ? `signal ${exit.signal}` : `exit code ${String(exit.code)}`;
  return new Error(`nats-server exited before accepting connections (${how})${stderrSuffix(proc)}`);
}

function stderrSuffix(proc: ServerProcess): string {
  return proc.stderrTail.length === 0
    ? '; it wrote nothing to stderr'
    : `; last stderr lines:\n${proc.stderrTail.join('\n')}`;
}

async function terminate(proc: ServerProcess): Promise<void> {
  if (proc.exit !== undefined) return;
  proc.child.kill('SIGTERM');
  const timer = new AbortController();
  const grace = sleep(STOP_GRACE_MS, 'timeout' as const, { signal: timer.signal }).catch(
    () => 'exited' as const,
  );
  const outcome = await Promise.race([proc.exited.then(() => 'exited' as const), grace]);
  timer.abort();
  if (outcome === 'timeout') {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
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

async function findExecutable(name: string): Promise<string | undefined> {
  const pathDirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  for (const dir of new Set([...pathDirs, ...FALLBACK_DIRS])) {
    const candidate = join(dir, name);
    try {
      if (!(await stat(candidate)).isFile()) continue;
      await access(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      // Not here (or not executable); try the next directory.
    }
  }
  return undefined;
}

async function runToStderr(command: string, args: string[]): Promise<void> {
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 2, 2],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    child.once('error', reject);
    child.once('close', (c) => resolve(c));
  });
  if (code !== 0) {
    throw new Error(
      `'${command} ${args.join(' ')}' failed (exit code ${String(code)}); ${INSTALL_HINT}`,
    );
  }
}
