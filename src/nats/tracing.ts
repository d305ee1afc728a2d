import { randomFillSync } from 'node:crypto';
import {
  context as otelContext,
  defaultTextMapGetter,
  defaultTextMapSetter,
  isSpanContextValid,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Context,
  type Link,
  type Span,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { headers as natsHeaders, type MsgHdrs } from '@nats-io/transport-node';

/**
 * W3C trace context as carried in NATS message headers (`traceparent`, `tracestate`) and kept
 * with a step's outbox, so that a re-publish after a crash carries the same one.
 */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

// Always W3C, whatever propagator the application registered: the headers on the wire are part
// of what other services read, and they must be there even when no OpenTelemetry SDK is.
const propagator = new W3CTraceContextPropagator();
const tracer = trace.getTracer('hitl-mesh');

/**
 * Random bytes for new trace and span ids, drawn from a pool filled 4 KiB at a time: a
 * `randomBytes` call per id cost a worker about 0.1 ms of CPU per workflow (measured).
 */
const pool = Buffer.alloc(4_096);
let poolUsed = pool.length;

function randomHex(bytes: number): string {
  if (poolUsed + bytes > pool.length) {
    randomFillSync(pool);
    poolUsed = 0;
  }
  const hex = pool.toString('hex', poolUsed, poolUsed + bytes);
  poolUsed += bytes;
  return hex;
}

/** The provider the API falls back to while none is registered (it records nothing). */
const NOOP_PROVIDER = new ProxyTracerProvider().getDelegate();

/** Whether an OpenTelemetry SDK (a tracer provider) is registered now. */
function recording(): boolean {
  const provider = trace.getTracerProvider();
  return !(provider instanceof ProxyTracerProvider) || provider.getDelegate() !== NOOP_PROVIDER;
}

/** A traceparent the W3C propagator writes back exactly as it reads it (version 00, no state). */
const PLAIN_TRACEPARENT = /^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-0[0-9a-f]$/;

/** The trace context in a message's headers, if it carries a valid one. */
export function traceFromHeaders(headers: MsgHdrs | undefined): TraceCarrier | undefined {
  const traceparent = headers?.get('traceparent');
  if (!traceparent) return undefined;
  const tracestate = headers?.get('tracestate');
  const carrier: TraceCarrier = { traceparent, ...(tracestate ? { tracestate } : {}) };
  const parsed = trace.getSpanContext(extract(carrier));
  return parsed && isSpanContextValid(parsed) ? carrier : undefined;
}

/** NATS headers carrying `carrier` (and nothing else), or undefined without one. */
export function traceHeaders(carrier: TraceCarrier | undefined): MsgHdrs | undefined {
  if (!carrier) return undefined;
  const h = natsHeaders();
  h.set('traceparent', carrier.traceparent);
  if (carrier.tracestate) h.set('tracestate', carrier.tracestate);
  return h;
}

/** The active OpenTelemetry context (the caller's span), as a carrier; undefined without one. */
export function activeTrace(): TraceCarrier | undefined {
  return inject(otelContext.active());
}

function extract(carrier: TraceCarrier): Context {
  return propagator.extract(ROOT_CONTEXT, carrier, defaultTextMapGetter);
}

function inject(ctx: Context): TraceCarrier | undefined {
  const out: Record<string, string> = {};
  propagator.inject(ctx, out, defaultTextMapSetter);
  if (!out.traceparent) return undefined;
  return {
    traceparent: out.traceparent,
    ...(out.tracestate ? { tracestate: out.tracestate } : {}),
  };
}

/** What a step span records. */
export interface StepSpanOptions {
  kind: string;
  workflowId: string;
  messageId: string;
  messageType: string;
  /** The parent: the message's trace, or the workflow's for a human response. */
  parent: TraceCarrier | undefined;
  /** Another trace this step belongs to as well: a reviewer's, for a response. */
  link: TraceCarrier | undefined;
}

/**
 * Runs one actor step in a span `hitl.step <kind>`, a child of `parent`, with the workflow id,
 * actor and message id as attributes. `fn` is given that span's context, which every publish of
 * the step carries (passed explicitly: an AsyncLocalStorage would put a hook on every promise). With no tracer provider registered the span records
 * nothing and the parent's context is carried through unchanged; a step with no parent either
 * (a ticket published without `traceparent`) starts a new trace id, so that one ticket is one
 * trace whether or not anyone records it.
 */
export async function inStepSpan<T extends { result: string }>(
  options: StepSpanOptions,
  fn: (carrier: TraceCarrier | undefined) => Promise<T>,
): Promise<T> {
  // No SDK registered: the span would record nothing and carry its parent's context through
  // unchanged (or a new trace id), which this does without the API's round trip per step.
  if (!recording()) {
    const parent = options.parent;
    if (parent === undefined) {
      return fn({ traceparent: `00-${randomHex(16)}-${randomHex(8)}-01` });
    }
    if (parent.tracestate === undefined && PLAIN_TRACEPARENT.test(parent.traceparent)) {
      return fn(parent);
    }
  }
  const links: Link[] = [];
  if (options.link) {
    const linked = trace.getSpanContext(extract(options.link));
    if (linked && isSpanContextValid(linked)) links.push({ context: linked });
  }
  const span: Span = tracer.startSpan(
    `hitl.step ${options.kind}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        'hitl.workflow_id': options.workflowId,
        'hitl.actor': options.kind,
        'hitl.message_id': options.messageId,
        'hitl.message_type': options.messageType,
        'messaging.system': 'nats',
      },
      links,
    },
    options.parent ? extract(options.parent) : ROOT_CONTEXT,
  );
  let ctx = trace.setSpan(ROOT_CONTEXT, span);
  if (!isSpanContextValid(span.spanContext())) {
    ctx = trace.setSpanContext(ROOT_CONTEXT, {
      traceId: randomHex(16),
      spanId: randomHex(8),
      traceFlags: TraceFlags.SAMPLED,
    });
  }
  const carrier = inject(ctx);
  try {
    const result = await fn(carrier);
    span.setAttribute('hitl.step_result', result.result);
    return result;
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: err instanceof Error ? err.message : String(err),
    });
    throw err;
  } finally {
    span.end();
  }
}
