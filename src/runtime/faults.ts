/**
 * Points in a step where a test can have the process killed, to show that a crash there loses
 * nothing and duplicates nothing: before the snapshot's compare-and-set, after it (the outbox
 * not yet published), and after the outbox is published (the message not yet acked).
 */
export const FAULT_POINTS = ['before-kv-write', 'after-kv-write', 'after-publish'] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

interface FaultSpec {
  point: FaultPoint;
  kind: string | undefined;
}

/**
 * Reads `HITL_FAULT=<point>[:<actor kind>]`.
 *
 * @example
 * parseFault('after-kv-write:gate'); // { point: 'after-kv-write', kind: 'gate' }
 */
export function parseFault(value: string | undefined): FaultSpec | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const [point, kind, ...rest] = value.trim().split(':');
  if (!(FAULT_POINTS as readonly string[]).includes(point ?? '') || rest.length > 0) {
    throw new Error(
      `HITL_FAULT must be '<point>' or '<point>:<actor kind>' with point one of ${FAULT_POINTS.join(', ')}, got '${value}'`,
    );
  }
  return { point: point as FaultPoint, kind: kind === '' ? undefined : kind };
}

// Read once: unset (always, outside crash tests) every call below is one comparison.
const spec = parseFault(process.env.HITL_FAULT);
let fired = false;

/**
 * Kills this process with SIGKILL (no cleanup, no ack, nothing flushed) the first time a step
 * of actor `kind` reaches `point`, when `HITL_FAULT` names it. A test-only crash switch.
 */
export function fault(point: FaultPoint, kind: string): void {
  if (spec === undefined || fired || spec.point !== point) return;
  if (spec.kind !== undefined && spec.kind !== kind) return;
  fired = true;
  process.kill(process.pid, 'SIGKILL');
}
