import type { KV } from '@nats-io/kv';

/** Upper bounds (seconds) of the step latency histogram's buckets. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** How a step ended, as counted. */
export type StepOutcome = 'ok' | 'failed';

interface Histogram {
  counts: number[];
  sum: number;
  count: number;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * A worker's counters, in the Prometheus text format: steps taken per consumer and outcome,
 * failed steps, redeliveries (a message seen again: its worker died, its ack was lost, or its
 * step failed), step latency, NATS outages, and the gauges the caller supplies when rendering
 * (pending interrupts, connected).
 *
 * @example
 * metrics.observe('responses', 12.5, 'ok', false);
 * const text = metrics.render({ hitl_pending_interrupts: 3 });
 */
export class WorkerMetrics {
  private readonly steps = new Map<string, number>();
  private readonly redeliveries = new Map<string, number>();
  private readonly latency = new Map<string, Histogram>();
  private outages = 0;

  /** One step of `consumer` ended after `ms` milliseconds. */
  observe(consumer: string, ms: number, outcome: StepOutcome, redelivered: boolean): void {
    const key = `${consumer}\u0000${outcome}`;
    this.steps.set(key, (this.steps.get(key) ?? 0) + 1);
    if (redelivered) this.redeliveries.set(consumer, (this.redeliveries.get(consumer) ?? 0) + 1);
    const h = this.latency.get(consumer) ?? {
      counts: LATENCY_BUCKETS.map(() => 0),
      sum: 0,
      count: 0,
    };
    this.latency.set(consumer, h);
    const seconds = ms / 1_000;
    LATENCY_BUCKETS.forEach((le, i) => {
      if (seconds <= le) h.counts[i] = (h.counts[i] ?? 0) + 1;
    });
    h.sum += seconds;
    h.count += 1;
  }

  /** NATS became unavailable to this worker (once per outage). */
  outage(): void {
    this.outages += 1;
  }

  /** Everything, in the Prometheus text exposition format (version 0.0.4). */
  render(gauges: Record<string, number> = {}): string {
    const out: string[] = [];
    out.push('# HELP hitl_steps_total Messages handled, by consumer and outcome.');
    out.push('# TYPE hitl_steps_total counter');
    for (const [key, n] of this.steps) {
      const [consumer = '', outcome = ''] = key.split('\u0000');
      out.push(`hitl_steps_total{consumer="${escapeLabel(consumer)}",outcome="${outcome}"} ${n}`);
    }
    out.push('# HELP hitl_step_failures_total Steps that failed (redelivered or dead-lettered).');
    out.push('# TYPE hitl_step_failures_total counter');
    for (const [key, n] of this.steps) {
      const [consumer = '', outcome = ''] = key.split('\u0000');
      if (outcome === 'failed') {
        out.push(`hitl_step_failures_total{consumer="${escapeLabel(consumer)}"} ${n}`);
      }
    }
    out.push(
      '# HELP hitl_redeliveries_total Messages handled that JetStream had delivered before.',
    );
    out.push('# TYPE hitl_redeliveries_total counter');
    for (const [consumer, n] of this.redeliveries) {
      out.push(`hitl_redeliveries_total{consumer="${escapeLabel(consumer)}"} ${n}`);
    }
    out.push('# HELP hitl_step_seconds Time from taking a message to settling it.');
    out.push('# TYPE hitl_step_seconds histogram');
    for (const [consumer, h] of this.latency) {
      const c = escapeLabel(consumer);
      LATENCY_BUCKETS.forEach((le, i) => {
        out.push(`hitl_step_seconds_bucket{consumer="${c}",le="${le}"} ${h.counts[i] ?? 0}`);
      });
      out.push(`hitl_step_seconds_bucket{consumer="${c}",le="+Inf"} ${h.count}`);
      out.push(`hitl_step_seconds_sum{consumer="${c}"} ${h.sum}`);
      out.push(`hitl_step_seconds_count{consumer="${c}"} ${h.count}`);
    }
    out.push('# HELP hitl_nats_outages_total Times NATS became unavailable to this worker.');
    out.push('# TYPE hitl_nats_outages_total counter');
    out.push(`hitl_nats_outages_total ${this.outages}`);
    for (const [name, value] of Object.entries(gauges)) {
      out.push(`# TYPE ${name} gauge`);
      out.push(`${name} ${value}`);
    }
    return `${out.join('\n')}\n`;
  }
}

/**
 * Workflows waiting for a human: the live keys of `hitl_interrupts`, counted at most once per
 * `maxAgeMs` however often the metrics are scraped.
 */
export class PendingCount {
  private cached: { at: number; value: number } | undefined;

  constructor(
    private readonly kv: KV,
    private readonly maxAgeMs = 5_000,
  ) {}

  async get(): Promise<number> {
    if (this.cached && Date.now() - this.cached.at < this.maxAgeMs) return this.cached.value;
    let value = 0;
    for await (const _key of await this.kv.keys()) value += 1;
    this.cached = { at: Date.now(), value };
    return value;
  }
}
