import { jetstream, jetstreamManager, DeliverPolicy } from '@nats-io/jetstream';
import { afterAll, beforeAll } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createActors } from '../../actors/index.js';
import {
  Subjects,
  createLogger,
  EventEnvelopeSchema,
  HitlClient,
  loadConfig,
  Worker,
  type ActorDefinition,
  type EventEnvelope,
  type HitlConfig,
  type LogLevel,
  type TicketIntake,
} from '../../src/index.js';
import { startNatsServer, type NatsServerHandle } from '../../src/cli/natsServer.js';
import { eventually } from './eventually.js';

const decoder = new TextDecoder();
let counter = 0;

/** A unique subject prefix, so tests sharing one server never see each other's messages. */
export function uniquePrefix(name = 't'): string {
  counter += 1;
  return `${name}${process.pid}x${counter}${Date.now().toString(36)}`;
}

/** One nats-server per test file, started by the harness (free port, temp store). */
export async function startServer(): Promise<NatsServerHandle> {
  return startNatsServer();
}

/**
 * `value` as the file's `beforeAll` set it; reading it before that throws, saying `what` starts
 * there.
 */
export function started<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`${what} starts in beforeAll`);
  return value;
}

/** A test file's nats-server and a plain connection to it (see {@link serverPerFile}). */
export interface FileServer {
  readonly server: NatsServerHandle;
  readonly nc: NatsConnection;
}

/**
 * Starts one nats-server for the calling test file before its tests, with a plain connection
 * to it, and stops both after them. Call it at the top level of the file.
 *
 * @example
 * const shared = serverPerFile();
 * it('…', async () => { await publishRaw(shared.nc, …); });
 */
export function serverPerFile(): FileServer {
  let server: NatsServerHandle | undefined;
  let nc: NatsConnection | undefined;
  beforeAll(async () => {
    server = await startServer();
    nc = await rawConnection(server);
  });
  afterAll(async () => {
    await nc?.close();
    await server?.dispose();
  });
  return {
    get server() {
      return started(server, 'the file server');
    },
    get nc() {
      return started(nc, 'the file server');
    },
  };
}

export function testConfig(
  server: { url: string },
  prefix: string,
  env: Record<string, string> = {},
): HitlConfig {
  return loadConfig({
    NATS_URL: server.url,
    HITL_PREFIX: prefix,
    HITL_MODEL_PROVIDER: 'mock',
    // `HITL_STORAGE_FORMAT=1 npx vitest run …` runs a suite's workers with format 1 (spawned
    // workers inherit it from the environment).
    ...(process.env.HITL_STORAGE_FORMAT
      ? { HITL_STORAGE_FORMAT: process.env.HITL_STORAGE_FORMAT }
      : {}),
    ...env,
  });
}

export async function startWorker(
  config: HitlConfig,
  options: {
    definitions?: ActorDefinition[];
    intake?: TicketIntake | null;
    kinds?: string[];
    concurrency?: number;
  } = {},
): Promise<Worker> {
  const support = createActors(config);
  let definitions = options.definitions ?? support.definitions;
  if (options.kinds) definitions = definitions.filter((d) => options.kinds?.includes(d.kind));
  const intake = options.intake === null ? undefined : (options.intake ?? support.intake);
  return Worker.start({
    config,
    definitions,
    ...(intake && definitions.some((d) => d.kind === intake.actor) ? { intake } : {}),
    concurrency: options.concurrency ?? 16,
    // HITL_TEST_LOG_LEVEL=debug shows the workers' logs while debugging a test.
    logger: createLogger({}, testLogLevel()),
  });
}

function testLogLevel(): LogLevel | 'silent' {
  const level = process.env.HITL_TEST_LOG_LEVEL;
  return level === 'debug' || level === 'info' || level === 'warn' || level === 'error'
    ? level
    : 'silent';
}

export async function connectClient(config: HitlConfig): Promise<HitlClient> {
  return HitlClient.connect({ config });
}

export async function rawConnection(server: { url: string }): Promise<NatsConnection> {
  return connect({ servers: server.url });
}

/** Every message stored on a subject of a stream (deliver all, ordered consumer). */
export async function readStream(
  nc: NatsConnection,
  stream: string,
  filter: string,
): Promise<{ subject: string; data: unknown; headers: Record<string, string> }[]> {
  const js = jetstream(nc);
  const consumer = await js.consumers.get(stream, {
    filter_subjects: filter,
    deliver_policy: DeliverPolicy.All,
  });
  const out: { subject: string; data: unknown; headers: Record<string, string> }[] = [];
  const info = await consumer.info(true);
  let left = info.num_pending;
  if (left === 0) return out;
  const messages = await consumer.consume();
  for await (const m of messages) {
    let data: unknown;
    try {
      data = JSON.parse(decoder.decode(m.data));
    } catch {
      data = decoder.decode(m.data);
    }
    const headers: Record<string, string> = {};
    if (m.headers) for (const [k, v] of m.headers) headers[k] = v.join(',');
    out.push({ subject: m.subject, data, headers });
    left -= 1;
    if (left <= 0 || m.info.pending === 0) break;
  }
  await messages.close();
  return out;
}

/** The events of one workflow stored in the events stream, in order. */
export async function storedEvents(
  nc: NatsConnection,
  subjects: Subjects,
  workflowId: string,
): Promise<EventEnvelope[]> {
  const rows = await readStream(nc, subjects.streams.events, subjects.events(workflowId));
  return rows.map((r) => EventEnvelopeSchema.parse(r.data));
}

export function types(events: EventEnvelope[]): string[] {
  return events.map((e) => e.type);
}

/** How many events of each type. */
export function countTypes(events: EventEnvelope[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const e of events) counts[e.type] = (counts[e.type] ?? 0) + 1;
  return counts;
}

const encoder = new TextEncoder();

/**
 * Publishes to a JetStream subject as any other service would: `payload` as raw bytes, a raw
 * string, or a value to JSON-encode; `msgId` sets the `Nats-Msg-Id` header.
 */
export async function publishRaw(
  nc: NatsConnection,
  subject: string,
  payload: Uint8Array | string | object,
  options: { msgId?: string } = {},
): Promise<{ seq: number; duplicate: boolean }> {
  const data =
    payload instanceof Uint8Array
      ? payload
      : encoder.encode(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const ack = await jetstream(nc).publish(
    subject,
    data,
    options.msgId !== undefined ? { msgID: options.msgId } : {},
  );
  return { seq: ack.seq, duplicate: ack.duplicate };
}

/**
 * Waits until every durable consumer of the prefix (tickets, responses, actor mailboxes) has
 * handed out each stored message and got its ack: the workers have finished with everything
 * published so far, so counting events afterwards sees all they will ever publish for it.
 */
export async function workersIdle(
  nc: NatsConnection,
  subjects: Subjects,
  timeoutMs = 5_000,
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const streams = [subjects.streams.tickets, subjects.streams.responses, subjects.streams.mailbox];
  await eventually(
    async () => {
      for (const stream of streams) {
        for await (const info of jsm.consumers.list(stream)) {
          // Only the workers' durables: a test's own readers (ordered consumers) do not count.
          if (info.config.durable_name === undefined) continue;
          if (info.num_pending > 0 || info.num_ack_pending > 0) {
            throw new Error(
              `consumer '${info.name}' has ${info.num_pending} pending, ${info.num_ack_pending} unacknowledged`,
            );
          }
        }
      }
    },
    { timeout: timeoutMs, message: 'workers never became idle' },
  );
}

/** Runs `fn` over `items` with at most `limit` calls in flight (the runtime's own helper). */
export { mapLimit } from '../../src/nats/streamReads.js';

/**
 * One test's world on a shared server: a unique prefix, its config, the workers it starts and a
 * client, all stopped on dispose. The client opens the KV buckets, which the first worker
 * creates, so it exists once a worker was started.
 *
 * @example
 * await using t = workflowScope(server, 'dur');
 * await t.worker();
 * await t.client.start({ request: 'refund please' });
 */
export function workflowScope(
  server: { url: string },
  name: string,
  env: Record<string, string> = {},
) {
  const prefix = uniquePrefix(name);
  const config = testConfig(server, prefix, env);
  const subjects = new Subjects(prefix);
  const workers: Worker[] = [];
  let client: HitlClient | undefined;
  return {
    config,
    subjects,
    get client(): HitlClient {
      if (!client) throw new Error('start a worker first');
      return client;
    },
    async worker(options: Parameters<typeof startWorker>[1] = {}): Promise<Worker> {
      const worker = await startWorker(config, options);
      workers.push(worker);
      client ??= await connectClient(config);
      return worker;
    },
    async [Symbol.asyncDispose]() {
      await client?.close();
      await Promise.all(workers.map((w) => w.stop()));
    },
  };
}
