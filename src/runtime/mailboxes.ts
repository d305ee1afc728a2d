import type { JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Subjects } from '../nats/subjects.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A page of `$JS.API.CONSUMER.NAMES.<stream>`. */
interface NamesPage {
  consumers?: string[] | null;
  total?: number;
  error?: { code?: number; description?: string };
}

/**
 * Which actor kinds have a mailbox on the server: a durable consumer `actor-<kind>` on the
 * mailbox stream, created by the first worker that hosts the kind (with `--actors`, a kind may
 * live on another worker). A kind found is remembered for good (consumers are not removed); a
 * kind not found is looked up again next time, since a worker hosting it may start meanwhile.
 *
 * @example
 * const mailboxes = new Mailboxes(jsm, subjects, nc);
 * if (!(await mailboxes.has('gate'))) throw new Error('no worker hosts gate');
 */
export class Mailboxes {
  private readonly known = new Set<string>();

  constructor(
    private readonly jsm: JetStreamManager,
    private readonly subjects: Subjects,
    /** The connection the listing of consumer names is requested on. */
    private readonly nc: NatsConnection,
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

  /**
   * Every kind that has a mailbox now: the names of the mailbox stream's consumers. Names, not
   * infos: the names come from the JetStream meta layer, where a consumer listing asks each
   * consumer's leader and, during an election, leaves out (in a field nats.js drops) those
   * without one. A kind missing from the answer would read as "no such actor". A failed
   * request throws.
   */
  async kinds(): Promise<string[]> {
    const prefix = this.jsm.getOptions().apiPrefix ?? '$JS.API';
    const subject = `${prefix}.CONSUMER.NAMES.${this.subjects.streams.mailbox}`;
    const head = this.subjects.consumer('actor-');
    for (let offset = 0; ;) {
      const reply = await this.nc.request(subject, encoder.encode(JSON.stringify({ offset })), {
        timeout: this.jsm.getOptions().timeout ?? 5_000,
      });
      const page = JSON.parse(decoder.decode(reply.data)) as NamesPage;
      if (page.error) {
        throw new Error(
          `listing the mailboxes of ${this.subjects.streams.mailbox}: ${page.error.description ?? `error ${page.error.code}`}`,
        );
      }
      const names = page.consumers ?? [];
      for (const name of names) {
        if (name.startsWith(head) && name.length > head.length)
          this.known.add(name.slice(head.length));
      }
      offset += names.length;
      if (names.length === 0 || offset >= (page.total ?? 0)) break;
    }
    return [...this.known];
  }
}
