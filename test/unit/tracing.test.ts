import { headers } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { inStepSpan, traceFromHeaders, traceHeaders } from '../../src/nats/tracing.js';

// No OpenTelemetry SDK is registered here: the API records nothing, yet the trace context must
// still travel.
const step = { kind: 'triage', workflowId: 'wf-1', messageId: 'ticket', messageType: 'message' };

describe('trace context without a tracer provider', () => {
  it('carries the parent traceparent through a step unchanged', async () => {
    const parent = { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
    const seen = await inStepSpan({ ...step, parent, link: undefined }, (carrier) =>
      Promise.resolve({ result: 'applied', carrier }),
    );
    expect(seen.carrier).toEqual(parent);
  });

  it('carries a parent with tracestate, or not sampled, through a step unchanged', async () => {
    for (const parent of [
      {
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        tracestate: 'vendor=abc,other=1',
      },
      { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00' },
    ]) {
      const seen = await inStepSpan({ ...step, parent, link: undefined }, (carrier) =>
        Promise.resolve({ result: 'applied', carrier }),
      );
      expect(seen.carrier).toEqual(parent);
    }
  });

  it('starts a new trace id for a step with no parent', async () => {
    const ids = await Promise.all(
      [1, 2].map(() =>
        inStepSpan({ ...step, parent: undefined, link: undefined }, (carrier) =>
          Promise.resolve({ result: 'applied', carrier }),
        ),
      ),
    );
    for (const { carrier } of ids)
      expect(carrier?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    expect(ids[0]?.carrier?.traceparent).not.toBe(ids[1]?.carrier?.traceparent);
  });

  it('reads and writes the traceparent and tracestate headers, ignoring invalid ones', () => {
    const carrier = {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'vendor=abc',
    };
    expect(traceFromHeaders(traceHeaders(carrier))).toEqual(carrier);
    const bad = headers();
    bad.set('traceparent', '00-00000000000000000000000000000000-00f067aa0ba902b7-01');
    expect(traceFromHeaders(bad)).toBeUndefined();
    expect(traceFromHeaders(undefined)).toBeUndefined();
    expect(traceHeaders(undefined)).toBeUndefined();
  });
});
