import { Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { describeError } from '../base/errors.js';
import type { InterruptRecord } from '../base/schemas.js';
import { kvKeys, mapLimit, readOnlyManager } from '../nats/streamReads.js';
import { assertWorkflowId, type Subjects } from '../nats/subjects.js';
import { InterruptStore } from '../stores/interruptStore.js';
import {
  KvSnapshotStore,
  type ParkedWorkflow,
  type StoredSnapshot,
} from '../stores/snapshotStore.js';

/** KV reads in flight at once when listing. */
const READ_CONCURRENCY = 256;

/**
 * The client's read-only queries of the runtime's KV buckets: pending interrupts, parked
 * workflows, snapshots. The buckets are opened once, on first use.
 */
export class WorkflowReads {
  private stores: Promise<{ snapshots: KvSnapshotStore; interrupts: InterruptStore }> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjects: Subjects,
  ) {}

  /** Every workflow waiting for a human, oldest first. */
  async pending(): Promise<InterruptRecord[]> {
    const { interrupts } = await this.storesOnce();
    // A reviewer who may only read lists the keys from the bucket's subject counts instead of
    // a watch, which needs a consumer (deploy/nats-server.conf).
    const records = await interrupts.list(
      async () => kvKeys(await readOnlyManager(this.nc), this.subjects.buckets.interrupts),
      READ_CONCURRENCY,
    );
    return records.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /**
   * Every workflow parked at a failed step (the model was down past its retries, say), waiting
   * for `retry`, oldest failure first.
   */
  async parked(): Promise<ParkedWorkflow[]> {
    const { snapshots } = await this.storesOnce();
    const found = await snapshots.listParked(
      async () => kvKeys(await readOnlyManager(this.nc), this.subjects.buckets.snapshots),
      READ_CONCURRENCY,
    );
    return found.sort((a, b) => a.at.localeCompare(b.at));
  }

  /** The pending interrupt of one workflow, if it waits for a human. */
  async interrupt(workflowId: string): Promise<InterruptRecord | undefined> {
    return (await this.storesOnce()).interrupts.get(assertWorkflowId(workflowId));
  }

  /** The stored snapshots of every actor of a workflow. */
  async snapshots(workflowId: string): Promise<StoredSnapshot[]> {
    const wf = assertWorkflowId(workflowId);
    const { snapshots } = await this.storesOnce();
    const keys = await kvKeys(
      await readOnlyManager(this.nc),
      this.subjects.buckets.snapshots,
      `*.${wf}`,
    );
    const found = await mapLimit(keys, READ_CONCURRENCY, (k) =>
      snapshots.get(k.split('.')[0] ?? '', wf),
    );
    return found.filter((s): s is StoredSnapshot => s !== undefined);
  }

  private storesOnce(): Promise<{ snapshots: KvSnapshotStore; interrupts: InterruptStore }> {
    this.stores ??= (async () => {
      const kvm = new Kvm(this.nc);
      try {
        const [snapshots, interrupts] = await Promise.all([
          kvm.open(this.subjects.buckets.snapshots),
          kvm.open(this.subjects.buckets.interrupts),
        ]);
        return {
          snapshots: new KvSnapshotStore(snapshots, this.subjects),
          interrupts: new InterruptStore(interrupts, this.subjects),
        };
      } catch (err) {
        this.stores = undefined;
        throw new Error(
          `cannot open the runtime's KV buckets: ${describeError(err)} (start a worker once to create them)`,
          { cause: err },
        );
      }
    })();
    return this.stores;
  }
}
