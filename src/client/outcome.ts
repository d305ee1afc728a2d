import { InterruptRecordSchema, type InterruptRecord } from '../base/schemas.js';
import type { StoredSnapshot } from '../stores/snapshotStore.js';
import type { EventWatch } from './eventWatch.js';

/** Where a workflow stands after a start or a resume. */
export type RunResult =
  | { status: 'paused'; workflowId: string; interrupt: InterruptRecord }
  | {
      status: 'completed';
      workflowId: string;
      outcome: string;
      category?: string;
      /** The context of the actor that completed the workflow. */
      state: Record<string, unknown> | undefined;
    }
  | { status: 'rejected'; workflowId: string; reason: string }
  /** A step failed after its retries (the model is down, say): `retry` re-runs it. */
  | { status: 'parked'; workflowId: string; actor: string; step: string; reason: string };

/** The runtime's verdict on a human response: accepted (`resumed`) or rejected, with why. */
export type Verdict =
  | { accepted: true; responseSeq: number }
  | { accepted: false; reason: string; responseSeq: number };

/** Waits for the runtime's verdict on the response at stream sequence `seq`. */
export async function awaitVerdict(
  watch: EventWatch,
  seq: number,
  timeoutMs: number,
): Promise<Verdict> {
  return watch.next(
    (e) => {
      if (e.data.responseSeq !== seq) return undefined;
      if (e.type === 'resumed') return { accepted: true as const, responseSeq: seq };
      if (e.type === 'response_rejected') {
        return { accepted: false as const, reason: String(e.data.reason), responseSeq: seq };
      }
      // Its step kept failing: the workflow is parked with it, and `hitl retry` applies it.
      if (e.type === 'failed' && e.data.retryable === true) {
        const reason = `the step applying it failed and the workflow is parked until 'hitl retry ${e.workflowId}' applies it: ${String(e.data.reason)}`;
        return { accepted: false as const, reason, responseSeq: seq };
      }
      return undefined;
    },
    timeoutMs,
    'the runtime to accept or reject the response (is a worker running?)',
  );
}

/**
 * Waits for the next `interrupted`, `completed` or retryable `failed` (after the response
 * `afterSeq`, if given).
 */
export async function awaitRunResult(
  watch: EventWatch,
  workflowId: string,
  snapshots: (workflowId: string) => Promise<StoredSnapshot[]>,
  timeoutMs: number,
  afterSeq?: number,
): Promise<RunResult> {
  let resumed = afterSeq === undefined;
  const event = await watch.next(
    (e) => {
      if (!resumed) {
        if (e.type === 'resumed' && e.data.responseSeq === afterSeq) resumed = true;
        return undefined;
      }
      if (e.type === 'failed' && e.data.retryable === true) return e;
      return e.type === 'interrupted' || e.type === 'completed' ? e : undefined;
    },
    timeoutMs,
    `workflow '${workflowId}' to pause or complete (is a worker running?)`,
  );
  if (event.type === 'interrupted') {
    return { status: 'paused', workflowId, interrupt: InterruptRecordSchema.parse(event.data) };
  }
  if (event.type === 'failed') {
    return {
      status: 'parked',
      workflowId,
      actor: event.actor,
      step: typeof event.data.step === 'string' ? event.data.step : event.actor,
      reason: String(event.data.reason),
    };
  }
  const stored = (await snapshots(workflowId)).find((s) => s.envelope.kind === event.actor);
  const snapshot = stored?.envelope.snapshot as { context?: Record<string, unknown> } | undefined;
  const result: RunResult = {
    status: 'completed',
    workflowId,
    outcome: String(event.data.outcome),
    state: snapshot?.context,
  };
  if (typeof event.data.category === 'string') result.category = event.data.category;
  return result;
}
