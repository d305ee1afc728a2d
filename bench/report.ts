import type { CeilingResult } from './ceiling.js';
import type { ReplicasResult } from './cluster.js';
import type { AlternativeResult } from './langgraph.js';
import type { ThroughputResult, WaitingResult } from './ours.js';
import type { LatencySummary } from './util.js';
import { round } from './util.js';

/** Everything one `npm run bench` measured; written as JSON and printed as tables. */
export interface BenchResults {
  startedAt: string;
  durationS: number;
  machine: { cpu: string; cores: number; memGb: number; node: string; loadAvg: string };
  loadAvgAtEnd: string;
  natsServer: string;
  settings: Record<string, unknown>;
  ceiling?: CeilingResult;
  throughput: ThroughputResult[];
  /** The 2-worker closed loop again with a core subscriber on `<prefix>.>` (a tap). */
  tapped?: ThroughputResult;
  /** The 2-worker closed loop at other numbers in flight (`scalingConcurrencies`). */
  scaling: ThroughputResult[];
  waiting?: WaitingResult;
  alternatives: AlternativeResult[];
  /** The same workflow at R1 and R3 on a three-node cluster (bench/cluster.ts). */
  replicas?: ReplicasResult[];
  /** Ours (2 workers) workflows/s × writes per workflow ÷ the raw pipelined publish rate. */
  ceilingRatio?: number;
  targets: Target[];
  timingsS: Record<string, number>;
}

export interface Target {
  name: string;
  target: string;
  value: string;
  met: boolean | undefined;
}

const fmt = (n: number | undefined, digits = 0): string =>
  n === undefined || !Number.isFinite(n)
    ? 'n/a'
    : round(n, digits).toLocaleString('en-US', { maximumFractionDigits: digits });

const ms = (l: LatencySummary): string =>
  l.n === 0 ? 'n/a' : `${fmt(l.p50Ms, 1)} / ${fmt(l.p99Ms, 1)} / ${fmt(l.maxMs, 1)}`;

function table(head: string[], rows: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [
    line(head),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...rows.map(line),
  ].join('\n');
}

const verdict = (met: boolean | undefined): string =>
  met === undefined ? 'n/a' : met ? 'met' : 'missed';

/** The targets of the issue, judged against the results (reported, never asserted). */
export function judgeTargets(r: BenchResults): Target[] {
  const targets: Target[] = [];
  const two = r.throughput.find((t) => t.workers === 2);
  targets.push({
    name: 'full approval workflows/s, 2 workers',
    target: '>= 2,000/s',
    value: two ? `${fmt(two.workflowsPerSecond)}/s` : 'n/a',
    met: two ? two.workflowsPerSecond >= 2_000 : undefined,
  });
  const steady = two?.steadyLatency;
  targets.push({
    name: `resume latency p99 at ${steady?.rate ?? 100} responses/s`,
    target: '< 10 ms',
    value: steady && steady.n > 0 ? `${fmt(steady.p99Ms, 1)} ms` : 'n/a',
    met: steady && steady.n > 0 ? steady.p99Ms < 10 : undefined,
  });
  const w = r.waiting;
  targets.push({
    name: `worker RSS growth, ${w ? fmt(w.pausedSmall) : '1,000'} → ${w ? fmt(w.paused) : 'N'} paused`,
    target: '< 20 MB',
    value: w && Number.isFinite(w.rssGrowthMb) ? `${fmt(w.rssGrowthMb, 1)} MB` : 'n/a',
    met: w && Number.isFinite(w.rssGrowthMb) ? w.rssGrowthMb < 20 : undefined,
  });
  const atN = w?.steadyAtN;
  targets.push({
    name: `resume latency p99 at ${atN?.rate ?? 100} responses/s with ${w ? fmt(w.paused) : 'N'} paused`,
    target: '< 10 ms',
    value: atN && atN.n > 0 ? `${fmt(atN.p99Ms, 1)} ms` : 'n/a',
    met: atN && atN.n > 0 ? atN.p99Ms < 10 : undefined,
  });
  targets.push({
    name: 'CPU per workflow, all processes (workers + nats-server + driver), 2 workers',
    target: '<= 1.2 ms',
    value: two ? `${fmt(two.cpuMsPerWorkflow.total, 2)} ms` : 'n/a',
    met: two ? two.cpuMsPerWorkflow.total <= 1.2 : undefined,
  });
  targets.push({
    name: 'state per paused workflow (KV snapshots + interrupts)',
    target: '<= 2,000 B',
    value: w ? `${fmt(w.stateBytesPerPaused)} B` : 'n/a',
    met: w ? w.stateBytesPerPaused <= 2_000 : undefined,
  });
  targets.push({
    name: 'JetStream storage per paused workflow (state, event log, ticket)',
    target: '<= 3,500 B',
    value: w ? `${fmt(w.storageBytesPerPaused)} B` : 'n/a',
    met: w ? w.storageBytesPerPaused <= 3_500 : undefined,
  });
  const tapped = r.tapped;
  targets.push({
    name: 'workflows/s with a tap on every subject, against the same run without',
    target: '>= 75%',
    value:
      two && tapped
        ? `${fmt((tapped.workflowsPerSecond / two.workflowsPerSecond) * 100)}% (${fmt(tapped.workflowsPerSecond)}/s)`
        : 'n/a',
    met: two && tapped ? tapped.workflowsPerSecond >= 0.75 * two.workflowsPerSecond : undefined,
  });
  const durable = r.alternatives.filter((a) => a.durable && !a.skipped);
  const fastest = [...durable].sort((a, b) => b.workflowsPerSecond - a.workflowsPerSecond)[0];
  targets.push({
    name: 'ours (2 workers) ÷ LangGraph.js with its fastest durable checkpointer',
    target: '>= 5×',
    value:
      two && fastest
        ? `${fmt(two.workflowsPerSecond / fastest.workflowsPerSecond, 2)}× (${fastest.checkpointer})`
        : 'n/a',
    met: two && fastest ? two.workflowsPerSecond / fastest.workflowsPerSecond >= 5 : undefined,
  });
  return targets;
}

export function renderReport(r: BenchResults): string {
  const out: string[] = [];
  const m = r.machine;
  out.push(
    `hitl-mesh benchmark, ${r.startedAt}: ${m.cpu}, ${m.cores} cores, ${m.memGb} GB, Node ${m.node}, ` +
      `nats-server ${r.natsServer}; load average ${m.loadAvg} at start, ${r.loadAvgAtEnd} at end; ` +
      `took ${fmt(r.durationS)} s`,
  );
  out.push(`settings: ${JSON.stringify(r.settings)}`);

  if (r.throughput.length > 0) {
    const c = r.throughput[0];
    out.push(
      '',
      `1. Full approval workflows (ticket → triage → specialist → gate pauses → response → sent), mock model, ${String(r.settings.concurrency)} in flight, driven through NATS`,
      table(
        [
          'setup',
          'workflows/s',
          'JetStream writes / workflow',
          'writes/s',
          'CPU ms / workflow (workers + nats-server + driver)',
          'errors',
        ],
        r.throughput.map((t) => [
          `hitl-mesh, ${t.workers} worker process${t.workers > 1 ? 'es' : ''}`,
          fmt(t.workflowsPerSecond),
          fmt(t.writesPerWorkflow, 1),
          fmt(t.writesPerSecond),
          `${fmt(t.cpuMsPerWorkflow.total, 2)} (${fmt(t.cpuMsPerWorkflow.workers, 2)} + ${fmt(t.cpuMsPerWorkflow.natsServer, 2)} + ${fmt(t.cpuMsPerWorkflow.driver, 2)})`,
          fmt(t.errors),
        ]),
      ),
      `writes per workflow by stream: ${c ? JSON.stringify(c.writesPerWorkflowByStream) : 'n/a'}`,
    );
    out.push(
      '',
      '2. Resume latency: response published → `completed` seen (p50 / p99 / max, ms)',
      table(
        ['setup', 'load', 'p50 / p99 / max ms', 'samples'],
        r.throughput.flatMap((t) => [
          [
            `hitl-mesh, ${t.workers} worker${t.workers > 1 ? 's' : ''}`,
            `steady ${fmt(t.steadyLatency.rate)} responses/s (achieved ${fmt(t.steadyLatency.achievedRate, 1)})`,
            ms(t.steadyLatency),
            fmt(t.steadyLatency.n),
          ],
          [
            `hitl-mesh, ${t.workers} worker${t.workers > 1 ? 's' : ''}`,
            `saturation (closed loop, ${String(r.settings.concurrency)} workflows in flight)`,
            ms(t.saturationLatency),
            fmt(t.saturationLatency.n),
          ],
        ]),
      ),
    );
  }

  const w = r.waiting;
  if (w) {
    out.push(
      '',
      `3. The cost of waiting: ${fmt(w.paused)} workflows paused at the gate (${w.workers} workers, warmed up with ${fmt(w.warmupWorkflows)} workflows run to completion; ${fmt(w.requested)} requested, paused at ${fmt(w.pausedPerSecond)}/s in ${fmt(w.pauseSeconds, 1)} s)`,
      table(
        ['measure', 'value'],
        [
          [
            `worker RSS with ${fmt(w.pausedSmall)} paused`,
            Number.isFinite(w.rssAtSmallMb) ? `${fmt(w.rssAtSmallMb, 1)} MB` : 'n/a (not reached)',
          ],
          [`worker RSS with ${fmt(w.paused)} paused`, `${fmt(w.rssAtNMb, 1)} MB`],
          ['growth', Number.isFinite(w.rssGrowthMb) ? `${fmt(w.rssGrowthMb, 1)} MB` : 'n/a'],
          [
            'worker RSS by paused so far',
            Object.entries(w.rssCurveMb)
              .map(([k, v]) => `${fmt(Number(k))}: ${fmt(v)} MB`)
              .join(', '),
          ],
          [
            `a worker started afresh with ${fmt(w.paused)} paused`,
            `${fmt(w.freshWorkerRssMb, 1)} MB`,
          ],
          [
            `JetStream storage per paused workflow (all streams and buckets; HITL_STORAGE_FORMAT=${w.storageFormat}, finished actors shrunk after 4 ack waits of ${fmt(w.ackWaitMs)} ms, settled ${w.shrinkSettleSeconds} s later)`,
            `${fmt(w.storageBytesPerPaused)} bytes`,
          ],
          ['  of which state (KV snapshots + interrupts)', `${fmt(w.stateBytesPerPaused)} bytes`],
          [
            '  by stream / bucket',
            Object.entries(w.storageBytesPerPausedByStream)
              .filter(([, v]) => v > 0)
              .map(([k, v]) => `${k} ${fmt(v)}`)
              .join(', '),
          ],
          [
            '  right after the last pause, before finished actors shrink',
            `${fmt(w.storageBytesPerPausedAtPause)} bytes (${Object.entries(
              w.storageBytesPerPausedByStreamAtPause,
            )
              .filter(([, v]) => v > 0)
              .map(([k, v]) => `${k} ${fmt(v)}`)
              .join(', ')})`,
          ],
          [
            `list them: HitlClient.pending() (\`hitl pending\`, one KV watch)`,
            w.listError === undefined
              ? `${fmt(w.listSeconds, 2)} s (${fmt(w.listed)} listed)`
              : `failed after ${fmt(w.listSeconds, 2)} s: ${w.listError}`,
          ],
          [
            'list them as a reviewer, who may not create consumers (a get per key)',
            `${fmt(w.listByGetsSeconds, 2)} s (${fmt(w.listedByGets)} listed)`,
          ],
        ],
      ),
    );
  }

  if (r.alternatives.length > 0) {
    const ours = r.throughput.find((t) => t.workers === 2) ?? r.throughput[0];
    const rows: string[][] = [];
    if (ours) {
      rows.push([
        `hitl-mesh, ${ours.workers} worker processes (JetStream)`,
        'yes',
        fmt(ours.workflowsPerSecond),
        ms(ours.steadyLatency),
        ms(ours.saturationLatency),
        w ? `${fmt(w.storageBytesPerPaused)} B` : 'n/a',
        `${fmt(ours.cpuMsPerWorkflow.total, 2)} (all processes)`,
        '1×',
      ]);
    }
    for (const a of r.alternatives) {
      if (a.skipped) {
        rows.push([a.name, a.durable ? 'yes' : 'no', `skipped: ${a.skipped}`, '', '', '', '', '']);
        continue;
      }
      rows.push([
        a.name,
        a.durable ? 'yes' : 'no (in memory)',
        fmt(a.workflowsPerSecond),
        ms(a.steadyLatency),
        ms(a.saturationLatency),
        `${fmt(a.storageBytesPerPaused)} B`,
        fmt(a.cpuMsPerWorkflow, 2) +
          (a.checkpointer === 'PostgresSaver'
            ? ' (+ PostgreSQL)'
            : a.checkpointer === 'JetStreamSaver'
              ? ' (+ nats-server)'
              : ''),
        ours && a.workflowsPerSecond > 0
          ? `${fmt(ours.workflowsPerSecond / a.workflowsPerSecond, 2)}×`
          : 'n/a',
      ]);
    }
    out.push(
      '',
      `4. The alternatives: the same workflow, same run, same concurrency (${String(r.settings.concurrency)} in flight)`,
      table(
        [
          'runtime',
          'durable',
          'workflows/s',
          `resume ms at ${String(r.settings.steadyRate)}/s (p50 / p99 / max)`,
          'resume ms at saturation',
          'storage / paused workflow',
          'CPU ms / workflow',
          'ours ÷ it',
        ],
        rows,
      ),
      'LangGraph resume latency is one in-process invoke(new Command({ resume })); ours crosses NATS twice (response publish, completed event).',
      'Storage: ' +
        r.alternatives
          .filter((a) => !a.skipped)
          .map((a) => `${a.checkpointer}: ${a.storageNote}`)
          .join('; '),
    );
  }

  const c = r.ceiling;
  if (c) {
    const rows = [
      [
        `JetStream acked publishes, pipelined (${c.inFlight} in flight, ${c.payloadBytes} B)`,
        fmt(c.publishesPerSecond),
      ],
      ['  the same with Nats-Msg-Id', fmt(c.publishesWithMsgIdPerSecond)],
      [
        '  the same with nats.js async traces on (its default; the runtime turns them off)',
        fmt(c.publishesDefaultClientPerSecond),
      ],
      ['  one at a time', fmt(c.serialPublishesPerSecond)],
      [`KV compare-and-set updates, pipelined (${c.inFlight} keys)`, fmt(c.kvUpdatesPerSecond)],
    ];
    const two = r.throughput.find((t) => t.workers === 2);
    if (two && r.ceilingRatio !== undefined) {
      rows.push([
        `hitl-mesh, 2 workers: ${fmt(two.workflowsPerSecond)} workflows/s × ${fmt(two.writesPerWorkflow, 1)} writes`,
        `${fmt(two.writesPerSecond)} writes/s = ${fmt(r.ceilingRatio * 100, 1)}% of the raw publish rate`,
      ]);
    }
    out.push(
      '',
      '5. The ceiling: the same nats-server, one Node client',
      table(['measure', 'per second'], rows),
    );
  }

  if (r.replicas && r.replicas.length > 0) {
    const r1 = r.replicas.find((x) => x.replicas === 1)?.run.workflowsPerSecond;
    out.push(
      '',
      '6. Replication: the same workflow on a three-node cluster on this machine, 2 workers, R1 then R3',
      table(
        [
          'HITL_REPLICAS',
          'workflows/s',
          'vs R1',
          `resume p50 / p99 / max ms at ${String(r.settings.steadyRate)}/s`,
          'resume p50 / p99 ms at saturation',
          'CPU ms / workflow (workers + driver)',
          'errors',
        ],
        r.replicas.map(({ replicas, run }) => [
          `R${replicas}`,
          fmt(run.workflowsPerSecond),
          r1 ? `${fmt((run.workflowsPerSecond / r1) * 100)}%` : 'n/a',
          ms(run.steadyLatency),
          `${fmt(run.saturationLatency.p50Ms, 1)} / ${fmt(run.saturationLatency.p99Ms, 1)}`,
          `${fmt(run.cpuMsPerWorkflow.workers, 2)} + ${fmt(run.cpuMsPerWorkflow.driver, 2)}`,
          fmt(run.errors + run.steadyLatency.errors),
        ]),
      ),
    );
  }

  const two = r.throughput.find((t) => t.workers === 2);
  const scale = [...r.scaling, ...(two ? [two] : [])].sort((a, b) => a.concurrency - b.concurrency);
  if (scale.length > 0 || r.tapped) {
    const cpu = (t: ThroughputResult): string =>
      `${fmt(t.cpuMsPerWorkflow.total + (t.tap?.cpuMsPerWorkflow ?? 0), 2)} (${fmt(t.cpuMsPerWorkflow.workers, 2)} + ${fmt(t.cpuMsPerWorkflow.natsServer, 2)} + ${fmt(t.cpuMsPerWorkflow.driver, 2)}${t.tap ? ` + tap ${fmt(t.tap.cpuMsPerWorkflow, 2)}` : ''})`;
    const rows = scale.map((t) => [
      `hitl-mesh, 2 workers`,
      fmt(t.concurrency),
      fmt(t.workflowsPerSecond),
      `${fmt(t.saturationLatency.p50Ms, 1)} / ${fmt(t.saturationLatency.p99Ms, 1)}`,
      cpu(t),
      fmt(t.errors),
    ]);
    if (r.tapped) {
      const t = r.tapped;
      rows.push([
        `hitl-mesh, 2 workers, a tap on every subject (${fmt(t.tap?.messagesPerWorkflow, 1)} messages / workflow)`,
        fmt(t.concurrency),
        fmt(t.workflowsPerSecond) +
          (two ? ` (${fmt((t.workflowsPerSecond / two.workflowsPerSecond) * 100)}%)` : ''),
        `${fmt(t.saturationLatency.p50Ms, 1)} / ${fmt(t.saturationLatency.p99Ms, 1)}`,
        cpu(t),
        fmt(t.errors),
      ]);
    }
    const atN = r.waiting?.steadyAtN;
    out.push(
      '',
      '7. Scaling and observers: the 2-worker closed loop at other numbers in flight, and with an operator watching',
      table(
        [
          'setup',
          'in flight',
          'workflows/s',
          'resume p50 / p99 ms',
          'CPU ms / workflow (workers + nats-server + driver [+ tap])',
          'errors',
        ],
        rows,
      ),
      atN && r.waiting
        ? `resume p50 / p99 / max with ${fmt(r.waiting.paused)} paused, answered at ${fmt(atN.rate)}/s (achieved ${fmt(atN.achievedRate, 1)}): ${ms(atN)} ms (${fmt(atN.n)} samples, ${fmt(atN.errors)} errors)`
        : `resume p99 with N paused: n/a (the waiting section did not run)`,
    );
  }

  out.push(
    '',
    'Targets (reported, not asserted)',
    table(
      ['target', 'wanted', 'measured', ''],
      r.targets.map((t) => [t.name, t.target, t.value, verdict(t.met)]),
    ),
  );
  return out.join('\n');
}
