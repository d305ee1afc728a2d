import type { JetStreamManager } from '@nats-io/jetstream';
import type { Subjects } from '../nats/subjects.js';

/**
 * Which actor kinds have a mailbox on the server: a durable consumer `actor-<kind>` on the
 * mailbox stream, created by the first worker that hosts the kind (with `--actors`, a kind may
 * live on another worker). A kind found is remembered for good (consumers are not removed); a
 * kind not found is looked up again next time, since a worker hosting it may start meanwhile.
 *
 * @example
 * const mailboxes = new Mailboxes(jsm, subjects);
 * if (!(await mailboxes.has('gate'))) throw new Error('no worker hosts gate');
 */
export class Mailboxes {
  private readonly known = new Set<string>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly subjects: Subjects,
  ) {}

  async has(kind: string): Promise<boolean> {
    if (this.known.has(kind)) return true;
    try {
      await this.jsm.consumers.info(
        this.subjects.streams.mailbox,
        this.subjects.consumer(`actor-${kind}`),
      );
    } catch (err) {
      if (err instanceof Error && /not found/i.test(err.message)) return false;
      throw err;
    }
    this.known.add(kind);
    return true;
  }

  /** Every kind that has a mailbox now: one listing of the mailbox stream's consumers. */
  async kinds(): Promise<string[]> {
    const head = `${this.subjects.prefix}.actor.`;
    for await (const info of this.jsm.consumers.list(this.subjects.streams.mailbox)) {
      const filter = info.config.filter_subject ?? '';
      if (!filter.startsWith(head) || !filter.endsWith('.*')) continue;
      const kind = filter.slice(head.length, -2);
      if (kind.length > 0 && !kind.includes('.')) this.known.add(kind);
    }
    return [...this.known];
  }
}
