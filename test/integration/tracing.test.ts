import { jetstream } from '@nats-io/jetstream';
import { headers, type NatsConnection } from '@nats-io/transport-node';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { context, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Subjects, type HitlClient, type Worker } from '../../src/index.js';
import type { NatsServerHandle } from '../../src/cli/natsServer.js';
import { eventually } from '../helpers/eventually.js';
import {
  connectClient,
  rawConnection,
  readStream,
  startServer,
  startWorker,
  testConfig,
  uniquePrefix,
} from '../helpers/harness.js';

// An OpenTelemetry SDK registered the way an application would, exporting to memory.
const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncLocalStorageContextManager().enable();

let server: NatsServerHandle;
let nc: NatsConnection;
let worker: Worker;
let client: HitlClient;
let subjects: Subjects;

beforeAll(async () => {
  trace.setGlobalTracerProvider(provider);
  context.setGlobalContextManager(contextManager);
  server = await startServer();
  nc = await rawConnection(server);
  const prefix = uniquePrefix('trace');
  subjects = new Subjects(prefix);
  const config = testConfig(server, prefix);
  worker = await startWorker(config);
  client = await connectClient(config);
});

afterAll(async () => {
  await client?.close();
  await worker?.stop();
  await nc?.close();
  await server?.dispose();
  await provider.shutdown();
  trace.disable();
  context.disable();
});

function stepSpans(workflowId: string): ReadableSpan[] {
  return exporter.getFinishedSpans().filter((s) => s.attributes['hitl.workflow_id'] === workflowId);
}

async function outboundTraceparent(workflowId: string): Promise<string | undefined> {
  const rows = await readStream(nc, subjects.streams.outbound, subjects.outboundReply(workflowId));
  return rows[0]?.headers.traceparent;
}

describe('W3C trace context', () => {
  it('makes one ticket one trace: every step a span, the reply carrying its trace id', async () => {
    const paused = await client.start({ id: 'tr-1', request: 'I want a refund' });
    expect(paused.status).toBe('paused');
    const done = await client.resume('tr-1', { resume: 'yes', reviewer: 'ana' });
    expect(done).toMatchObject({ status: 'completed', outcome: 'sent' });

    const spans = await eventually(() => {
      const found = stepSpans('tr-1');
      expect(found.map((s) => s.name).sort()).toEqual([
        'hitl.step gate',
        'hitl.step gate',
        'hitl.step specialist',
        'hitl.step triage',
      ]);
      return found;
    });
    const traceIds = new Set(spans.map((s) => s.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    const [traceId] = [...traceIds];
    const byName = (name: string) => spans.filter((s) => s.name === name);
    const [triage] = byName('hitl.step triage');
    const [specialist] = byName('hitl.step specialist');
    // triage -> specialist -> gate, each step a child of the one that sent its message.
    expect(specialist?.parentSpanContext?.spanId).toBe(triage?.spanContext().spanId);
    expect(
      byName('hitl.step gate').some(
        (g) => g.parentSpanContext?.spanId === specialist?.spanContext().spanId,
      ),
    ).toBe(true);
    expect(triage?.attributes).toMatchObject({
      'hitl.workflow_id': 'tr-1',
      'hitl.actor': 'triage',
      'hitl.message_id': 'ticket',
    });
    expect(await outboundTraceparent('tr-1')).toMatch(
      new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`),
    );

    // The outbox, kept with the snapshot for a re-publish, holds the same trace context.
    const gate = (await client.snapshots('tr-1')).find((s) => s.envelope.kind === 'gate');
    const outboxes = gate?.envelope.outboxes ?? [];
    expect(outboxes.length).toBeGreaterThan(0);
    for (const outbox of outboxes) expect(outbox.trace?.traceparent).toContain(traceId);
  });

  it('keeps the trace id of a ticket published with a traceparent header', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const h = headers();
    h.set('traceparent', `00-${traceId}-${parent}-01`);
    h.set('tracestate', 'vendor=abc');
    const payload = JSON.stringify({ id: 'tr-2', request: 'The app shows an error' });
    await jetstream(nc).publish(subjects.ticketsNew, payload, { headers: h });

    const traceparent = await eventually(async () => {
      const found = await outboundTraceparent('tr-2');
      expect(found).toBeDefined();
      return found;
    });
    expect(traceparent).toMatch(new RegExp(`^00-${traceId}-`));
    const spans = stepSpans('tr-2');
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([traceId]));
    expect(spans.find((s) => s.name === 'hitl.step triage')?.parentSpanContext?.spanId).toBe(
      parent,
    );
  });

  it("starts the workflow's trace under the caller's active span", async () => {
    const tracer = trace.getTracer('test');
    const callerTrace = await tracer.startActiveSpan('caller', async (span) => {
      await client.start({ id: 'tr-3', request: 'My password does not work' });
      span.end();
      return span.spanContext().traceId;
    });
    const spans = await eventually(() => {
      const found = stepSpans('tr-3');
      expect(found.length).toBe(3);
      return found;
    });
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([callerTrace]));
  });
});
