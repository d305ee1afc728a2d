import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describeError } from '../base/errors.js';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { HitlConfig } from '../base/config.js';
import type { Logger } from '../base/logger.js';
import { PendingCount, type WorkerMetrics } from './metrics.js';

/** What the endpoints ask of the worker they describe. */
export interface WorkerProbe {
  metrics: WorkerMetrics;
  /** Taking work: started, not stopping, connected to a NATS server. */
  ready(): { ready: boolean; reason?: string };
  /** The gauges read at each scrape (pending interrupts, say). */
  gauges(): Promise<Record<string, number>>;
}

/** A running endpoint server; `close()` stops it. */
export interface WorkerEndpoints {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * Serves a worker's health on a port of its own (`HITL_METRICS_PORT`), with `node:http`:
 * `GET /healthz` 200 while the process runs (liveness); `GET /readyz` 200 while it takes work,
 * 503 with the reason otherwise (readiness: stopping, or no NATS server reachable); `GET
 * /metrics` the Prometheus text format.
 *
 * @example
 * const endpoints = await serveWorkerEndpoints(probe, 9464, '0.0.0.0');
 * // curl -s localhost:9464/metrics | grep hitl_steps_total
 */
export async function serveWorkerEndpoints(
  probe: WorkerProbe,
  port: number,
  host = '127.0.0.1',
): Promise<WorkerEndpoints> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'method not allowed\n');
      return;
    }
    if (path === '/healthz' || path === '/livez') {
      send(200, 'ok\n');
    } else if (path === '/readyz') {
      const state = probe.ready();
      send(state.ready ? 200 : 503, state.ready ? 'ready\n' : `not ready: ${state.reason}\n`);
    } else if (path === '/metrics') {
      probe.gauges().then(
        (gauges) =>
          send(200, probe.metrics.render(gauges), 'text/plain; version=0.0.4; charset=utf-8'),
        // A gauge NATS cannot answer now (an election, say) leaves it out; counters still go.
        (err: unknown) =>
          send(
            200,
            `${probe.metrics.render()}# gauges unavailable: ${describeError(err).replace(/\n/g, ' ')}\n`,
            'text/plain; version=0.0.4; charset=utf-8',
          ),
      );
    } else {
      send(404, 'not found (try /healthz, /readyz or /metrics)\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) =>
      reject(
        new Error(
          `cannot serve worker metrics on ${host}:${port}: ${describeError(err)} (check HITL_METRICS_PORT)`,
          { cause: err },
        ),
      ),
    );
    server.listen(port, host, resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** What {@link serveEndpoints} reads of its worker. */
export interface EndpointSource {
  nc: NatsConnection;
  metrics: WorkerMetrics;
  log: Logger;
  /** True once the worker is stopping. */
  closing(): boolean;
  /** Steps running now. */
  stepsInFlight(): number;
}

/**
 * Tracks the connection for readiness, and serves health, readiness and metrics on
 * `HITL_METRICS_PORT`, when set.
 */
export async function serveEndpoints(
  worker: EndpointSource,
  config: HitlConfig,
  interrupts: KV,
): Promise<WorkerEndpoints | undefined> {
  /** False from a disconnect until the connection is back (readiness). */
  let connected = true;
  void (async () => {
    for await (const s of worker.nc.status()) {
      if (s.type === 'disconnect') connected = false;
      if (s.type === 'reconnect') connected = true;
    }
  })();
  if (config.metrics === undefined) return undefined;
  const pending = new PendingCount(interrupts);
  const endpoints = await serveWorkerEndpoints(
    {
      metrics: worker.metrics,
      ready: () =>
        worker.closing()
          ? { ready: false, reason: 'stopping' }
          : !connected || worker.nc.isClosed()
            ? { ready: false, reason: 'no NATS server reachable (reconnecting)' }
            : { ready: true },
      gauges: async () => ({
        hitl_pending_interrupts: await pending.get(),
        hitl_steps_in_flight: worker.stepsInFlight(),
        hitl_nats_connected: connected ? 1 : 0,
      }),
    },
    config.metrics.port,
    config.metrics.host,
  );
  worker.log.info('health and metrics served', { port: endpoints.port });
  return endpoints;
}
