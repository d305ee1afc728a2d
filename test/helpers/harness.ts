import { jetstream, DeliverPolicy } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createActors } from '../../actors/index.js';
import type { Subjects } from '../../src/index.js';
import {
  createLogger,
  EventEnvelopeSchema,
  HitlClient,
  loadConfig,
  startNatsServer,
  Worker,
  type ActorDefinition,
  type EventEnvelope,
  type HitlConfig,
  type NatsServerHandle,
  type TicketIntake,
} from '../../src/index.js';

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

export function testConfig(
  server: { url: string },
  prefix: string,
  env: Record<string, string> = {},
): HitlConfig {
  return loadConfig({
    NATS_URL: server.url,
    HITL_PREFIX: prefix,
    HITL_MODEL_PROVIDER: 'mock',
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
    logger: createLogger({}, 'silent'),
  });
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
