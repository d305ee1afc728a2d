import { fileURLToPath } from 'node:url';
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll } from 'vitest';
import { connectNats, loadConfig, type HitlConfig, type Worker } from '../../src/index.js';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.js';
import { started as startedIn, startWorker } from './harness.js';

/** The shipped example configuration, as it is (its roles name the default prefix `hitl`). */
export const SHIPPED_CONF = fileURLToPath(
  new URL('../../deploy/nats-server.conf', import.meta.url),
);

/** The users of deploy/nats-server.conf and the passwords the tests give them. */
export const PASSWORDS = {
  publisher: 'pub-pw',
  ana: 'ana-pw',
  bo: 'bo-pw',
  inbox: 'inbox-pw',
  operator: 'op-pw',
  worker: 'wrk-pw',
} as const;
export type Role = keyof typeof PASSWORDS;

/** Each user's own reply prefix, the only one the configuration lets it subscribe to. */
export const INBOX_PREFIX: Record<Role, string> = {
  publisher: '_INBOX_publisher',
  ana: '_INBOX_reviewer',
  bo: '_INBOX_reviewer',
  inbox: '_INBOX_inbox',
  operator: '_INBOX_operator',
  worker: '_INBOX_worker',
};

/** A test file's nats-server started with the shipped roles, and a worker of the worker role. */
export interface ShippedServer {
  readonly server: NatsServerHandle;
  readonly worker: Worker;
  /** A connection of the worker role, to count what streams hold. */
  readonly admin: NatsConnection;
  /** The environment of a CLI or client run as `role` (`env` on top). */
  readonly env: (role: Role, env?: Record<string, string>) => Record<string, string>;
  readonly config: (role: Role, env?: Record<string, string>) => HitlConfig;
  /** Runs `fn` with a connection of `role`, closed afterwards. */
  readonly as: <T>(role: Role, fn: (nc: NatsConnection) => Promise<T>) => Promise<T>;
  /** How many messages `stream` holds. */
  readonly stored: (stream: string) => Promise<number>;
}

/**
 * Starts one nats-server with deploy/nats-server.conf for the calling test file, and a worker
 * connected as the worker role with HITL_REVIEWER_FROM_SUBJECT=true (the setup the
 * configuration recommends); stops both after the file's tests.
 */
export function shippedRolesServer(): ShippedServer {
  let server: NatsServerHandle | undefined;
  let worker: Worker | undefined;
  let admin: NatsConnection | undefined;
  const started = <T>(value: T | undefined): T => startedIn(value, 'the shipped-roles server');
  const env = (role: Role, extra: Record<string, string> = {}): Record<string, string> => ({
    NATS_URL: started(server).url,
    NATS_USER: role,
    NATS_PASS: PASSWORDS[role],
    NATS_INBOX_PREFIX: INBOX_PREFIX[role],
    HITL_MODEL_PROVIDER: 'mock',
    HITL_REVIEWER_FROM_SUBJECT: 'true',
    ...extra,
  });
  const config = (role: Role, extra: Record<string, string> = {}): HitlConfig =>
    loadConfig(env(role, extra));
  beforeAll(async () => {
    // nats-server reads the users' passwords from its environment.
    for (const [role, password] of Object.entries(PASSWORDS)) {
      process.env[`HITL_${role.toUpperCase()}_PASSWORD`] = password;
    }
    server = await startNatsServer({ configFile: SHIPPED_CONF });
    worker = await startWorker(config('worker'));
    admin = await connectNats(config('worker').nats);
  });
  afterAll(async () => {
    await admin?.close();
    await worker?.stop();
    await server?.dispose();
  });
  return {
    get server() {
      return started(server);
    },
    get worker() {
      return started(worker);
    },
    get admin() {
      return started(admin);
    },
    env,
    config,
    as: async (role, fn) => {
      const nc = await connectNats(config(role).nats);
      try {
        return await fn(nc);
      } finally {
        await nc.close();
      }
    },
    stored: async (stream) => {
      const jsm = await jetstreamManager(started(admin));
      return (await jsm.streams.info(stream)).state.messages;
    },
  };
}

/** What the server said when it refused `fn`; throws when `fn` succeeds. */
export async function refusal(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    return String((err as Error).message);
  }
  throw new Error('the server allowed it');
}
