import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { Subjects } from '../src/nats/subjects.js';
import { settlesWithin } from '../src/base/timing.js';
import { deferred, progress } from './util.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The ticket every benchmark workflow carries: the mock model triages it as a refund. */
export const REQUEST = 'I want a refund for my order, it never arrived';
const RESPONSE = encoder.encode(JSON.stringify({ answer: 'yes', reviewer: 'bench' }));

export interface ClosedLoopResult {
  /**
   * Workflows completed after the warm-up, per second: from the end of the warm-up to the last
   * completion (no workflow starts after the measured window; those in flight finish).
   */
  workflowsPerSecond: number;
  measured: number;
  measuredS: number;
  /** Workflows started (and completed) in the whole run, warm-up and drain included. */
  workflows: number;
  /** Response publish → `completed` seen, for the workflows completed after the warm-up. */
  resumeLatenciesMs: number[];
  /** Completed with another outcome than `sent`, or a publish that failed. */
  errors: number;
}

/**
 * Drives the support workflow through NATS as its users do: publishes tickets on
 * `<prefix>.tickets.new`, waits for `interrupted` events, answers on
 * `<prefix>.human.respond.<wf>`, counts `completed` events.
 */
export class Driver {
  readonly subjects: Subjects;
  readonly js: JetStreamClient;
  private readonly subs: Subscription[] = [];
  private onInterrupted: (wf: string) => void = () => undefined;
  private onCompleted: (wf: string, outcome: string) => void = () => undefined;
  private runs = 0;

  private constructor(
    readonly nc: NatsConnection,
    readonly prefix: string,
  ) {
    this.subjects = new Subjects(prefix);
    this.js = jetstream(nc, { timeout: 30_000 });
    const head = `${prefix}.events.`.length;
    const wfOf = (subject: string): string => subject.slice(head, subject.lastIndexOf('.'));
    this.subs.push(
      nc.subscribe(`${prefix}.events.*.interrupted`, {
        callback: (err, m) => {
          if (!err) this.onInterrupted(wfOf(m.subject));
        },
      }),
      nc.subscribe(`${prefix}.events.*.completed`, {
        callback: (err, m) => {
          if (err) return;
          const env = JSON.parse(decoder.decode(m.data)) as { data?: { outcome?: unknown } };
          this.onCompleted(wfOf(m.subject), String(env.data?.outcome));
        },
      }),
    );
  }

  static async connect(url: string, prefix: string): Promise<Driver> {
    const nc = await connect({ servers: url, name: `bench-driver-${prefix}` });
    const driver = new Driver(nc, prefix);
    await nc.flush();
    return driver;
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.nc.close();
  }

  private nextRunId(): string {
    return `r${++this.runs}`;
  }

  private publishTicket(wf: string, onError: () => void): void {
    this.js
      .publish(
        this.subjects.ticketsNew,
        encoder.encode(JSON.stringify({ id: wf, request: REQUEST })),
        {
          msgID: wf,
        },
      )
      .catch(onError);
  }

  private publishResponse(wf: string, onError: () => void): void {
    this.js.publish(this.subjects.respond(wf), RESPONSE).catch(onError);
  }

  /**
   * Keeps `concurrency` workflows in flight (a new one starts when one completes) for the
   * warm-up plus the measured window, then lets the last ones finish.
   */
  async closedLoop(options: {
    concurrency: number;
    warmupS: number;
    durationS: number;
  }): Promise<ClosedLoopResult> {
    const run = this.nextRunId();
    const respondedAt = new Map<string, number>();
    const latencies: number[] = [];
    let started = 0;
    let inFlight = 0;
    let measured = 0;
    let lastCompletion = 0;
    let errors = 0;
    let starting = true;
    const t0 = performance.now();
    const windowStart = t0 + options.warmupS * 1000;
    const windowEnd = windowStart + options.durationS * 1000;
    const drained = deferred();
    const fail = (): void => {
      errors++;
    };
    const startOne = (): void => {
      const wf = `${run}-${started++}`;
      inFlight++;
      respondedAt.set(wf, 0);
      this.publishTicket(wf, fail);
    };
    this.onInterrupted = (wf) => {
      if (!respondedAt.has(wf)) return;
      respondedAt.set(wf, performance.now());
      this.publishResponse(wf, fail);
    };
    this.onCompleted = (wf, outcome) => {
      const at = respondedAt.get(wf);
      if (at === undefined) return;
      respondedAt.delete(wf);
      const now = performance.now();
      if (outcome !== 'sent') errors++;
      if (now >= windowStart) {
        measured++;
        lastCompletion = now;
        if (at > 0) latencies.push(now - at);
      }
      inFlight--;
      if (starting && now < windowEnd) startOne();
      else if (inFlight === 0) drained.resolve();
    };
    for (let i = 0; i < options.concurrency; i++) startOne();
    await sleep(windowEnd - performance.now());
    starting = false;
    const stuck = setTimeout(() => {
      progress(`  still waiting for ${inFlight} workflows to complete…`);
    }, 10_000);
    await settlesWithin(drained.promise, 60_000);
    clearTimeout(stuck);
    if (inFlight > 0) {
      errors += inFlight;
      progress(`  ${inFlight} workflows did not complete within 60 s after the run`);
    }
    this.reset();
    return {
      workflowsPerSecond: measured / Math.max(0.001, (lastCompletion - windowStart) / 1000),
      measured,
      measuredS: (lastCompletion - windowStart) / 1000,
      workflows: started,
      resumeLatenciesMs: latencies,
      errors,
    };
  }

  /**
   * Starts up to `count` workflows and waits until each is paused at the gate, keeping at most
   * `window` of them between ticket and pause. Starts no more after `budgetS` seconds (the
   * result says how many paused). Calls `at(n)` once `n` have paused, for each `n` in
   * `checkpoints`, with the driver stopped there until it resolves.
   */
  async pauseMany(
    count: number,
    options: {
      window: number;
      checkpoints?: number[];
      at?: (paused: number) => Promise<void>;
      tag?: string;
      budgetS?: number;
    },
  ): Promise<{ workflowIds: string[]; seconds: number; errors: number }> {
    const run = `${options.tag ?? 'p'}${this.nextRunId()}`;
    const waiting = new Set<string>();
    const ids: string[] = [];
    const checkpoints = [...(options.checkpoints ?? [])].sort((a, b) => a - b);
    let started = 0;
    let errors = 0;
    let wake: (() => void) | undefined;
    this.onInterrupted = (wf) => {
      if (!waiting.delete(wf)) return;
      ids.push(wf);
      wake?.();
    };
    const t0 = performance.now();
    const deadline = t0 + (options.budgetS ?? Infinity) * 1000;
    let lastReport = t0;
    let pausedFor = 0;
    for (const target of [...checkpoints.filter((c) => c < count), count]) {
      while (ids.length < target) {
        const open = performance.now() < deadline;
        while (open && started < target && waiting.size < options.window) {
          const wf = `${run}-${started++}`;
          waiting.add(wf);
          this.publishTicket(wf, () => {
            errors++;
          });
        }
        if (waiting.size === 0) break;
        const woke = new Promise<void>((resolve) => {
          wake = resolve;
        });
        if (!(await settlesWithin(woke, 30_000))) {
          throw new Error(`no workflow paused for 30 s (${ids.length} of ${count} paused)`);
        }
        if (performance.now() - lastReport > 10_000) {
          lastReport = performance.now();
          const rate = ids.length / ((lastReport - t0) / 1000);
          progress(`  ${ids.length} of ${count} paused (${Math.round(rate)}/s)`);
        }
      }
      if (ids.length < target) break;
      if (target !== count && options.at) {
        const stopped = performance.now();
        await options.at(target);
        pausedFor += performance.now() - stopped;
      }
    }
    // The time spent in `at` is not the runtime's.
    const seconds = (performance.now() - t0 - pausedFor) / 1000;
    this.reset();
    return { workflowIds: ids, seconds, errors };
  }

  /**
   * Answers paused workflows at a steady `rate` per second for `durationS` seconds; returns
   * each response's publish → `completed` latency.
   */
  async respondSteady(
    workflowIds: readonly string[],
    rate: number,
    durationS: number,
  ): Promise<{ latenciesMs: number[]; errors: number; achievedRate: number }> {
    const count = Math.min(workflowIds.length, Math.round(rate * durationS));
    const respondedAt = new Map<string, number>();
    const latencies: number[] = [];
    let errors = 0;
    const done = deferred();
    this.onCompleted = (wf, outcome) => {
      const at = respondedAt.get(wf);
      if (at === undefined) return;
      respondedAt.delete(wf);
      latencies.push(performance.now() - at);
      if (outcome !== 'sent') errors++;
      if (latencies.length >= count) done.resolve();
    };
    const t0 = performance.now();
    for (let i = 0; i < count; i++) {
      const due = t0 + (i * 1000) / rate;
      const wait = due - performance.now();
      if (wait > 1) await sleep(wait);
      const wf = workflowIds[i] as string;
      respondedAt.set(wf, performance.now());
      // A failed publish shows up as a workflow that never completes.
      this.publishResponse(wf, () => undefined);
    }
    const sentIn = (performance.now() - t0) / 1000;
    await settlesWithin(done.promise, 30_000);
    // A workflow whose response got no `completed` within 30 s counts as an error.
    errors += count - latencies.length;
    this.reset();
    return { latenciesMs: latencies, errors, achievedRate: count / sentIn };
  }

  private reset(): void {
    this.onInterrupted = () => undefined;
    this.onCompleted = () => undefined;
  }
}
