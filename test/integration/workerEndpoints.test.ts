import { describe, expect, it } from 'vitest';
import { eventually } from '../helpers/eventually.js';
import { serverPerFile, workflowScope } from '../helpers/harness.js';

// Faults this file injects: the nats-server is stopped and started again while a worker
// serves its endpoints, to see readiness follow the connection.

const shared = serverPerFile();

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

/** The value of one sample line of a Prometheus text page, or undefined. */
function sample(page: string, line: string): number | undefined {
  const found = page.split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

describe('worker health, readiness and metrics (HITL_METRICS_PORT)', () => {
  it('serves liveness, readiness that follows the NATS connection, and Prometheus metrics', async () => {
    await using t = workflowScope(shared.server, 'metrics', { HITL_METRICS_PORT: '0' });
    const worker = await t.worker();
    const port = worker.endpointsPort;
    expect(port).toBeGreaterThan(0);
    if (port === undefined) return;
    expect(await get(port, '/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect((await get(port, '/readyz')).status).toBe(200);
    expect((await get(port, '/nope')).status).toBe(404);

    await t.client.start({ id: 'm-1', request: 'I want a refund' });
    const page = await eventually(
      async () => {
        const { status, body } = await get(port, '/metrics');
        expect(status).toBe(200);
        expect(sample(body, 'hitl_steps_total{consumer="tickets",outcome="ok"}')).toBe(1);
        expect(sample(body, 'hitl_pending_interrupts')).toBe(1);
        return body;
      },
      { timeout: 15_000, interval: 250 },
    );
    expect(page).toContain('# TYPE hitl_step_seconds histogram');
    expect(sample(page, 'hitl_step_seconds_count{consumer="tickets"}')).toBe(1);
    expect(sample(page, 'hitl_step_seconds_bucket{consumer="tickets",le="+Inf"}')).toBe(1);
    expect(sample(page, 'hitl_nats_connected')).toBe(1);

    // No server: the worker stays alive but is not ready; back when the server is.
    await shared.server.stop();
    await eventually(async () => expect((await get(port, '/readyz')).status).toBe(503), {
      timeout: 15_000,
    });
    expect((await get(port, '/readyz')).body).toMatch(/^not ready: no NATS server reachable/);
    expect((await get(port, '/healthz')).status).toBe(200);
    await shared.server.restart();
    await eventually(async () => expect((await get(port, '/readyz')).status).toBe(200), {
      timeout: 15_000,
    });
  });
});
