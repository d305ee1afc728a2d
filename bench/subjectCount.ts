import { connect, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { progress, round } from './util.js';

/**
 * Counts every message the server routes, by kind of subject, with a core subscription on `>`:
 * requests to the JetStream API, KV writes, publishes, acks, and what the server delivers to
 * inboxes (pull batches, request replies). The subscriber is load of its own, so a counting run
 * (`BENCH_COUNT_SUBJECTS=1`) is for counts, not for CPU or throughput.
 */
export class SubjectCounter {
  private readonly counts = new Map<string, number>();
  private counting = false;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly sub: Subscription,
  ) {
    void (async () => {
      for await (const m of sub) {
        if (!this.counting) continue;
        const key = subjectKind(m.subject);
        this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
      }
    })();
  }

  static async start(url: string): Promise<SubjectCounter> {
    const nc = await connect({ servers: url, name: 'bench-subject-counter' });
    const sub = nc.subscribe('>');
    // Replies to this connection's own flush are not the load measured.
    await nc.flush();
    return new SubjectCounter(nc, sub);
  }

  /** Forgets what was counted so far and counts from now on. */
  reset(): void {
    this.counts.clear();
    this.counting = true;
  }

  /** Stops counting and prints the counts per workflow, largest first. */
  async report(label: string, workflows: number): Promise<Record<string, number>> {
    this.counting = false;
    await this.nc.flush();
    this.sub.unsubscribe();
    await this.nc.close();
    const per = Object.fromEntries(
      [...this.counts.entries()]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, round(v / Math.max(1, workflows), 2)]),
    );
    const total = round(
      [...this.counts.values()].reduce((a, b) => a + b, 0) / Math.max(1, workflows),
      2,
    );
    const api = round(
      Object.entries(per)
        .filter(([k]) => k.startsWith('$JS.API') || k.startsWith('$KV'))
        .reduce((a, [, v]) => a + v, 0),
      2,
    );
    progress(
      `${label}: messages routed per workflow ${total} (JetStream API requests and KV writes ${api}):`,
    );
    for (const [k, v] of Object.entries(per)) progress(`  ${String(v).padStart(7)}  ${k}`);
    return { total, ...per };
  }
}

const WORKFLOW = /^r\d+-\d+$/;

/** A subject with its per-message tokens (workflow ids, inbox ids, ack sequences) folded. */
export function subjectKind(subject: string): string {
  const t = subject.split('.');
  if (t[0] === '_INBOX' || t[0]?.startsWith('_INBOX_')) return '_INBOX (replies, pulled messages)';
  if (t[0] === '$JS' && t[1] === 'ACK') return `$JS.ACK.${t[2]}.${t[3]}`;
  if (t[0] === '$JS' && t[1] === 'API' && t[2] === 'DIRECT' && t[3] === 'GET') {
    return `$JS.API.DIRECT.GET.${t[4]}`;
  }
  if (t[0] === '$JS' && t[1] === 'FC') return '$JS.FC';
  if (t[0] === '$KV') {
    // Snapshot keys are `<kind>.<wf>`; interrupt keys `<wf>`.
    const rest = t.slice(2).filter((x) => !WORKFLOW.test(x));
    return `$KV.${t[1]}${rest.length > 0 ? `.${rest.join('.')}` : ''}`;
  }
  return t.map((x) => (WORKFLOW.test(x) ? '<wf>' : x)).join('.');
}
