// The commands that start, answer, inspect and retry workflows.
// The runtime is imported when a command runs, not for --help: the CLI answers help at once.
import type { RunResult } from '../client/client.js';
import type { HitlConfig } from '../base/config.js';
import type { HumanResponse } from '../base/schemas.js';
import { assertWorkflowId } from '../nats/subjects.js';
import {
  formatEvent,
  formatParked,
  formatPending,
  parkedHeader,
  pendingHeader,
  terminalSafe,
} from './format.js';
import { fail, out, parse, timeoutOption, UsageError, withClient } from './commandKit.js';

/** `hitl submit`: see its `--help` (help.ts). */
export async function submit(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, {
    id: { type: 'string' },
    customer: { type: 'string' },
    channel: { type: 'string' },
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  const request = positionals.join(' ').trim();
  if (!request) throw new UsageError('submit needs the request text: hitl submit "<request>"');
  const ticket = {
    request,
    ...(typeof values.id === 'string' ? { id: assertWorkflowId(values.id) } : {}),
    ...(typeof values.customer === 'string' ? { customer: values.customer } : {}),
    ...(typeof values.channel === 'string' ? { channel: values.channel } : {}),
  };
  const timeoutMs = timeoutOption(values.timeout);
  return withClient(config, async (client) => {
    if (!values.wait) {
      const { workflowId, duplicate } = await client.submit(ticket);
      if (values.json) out(JSON.stringify({ workflowId, duplicate }));
      else out(workflowId);
      return 0;
    }
    const run = await client.start(ticket, { timeoutMs });
    if (values.json) out(JSON.stringify(run));
    else printRun(run);
    return 0;
  });
}

/** Where a workflow got to, in a line or two. */
function printRun(run: RunResult): void {
  if (run.status === 'paused') {
    out(
      terminalSafe(
        `${run.workflowId} paused: ${run.interrupt.type} ${run.interrupt.interruptId} [${(run.interrupt.options ?? []).join('|')}] ${run.interrupt.question}`,
      ),
    );
    if (run.interrupt.draft) out(terminalSafe(`draft: ${run.interrupt.draft}`));
  } else if (run.status === 'completed') {
    out(
      terminalSafe(
        `${run.workflowId} completed: ${run.outcome}${run.category ? ` (${run.category})` : ''}`,
      ),
    );
  } else if (run.status === 'parked') {
    out(
      terminalSafe(
        `${run.workflowId} parked: ${run.step} failed: ${run.reason} (hitl retry ${run.workflowId} re-runs it)`,
      ),
    );
  }
}

/** `hitl retry`: see its `--help` (help.ts). */
export async function retry(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, {
    wait: { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  const [wf] = positionals;
  if (!wf) throw new UsageError('retry needs a workflow id: hitl retry <wf>');
  assertWorkflowId(wf);
  const timeoutMs = timeoutOption(values.timeout);
  return withClient(config, async (client) => {
    const result = await client.retry(wf, { wait: values.wait === true, timeoutMs });
    if (values.json) out(JSON.stringify(result));
    else if (result.duplicate) {
      out(
        terminalSafe(
          `${wf}: a retry of ${result.parked.step} was already requested for this failure`,
        ),
      );
    } else {
      out(
        terminalSafe(`${wf}: retrying ${result.parked.step} (it failed: ${result.parked.reason})`),
      );
      if (result.run) printRun(result.run);
    }
    if (result.run?.status === 'parked') {
      fail(`hitl: ${wf} failed again: ${result.run.reason}`);
      return 1;
    }
    return 0;
  });
}

/** `hitl pending`: see its `--help` (help.ts). */
export async function pending(argv: string[], config: HitlConfig): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } });
  return withClient(config, async (client) => {
    const records = await client.pending();
    if (values.json) out(JSON.stringify(records));
    else if (records.length === 0) out('nothing is waiting for a human');
    else {
      out(pendingHeader());
      for (const r of records) out(formatPending(r));
    }
    return 0;
  });
}

/** `hitl parked`: see its `--help` (help.ts). */
export async function parked(argv: string[], config: HitlConfig): Promise<number> {
  const { values } = parse(argv, { json: { type: 'boolean' } });
  return withClient(config, async (client) => {
    const found = await client.parked();
    if (values.json) out(JSON.stringify(found));
    else if (found.length === 0) out('no workflow is parked');
    else {
      out(parkedHeader());
      for (const p of found) out(formatParked(p));
    }
    return 0;
  });
}

/** `hitl respond`: see its `--help` (help.ts). */
export async function respond(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, {
    reviewer: { type: 'string' },
    interrupt: { type: 'string' },
    update: { type: 'string' },
    comment: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  const [wf, answer] = positionals;
  if (!wf || !answer)
    throw new UsageError(
      'respond needs a workflow id and an answer: hitl respond <wf> <answer> --reviewer NAME',
    );
  if (typeof values.reviewer !== 'string' || values.reviewer.trim() === '') {
    throw new UsageError(
      'respond needs --reviewer NAME (who answers is recorded in the audit trail)',
    );
  }
  const response: HumanResponse = { answer, reviewer: values.reviewer };
  if (typeof values.interrupt === 'string') response.interruptId = values.interrupt;
  if (typeof values.comment === 'string') response.comment = values.comment;
  if (typeof values.update === 'string') {
    let update: unknown;
    try {
      update = JSON.parse(values.update);
    } catch {
      throw new UsageError(`--update must be a JSON object, got '${values.update}'`);
    }
    if (typeof update !== 'object' || update === null || Array.isArray(update)) {
      throw new UsageError(`--update must be a JSON object, got '${values.update}'`);
    }
    response.update = update as Record<string, unknown>;
  }
  const timeoutMs = timeoutOption(values.timeout);
  return withClient(config, async (client) => {
    // Without --interrupt, the response names the interrupt pending now: repeating the
    // command cannot answer the question asked after it.
    const verdict = await client.respond(assertWorkflowId(wf), response, {
      timeoutMs,
      namePending: true,
    });
    if (values.json) out(JSON.stringify(verdict));
    if (verdict.accepted) {
      if (!values.json) out(`${wf}: ${answer} accepted`);
      return 0;
    }
    fail(`hitl: response rejected: ${verdict.reason}`);
    return 1;
  });
}

/** `hitl show`: see its `--help` (help.ts). */
export async function show(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, {
    json: { type: 'boolean' },
    snapshots: { type: 'boolean' },
  });
  const [wf] = positionals;
  if (!wf) throw new UsageError('show needs a workflow id: hitl show <wf>');
  assertWorkflowId(wf);
  return withClient(config, async (client) => {
    const [events, snapshots, interrupt] = await Promise.all([
      import('../client/eventLog.js').then((m) =>
        m.readWorkflowEvents(client.nc, client.subjects, wf),
      ),
      client.snapshots(wf),
      client.interrupt(wf),
    ]);
    if (events.length === 0 && snapshots.length === 0) {
      process.stderr.write(
        `hitl: no workflow '${wf}' (no events and no snapshots under prefix '${config.prefix}'; a completed workflow's snapshots are removed after HITL_FINISHED_RETENTION_MS, its events after HITL_EVENTS_MAX_AGE_MS)\n`,
      );
      return 1;
    }
    // Completed, and its actors' snapshots removed since (HITL_FINISHED_RETENTION_MS).
    const removed = snapshots.length === 0 && events.some((e) => e.type === 'completed');
    const actors = snapshots.map((s) => ({
      actor: s.envelope.kind,
      status: s.envelope.status,
      // No machine snapshot: parked at its first message, before the machine started.
      state: (s.envelope.snapshot as { value?: unknown } | null)?.value ?? 'not started',
      version: s.envelope.version,
      steps: s.envelope.steps,
    }));
    if (values.snapshots) {
      // Stored values may be compressed (storage format 2, the default): `nats kv get` shows bytes.
      for (const s of snapshots) {
        const key = client.subjects.snapshotKey(s.envelope.kind, wf);
        out(JSON.stringify({ key, revision: s.revision, envelope: s.envelope }));
      }
      return 0;
    }
    if (values.json) {
      out(
        JSON.stringify({
          workflowId: wf,
          events,
          actors,
          pending: interrupt ?? null,
          ...(removed ? { removed: true } : {}),
        }),
      );
      return 0;
    }
    out(`workflow ${wf}`);
    for (const e of events) out(`  ${formatEvent(e, process.stdout.isTTY)}`);
    if (removed) {
      out(
        'actors: none kept: the workflow completed and its snapshots were removed (HITL_FINISHED_RETENTION_MS)',
      );
      return 0;
    }
    out('actors:');
    for (const a of actors)
      out(
        `  ${a.actor.padEnd(10)} ${a.status.padEnd(7)} state=${JSON.stringify(a.state)} v${a.version} steps=${a.steps}`,
      );
    out(interrupt ? `waiting for a human: ${formatPending(interrupt)}` : 'not waiting for a human');
    return 0;
  });
}

/** `hitl tap`: see its `--help` (help.ts). */
export async function tap(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
  const [wf] = positionals;
  if (wf) assertWorkflowId(wf);
  return withClient(config, async (client) => {
    const abort = new AbortController();
    process.once('SIGINT', () => abort.abort());
    process.once('SIGTERM', () => abort.abort());
    const events = await client.events(wf, { signal: abort.signal });
    process.stderr.write(`hitl tap: listening on ${client.subjects.events(wf)}\n`);
    for await (const e of events) {
      out(values.json ? JSON.stringify(e) : formatEvent(e, process.stdout.isTTY));
    }
    return 0;
  });
}
