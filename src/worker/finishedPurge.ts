import type { JetStreamClient, JetStreamManager, JsMsg } from '@nats-io/jetstream';
import { describeError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { describeZodError, FinishedMessageSchema } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';
import type { Mailboxes } from '../runtime/mailboxes.js';
import type { InterruptStore } from '../stores/interruptStore.js';
import { removeKeyAt, type BucketHistory } from '../stores/keyRemoval.js';
import type { SnapshotStore, StoredSnapshot } from '../stores/snapshotStore.js';
import { BadInput, type Settle } from './inbound.js';

const decoder = new TextDecoder();

/**
 * The longest a removal not yet due is put back for: a shorter `HITL_FINISHED_RETENTION_MS`
 * set since takes effect within this long.
 */
const MAX_WAIT_MS = 3_600_000;
/** How long the list of actor kinds (the mailbox consumers) is reused. */
const KINDS_TTL_MS = 60_000;

/** What a {@link FinishedPurge} works with. */
export interface FinishedPurgeDeps {
  subjects: Subjects;
  js: JetStreamClient;
  jsm: JetStreamManager;
  snapshots: SnapshotStore;
  interrupts: InterruptStore;
  mailboxes: Mailboxes;
  /** The kinds this worker hosts: known even when the consumers cannot be listed. */
  hosted: readonly string[];
  retentionMs: number;
  log: Logger;
  /** Values the snapshots bucket keeps per key (see {@link removeKeyAt}). */
  snapshotsHistory?: BucketHistory;
}

/**
 * Removes completed workflows once `HITL_FINISHED_RETENTION_MS` has passed: the handler of the
 * `finished` consumer (stream `HITL_FINISHED`, `<prefix>.finished.<wf>`). The step that published
 * `completed` wrote the schedule in its outbox, so the messages come in the order workflows
 * completed, which with one retention is the order they fall due: one not yet due is put back
 * until it is, and holds back only later ones. Nothing scans the bucket; a removal costs a few
 * reads and one purge per actor.
 *
 * Before anything goes, a current read of the workflow checks that it is still this completed
 * one: the completing actor's snapshot records this very completion (a workflow started again
 * under the same id has another), no actor is parked or waits for a human, and no interrupt is
 * pending. Each actor's key is removed at the revision read (a delete marker, or a KV purge in
 * a bucket with history, then that marker deleted by sequence; a write since is kept), which leaves nothing in the stream; the completing actor goes last, so a
 * removal cut short by a crash is finished by the message's redelivery.
 */
export class FinishedPurge {
  private kinds: { list: string[]; at: number } | undefined;
  private warnedMarker = false;

  constructor(private readonly deps: FinishedPurgeDeps) {}

  async handle(m: JsMsg): Promise<Settle> {
    let value: unknown;
    try {
      value = JSON.parse(decoder.decode(m.data));
    } catch {
      throw new BadInput('invalid finished workflow: not JSON');
    }
    const parsed = FinishedMessageSchema.safeParse(value);
    if (!parsed.success) {
      throw new BadInput(`invalid finished workflow: ${describeZodError(parsed.error)}`);
    }
    const { workflowId: wf, actor, completedAt } = parsed.data;
    const wait = completedAt + this.deps.retentionMs - Date.now();
    if (wait > 0) return { nakMs: Math.min(wait, MAX_WAIT_MS) };
    const { log } = this.deps;
    if (await this.deps.interrupts.get(wf)) {
      log.warn('completed workflow not removed: it waits for a human', { workflowId: wf });
      return;
    }
    const kinds = await this.actorKinds(actor);
    const found = (
      await Promise.all(kinds.map((kind) => this.deps.snapshots.get(kind, wf)))
    ).filter((s): s is StoredSnapshot => s !== undefined);
    const completing = found.find((s) => s.envelope.kind === actor);
    // Removed already (a redelivery), or the workflow was started again since.
    if (completing?.envelope.completedAt !== completedAt) return;
    const holding = found.find(
      (s) => s.envelope.parked || (s.envelope.status === 'active' && s.envelope.interrupt),
    );
    if (holding) {
      log.warn('completed workflow not removed: an actor is parked or waits for a human', {
        workflowId: wf,
        actor: holding.envelope.kind,
      });
      return;
    }
    for (const s of [...found.filter((s) => s !== completing), completing]) {
      if (!(await this.remove(s))) {
        // Read again on the redelivery: the checks above decide with what is there then.
        log.warn('completed workflow not removed yet: an actor changed since it was read', {
          workflowId: wf,
          actor: s.envelope.kind,
        });
        return { nakMs: 1_000 };
      }
    }
    await this.deps.interrupts.dropMarker(wf);
    log.debug('completed workflow removed', { workflowId: wf, actors: found.length });
  }

  /** Every actor kind a workflow may have: those with a mailbox, listed once a minute. */
  private async actorKinds(actor: string): Promise<string[]> {
    const now = Date.now();
    if (!this.kinds || now - this.kinds.at > KINDS_TTL_MS) {
      let listed: string[] = [];
      try {
        listed = await this.deps.mailboxes.kinds();
      } catch (err) {
        this.deps.log.warn('could not list the actor kinds; removing the hosted ones only', {
          reason: describeError(err),
        });
      }
      this.kinds = { list: [...new Set([...this.deps.hosted, ...listed])], at: now };
    }
    return this.kinds.list.includes(actor) ? this.kinds.list : [...this.kinds.list, actor];
  }

  /**
   * Removes an actor's key at the revision read, leaving nothing in the bucket's stream (see
   * {@link removeKeyAt}); where the worker may not delete the marker (its NATS
   * permissions) the marker stays. False when the key changed since.
   */
  private async remove(s: StoredSnapshot): Promise<boolean> {
    const { subjects, js, jsm } = this.deps;
    const bucket = subjects.buckets.snapshots;
    const key = subjects.snapshotKey(s.envelope.kind, s.envelope.workflowId);
    const done = await removeKeyAt(
      js,
      jsm,
      bucket,
      key,
      s.revision,
      this.deps.snapshotsHistory?.get(),
    );
    if (done === 'marker-left' && !this.warnedMarker) {
      this.warnedMarker = true;
      this.deps.log.warn(
        `could not delete a purge marker from stream 'KV_${bucket}'; each removed actor leaves one (allow $JS.API.STREAM.MSG.DELETE.KV_${bucket})`,
      );
    }
    return done !== 'changed';
  }
}
