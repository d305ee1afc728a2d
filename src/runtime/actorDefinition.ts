import type { AnyStateMachine } from 'xstate';
import type { z } from 'zod';
import { IncompatibleSnapshotError, NewerSnapshotError } from '../base/errors.js';
import type { SnapshotEnvelope } from '../base/schemas.js';
import { assertActorKind } from '../nats/subjects.js';

/** Turns a persisted snapshot of machine version `n` into one of version `n + 1`. */
export type SnapshotMigration = (snapshot: unknown) => unknown;

/**
 * An actor kind the runtime can host: its machine (with every implementation provided), the
 * version its snapshots are stamped with, and what its interrupts accept.
 */
export interface ActorDefinition {
  readonly kind: string;
  readonly machine: AnyStateMachine;
  readonly version: number;
  /** `migrations[n]` upgrades a version-`n` snapshot to version `n + 1`. */
  readonly migrations: Readonly<Record<number, SnapshotMigration>>;
  /** Per interrupt type, the `update` a response may carry. Types not listed accept none. */
  readonly updates: Readonly<Record<string, z.ZodType<Record<string, unknown>>>>;
}

/**
 * Declares an actor kind.
 *
 * @example
 * const expense = defineActor({ kind: 'expense', machine: expenseMachine, version: 1 });
 */
export function defineActor(def: {
  kind: string;
  machine: AnyStateMachine;
  version?: number;
  migrations?: Record<number, SnapshotMigration>;
  updates?: Record<string, z.ZodType<Record<string, unknown>>>;
}): ActorDefinition {
  return {
    kind: assertActorKind(def.kind),
    machine: def.machine,
    version: def.version ?? 1,
    migrations: def.migrations ?? {},
    updates: def.updates ?? {},
  };
}

/**
 * The snapshot of `env` as `def`'s machine version reads it: upgraded through `def.migrations`.
 * Throws {@link NewerSnapshotError} when the snapshot is newer than the machine (another worker
 * hosts that version: a rolling upgrade), {@link IncompatibleSnapshotError} when a migration is
 * missing.
 */
export function migrateSnapshot(def: ActorDefinition, env: SnapshotEnvelope): unknown {
  if (env.version > def.version) {
    throw new NewerSnapshotError(
      `snapshot of '${def.kind}' was written by machine version ${env.version}, newer than this worker's ${def.version}`,
      env.version,
      def.version,
      { workflowId: env.workflowId },
    );
  }
  let snapshot = env.snapshot;
  for (let v = env.version; v < def.version; v++) {
    const migration = def.migrations[v];
    if (!migration) {
      throw new IncompatibleSnapshotError(
        `snapshot of '${def.kind}' was written by machine version ${env.version}, this worker runs version ${def.version} and declares no migration from ${v}`,
        { workflowId: env.workflowId },
      );
    }
    snapshot = migration(snapshot);
  }
  return snapshot;
}
