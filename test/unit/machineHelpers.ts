import { expect } from 'vitest';
import {
  initialTransition,
  transition,
  type AnyEventObject,
  type AnyMachineSnapshot,
  type AnyStateMachine,
} from 'xstate';
import type { ActorDefinition } from '../../src/runtime/actorDefinition.js';
import type { HitlEmitted, ResumeEvent } from '../../src/runtime/effects.js';

/** One pure step of a machine: the snapshot it left (already JSON round-tripped) and its effects. */
export interface PureStep {
  snapshot: AnyMachineSnapshot;
  /** The `emit(…)` payloads, in order. */
  emitted: HitlEmitted[];
  /** The invoked actors the step started: id, logic name and input. */
  spawned: { id: string; src: unknown; input: unknown }[];
}

interface ExecutableAction {
  type: string;
  params?: unknown;
}

/**
 * XState 5.33's pure API returns `emit(…)` as executable actions of type `xstate.emit` whose
 * `params.event` is the emitted event; they only reach `actor.on(…)` listeners when executed.
 */
export function emittedOf(actions: readonly ExecutableAction[]): HitlEmitted[] {
  return actions
    .filter((a) => a.type === 'xstate.emit')
    .map((a) => (a.params as { event: HitlEmitted }).event);
}

function spawnedOf(actions: readonly ExecutableAction[]): PureStep['spawned'] {
  return actions
    .filter((a) => a.type === 'xstate.spawnChild')
    .map((a) => {
      const { id, src, input } = a.params as { id: string; src: unknown; input: unknown };
      return { id, src, input };
    });
}

/** What the host stores for `snapshot`, serialised and parsed as the KV store would. */
export function persistedJson(machine: AnyStateMachine, snapshot: AnyMachineSnapshot): unknown {
  return JSON.parse(JSON.stringify(machine.getPersistedSnapshot(snapshot)));
}

/** Restores `snapshot` from its JSON form, as a worker that never saw it would. */
export function roundTrip(
  machine: AnyStateMachine,
  snapshot: AnyMachineSnapshot,
): AnyMachineSnapshot {
  const json = persistedJson(machine, snapshot) as Parameters<AnyStateMachine['resolveState']>[0];
  const restored = machine.resolveState(json);
  expect(restored.value, 'state value survives a JSON round trip').toEqual(snapshot.value);
  expect(restored.status, 'status survives a JSON round trip').toBe(snapshot.status);
  // Compared with the live context, so a value JSON cannot carry (an Error, a Date) fails here.
  expect(restored.context, 'context survives a JSON round trip').toEqual(snapshot.context);
  return restored;
}

/** Starts `machine` with `input`; the returned snapshot is the JSON-restored one. */
export function start(machine: AnyStateMachine, input: unknown): PureStep {
  const [snapshot, actions] = initialTransition(machine, input);
  return {
    snapshot: roundTrip(machine, snapshot),
    emitted: emittedOf(actions),
    spawned: spawnedOf(actions),
  };
}

/**
 * Sends `event` both to `snapshot` and to its JSON-restored copy, checks that the two agree
 * (state, context and effects), and returns the step taken from the restored copy, itself
 * round-tripped, so a flow built from these steps only ever continues from restored snapshots.
 */
export function step(
  machine: AnyStateMachine,
  snapshot: AnyMachineSnapshot,
  event: AnyEventObject,
): PureStep {
  const [live, liveActions] = transition(machine, snapshot, event);
  const [fromJson, actions] = transition(machine, roundTrip(machine, snapshot), event);
  expect(fromJson.value, 'restored snapshot reaches the same state').toEqual(live.value);
  expect(fromJson.context, 'restored snapshot reaches the same context').toEqual(live.context);
  expect(emittedOf(actions), 'restored snapshot emits the same effects').toEqual(
    emittedOf(liveActions),
  );
  return {
    snapshot: roundTrip(machine, fromJson),
    emitted: emittedOf(actions),
    spawned: spawnedOf(actions),
  };
}

/** The event XState delivers when the invoked actor `id` resolves with `output`. */
export function invokeDone(id: string, output: unknown): AnyEventObject {
  return { type: `xstate.done.actor.${id}`, output, actorId: id };
}

/** The event XState delivers when the invoked actor `id` rejects with `error`. */
export function invokeError(id: string, error: unknown): AnyEventObject {
  return { type: `xstate.error.actor.${id}`, error, actorId: id };
}

/** The id of the single actor a step invoked, failing the test when there is not exactly one. */
export function onlySpawned(s: PureStep): { id: string; src: unknown; input: unknown } {
  expect(s.spawned).toHaveLength(1);
  return s.spawned[0]!;
}

/** A human's accepted answer, as the host delivers it after `checkResponse`. */
export function resume(
  answer: string,
  options: { reviewer?: string; update?: Record<string, unknown>; interruptType?: string } = {},
): ResumeEvent {
  return {
    type: 'hitl.resume',
    interruptId: 'int-1',
    interruptType: options.interruptType ?? 'approval',
    answer,
    update: options.update ?? {},
    reviewer: options.reviewer ?? 'ana',
  };
}

/** The definition of actor `kind` among `definitions`. */
export function definitionOf(
  definitions: readonly ActorDefinition[],
  kind: string,
): ActorDefinition {
  const def = definitions.find((d) => d.kind === kind);
  if (!def) throw new Error(`no actor definition of kind '${kind}'`);
  return def;
}

/** A JSON round trip, as a value goes through KV. */
export function viaJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}
