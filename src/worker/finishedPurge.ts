import type { JetStreamManager, JsMsg } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { describeError } from '../base/errors.js';
import type { Logger } from '../base/logger.js';
import { describeZodError, FinishedMessageSchema } from '../base/schemas.js';
import type { Subjects } from '../nats/subjects.js';
import type { Mailboxes } from '../runtime/mailboxes.js';
import type { InterruptStore } from '../stores/interruptStore.js';
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
  jsm: JetStreamManager;
  snapshots: SnapshotStore;
  /** The snapshots bucket itself, for a delete where the stream purge is not allowed. */
  snapshotsKv: KV;
  interrupts: InterruptStore;
  interruptsKv: KV;
  mailboxes: Mailboxes;
  /** The kinds this worker hosts: known even when the consumers cannot be listed. */
  hosted: readonly string[];
  retentionMs: number;
  log: Logger;
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
 * pending. Each actor's key is purged from the bucket's stream up to the revision read (a
 * write since is kept), which leaves no delete marker; the completing actor goes last, so a
 * removal cut short by a crash is finished by the message's redelivery.
 */
export class FinishedPurge {
  private kinds: { list: string[]; at: number } | undefined;
  private warnedPurge = false;

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
        log.warn('completed workflow not removed: an actor changed since it was read', {
          workflowId: wf,
          actor: s.envelope.kind,
        });
        return;
      }
    }
    await this.purgeInterruptMarker(wf);
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
   * Purges an actor's key up to the revision read; where the worker may not purge the stream
   * (its NATS permissions), deletes it at that revision instead, which leaves a marker. False
   * when the key changed since.
   */
  private async remove(s: StoredSnapshot): Promise<boolean> {
    const { subjects, jsm, snapshotsKv } = this.deps;
    const bucket = subjects.buckets.snapshots;
    const key = subjects.snapshotKey(s.envelope.kind, s.envelope.workflowId);
    try {
      await jsm.streams.purge(`KV_${bucket}`, {
        filter: `$KV.${bucket}.${key}`,
        seq: s.revision + 1,
      });
      return true;
    } catch (err) {
      if (!this.warnedPurge) {
        this.warnedPurge = true;
        this.deps.log.warn(
          `could not purge from stream 'KV_${bucket}'; deleting keys instead, which leaves a marker each (allow $JS.API.STREAM.PURGE.KV_${bucket})`,
          { reason: describeError(err) },
        );
      }
    }
    try {
      await snapshotsKv.delete(key, { previousSeq: s.revision });
      return true;
    } catch (err) {
      if ((err as { code?: unknown }).code === 10071) return false;
      throw err;
    }
  }

  /** A delete marker an answered interrupt left (where it could not be purged then). */
  private async purgeInterruptMarker(wf: string): Promise<void> {
    const { subjects, jsm, interruptsKv } = this.deps;
    const bucket = subjects.buckets.interrupts;
    try {
      const entry = await interruptsKv.get(subjects.interruptKey(wf));
      if (!entry || entry.operation === 'PUT') return;
      await jsm.streams.purge(`KV_${bucket}`, {
        filter: `$KV.${bucket}.${subjects.interruptKey(wf)}`,
        seq: entry.revision + 1,
      });
    } catch {
      // Best effort: a marker costs listing time only.
    }
  }
}
