import { parseArgs, type ParseArgsConfig } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { ActorDefinition } from '../runtime/actorDefinition.js';
// The runtime is imported when a command runs, not for --help: the CLI answers help at once.
import type { HitlClient, RunResult } from '../client/client.js';
import { loadConfig, type HitlConfig } from '../base/config.js';
import { describeError } from '../base/errors.js';
import type { HumanResponse } from '../base/schemas.js';
import { describeNatsError } from '../nats/retry.js';
import { assertWorkflowId } from '../nats/subjects.js';
import type { TicketIntake } from '../worker/worker.js';
import {
  formatEvent,
  formatParked,
  formatPending,
  parkedHeader,
  pendingHeader,
  printable,
  terminalSafe,
} from './format.js';
import { redactNatsUrl } from '../nats/connection.js';
import { COMMAND_HELP, HELP } from './help.js';

/** A usage or input error: one line on stderr, exit code 2. */
class UsageError extends Error {
  override name = 'UsageError';
}

/** Prints a line to stdout; what came from the wire in it was made terminal-safe already. */
function out(line: string): void {
  process.stdout.write(`${printable(line)}\n`);
}

/** Prints a line to stderr, made terminal-safe whole (reasons quote what was sent). */
function fail(line: string): void {
  process.stderr.write(`${terminalSafe(line)}\n`);
}

/** The command being run, for usage errors that point at its help. */
let current = '';

function parse<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    const reason = describeError(err).replace(/\.? To specify a positional argument.*$/, '');
    throw new UsageError(`${reason} (see hitl ${current ? `${current} ` : ''}--help)`);
  }
}

/** A `--timeout MS` option: a positive whole number of milliseconds, 30 s when absent. */
function timeoutOption(value: string | boolean | undefined): number {
  if (value === undefined) return 30_000;
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) {
    throw new UsageError(
      `--timeout must be a positive integer of milliseconds, got '${String(value)}'`,
    );
  }
  return ms;
}

async function withClient<T>(
  config: HitlConfig,
  fn: (client: HitlClient) => Promise<T>,
): Promise<T> {
  const { HitlClient } = await import('../client/client.js');
  const client = await HitlClient.connect({ config });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

async function loadActors(
  config: HitlConfig,
  modulePath: string | undefined,
): Promise<{ definitions: ActorDefinition[]; intake?: TicketIntake }> {
  // `.js` names the compiled actors beside the compiled CLI; tsx maps it to the `.ts` source.
  const url = modulePath
    ? pathToFileURL(resolve(modulePath)).href
    : new URL('../../actors/index.js', import.meta.url).href;
  const mod = (await import(url)) as {
    createActors?: (c: HitlConfig) => { definitions: ActorDefinition[]; intake?: TicketIntake };
  };
  if (typeof mod.createActors !== 'function') {
    throw new UsageError(`module '${modulePath ?? url}' does not export createActors(config)`);
  }
  return mod.createActors(config);
}

async function worker(argv: string[], config: HitlConfig): Promise<number> {
  const { values } = parse(argv, {
    actors: { type: 'string' },
    concurrency: { type: 'string' },
    module: { type: 'string' },
  });
  const concurrency = values.concurrency === undefined ? 32 : Number(values.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new UsageError(
      `--concurrency must be a positive integer, got '${String(values.concurrency)}'`,
    );
  }
  const loaded = await loadActors(config, values.module ?? process.env.HITL_ACTORS_MODULE);
  let definitions = loaded.definitions;
  if (typeof values.actors === 'string') {
    const wanted = values.actors
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const known = definitions.map((d) => d.kind);
    const unknown = wanted.filter((k) => !known.includes(k));
    if (unknown.length > 0) {
      throw new UsageError(
        `unknown actor kind '${unknown[0]}'; expected some of: ${known.join(', ')}`,
      );
    }
    definitions = definitions.filter((d) => wanted.includes(d.kind));
  }
  const intake =
    loaded.intake && definitions.some((d) => d.kind === loaded.intake?.actor)
      ? loaded.intake
      : undefined;
  // Listen for signals before announcing readiness: whoever reads "ready" may signal at once.
  const stopRequested = new Promise<void>((done) => {
    const stop = (signal: string): void => {
      out(`hitl worker: ${signal}, draining`);
      done();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  const [{ Worker }, { createLogger }] = await Promise.all([
    import('../worker/worker.js'),
    import('../base/logger.js'),
  ]);
  const w = await Worker.start({
    config,
    definitions,
    ...(intake ? { intake } : {}),
    concurrency,
    logger: createLogger({ component: 'worker', pid: process.pid }),
  });
  out(
    `hitl worker ready (actors: ${definitions.map((d) => d.kind).join(', ')}; nats: ${redactNatsUrl(config.nats.url)}; prefix: ${config.prefix})`,
  );
  await stopRequested;
  await w.stop(config.drainTimeoutMs);
  out('hitl worker: stopped');
  // Steps still running past the drain bound were handed back to other workers: do not wait
  // for them (a hung model call would keep the process alive).
  if (w.stepsInFlight > 0) process.exit(0);
  return 0;
}

async function submit(argv: string[], config: HitlConfig): Promise<number> {
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

async function retry(argv: string[], config: HitlConfig): Promise<number> {
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

async function pending(argv: string[], config: HitlConfig): Promise<number> {
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

async function parked(argv: string[], config: HitlConfig): Promise<number> {
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

async function dlq(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
  const { listDeadLetters, retryDeadLetter } = await import('../client/deadLetters.js');
  if (positionals[0] === 'retry') {
    const seq = Number(positionals[1]);
    if (positionals.length !== 2 || !Number.isInteger(seq) || seq < 1) {
      throw new UsageError(`usage: hitl dlq retry <seq> (a sequence number that hitl dlq lists)`);
    }
    return withClient(config, async (client) => {
      const sent = await retryDeadLetter(client.nc, client.subjects, seq);
      out(
        `dead letter ${seq} sent again to ${sent.subject}${sent.duplicate ? ' (already sent)' : ''}`,
      );
      return 0;
    });
  }
  if (positionals.length > 0) {
    throw new UsageError(
      `unknown dlq argument '${positionals[0]}' (hitl dlq [--json] or hitl dlq retry <seq>)`,
    );
  }
  return withClient(config, async (client) => {
    const letters = await listDeadLetters(client.nc, client.subjects);
    if (values.json) out(JSON.stringify(letters));
    else if (letters.length === 0) out('no dead letters');
    else for (const d of letters) out(`${d.seq}\t${d.at}\t${d.source}\t${d.subject}\t${d.reason}`);
    return 0;
  });
}

async function respond(argv: string[], config: HitlConfig): Promise<number> {
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

async function show(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
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
        `hitl: no workflow '${wf}' (no events and no snapshots under prefix '${config.prefix}')\n`,
      );
      return 1;
    }
    const actors = snapshots.map((s) => ({
      actor: s.envelope.kind,
      status: s.envelope.status,
      // No machine snapshot: parked at its first message, before the machine started.
      state: (s.envelope.snapshot as { value?: unknown } | null)?.value ?? 'not started',
      version: s.envelope.version,
      steps: s.envelope.steps,
    }));
    if (values.json) {
      out(JSON.stringify({ workflowId: wf, events, actors, pending: interrupt ?? null }));
      return 0;
    }
    out(`workflow ${wf}`);
    for (const e of events) out(`  ${formatEvent(e, process.stdout.isTTY)}`);
    out('actors:');
    for (const a of actors)
      out(
        `  ${a.actor.padEnd(10)} ${a.status.padEnd(7)} state=${JSON.stringify(a.state)} v${a.version} steps=${a.steps}`,
      );
    out(interrupt ? `waiting for a human: ${formatPending(interrupt)}` : 'not waiting for a human');
    return 0;
  });
}

async function tap(argv: string[], config: HitlConfig): Promise<number> {
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

async function inbox(argv: string[], config: HitlConfig): Promise<number> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'trust-proxy-header': { type: 'string' },
    'reviewer-map': { type: 'string' },
    'secure-cookies': { type: 'boolean' },
    module: { type: 'string' },
  });
  const port = values.port === undefined ? 8080 : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError(`--port must be a port number, got '${String(values.port)}'`);
  }
  const secret = process.env.HITL_INBOX_SECRET;
  if (secret !== undefined && secret.length < 32) {
    throw new UsageError('HITL_INBOX_SECRET must be at least 32 characters (openssl rand -hex 32)');
  }
  const [{ startInbox }, { ReviewerNames }] = await Promise.all([
    import('../inbox/server.js'),
    import('../inbox/reviewerNames.js'),
  ]);
  const names = values['reviewer-map']
    ? ReviewerNames.fromFile(values['reviewer-map'])
    : ReviewerNames.normalising();
  const { definitions } = await loadActors(config, values.module ?? process.env.HITL_ACTORS_MODULE);
  const stopRequested = new Promise<void>((done) => {
    process.once('SIGINT', () => done());
    process.once('SIGTERM', () => done());
  });
  const server = await startInbox({
    config,
    definitions,
    port,
    host: values.host ?? '127.0.0.1',
    names,
    ...(values['trust-proxy-header'] ? { trustProxyHeader: values['trust-proxy-header'] } : {}),
    ...(secret ? { secret } : {}),
    secureCookies: values['secure-cookies'] === true,
  });
  const signIn = values['trust-proxy-header']
    ? `reviewers named by the proxy header ${values['trust-proxy-header']}`
    : 'reviewers sign in with their own NATS user';
  out(
    `hitl inbox: ${server.url} (${signIn}${secret ? '; answer links on' : '; answer links off: set HITL_INBOX_SECRET'})`,
  );
  await stopRequested;
  await server.close();
  out('hitl inbox: stopped');
  return 0;
}

async function link(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, {
    reviewer: { type: 'string' },
    ttl: { type: 'string' },
    url: { type: 'string' },
  });
  const [wf] = positionals;
  if (!wf) throw new UsageError('link needs a workflow id: hitl link <wf> --reviewer NAME');
  assertWorkflowId(wf);
  if (typeof values.reviewer !== 'string') {
    throw new UsageError('link needs --reviewer NAME (the reviewer the link answers as)');
  }
  const secret = process.env.HITL_INBOX_SECRET;
  if (!secret || secret.length < 32) {
    throw new UsageError(
      "link needs HITL_INBOX_SECRET (the inbox's secret, at least 32 characters) to sign the link",
    );
  }
  const { signGrant, parseTtl } = await import('../inbox/answerLinks.js');
  let ttl: number;
  try {
    ttl = parseTtl(values.ttl ?? '1h');
  } catch (err) {
    throw new UsageError(describeError(err));
  }
  const base = (values.url ?? process.env.HITL_INBOX_URL ?? 'http://127.0.0.1:8080').replace(
    /\/+$/,
    '',
  );
  return withClient(config, async (client) => {
    const pending = await client.interrupt(wf);
    if (!pending) {
      process.stderr.write(`hitl: workflow '${wf}' is not waiting for an answer\n`);
      return 1;
    }
    const token = signGrant(secret, {
      workflowId: wf,
      interruptId: pending.interruptId,
      reviewer: values.reviewer as string,
      expires: Date.now() + ttl,
    });
    out(`${base}/link/${token}`);
    return 0;
  });
}

const commands: Record<string, (argv: string[], config: HitlConfig) => Promise<number>> = {
  worker,
  submit,
  pending,
  parked,
  respond,
  show,
  tap,
  retry,
  dlq,
  inbox,
  link,
  demo: async (argv) => (await import('./demo.js')).runDemo(argv),
};

/** Runs the CLI; resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === 'help' && rest[0] !== undefined && COMMAND_HELP[rest[0]]) {
    out(COMMAND_HELP[rest[0]] as string);
    return 0;
  }
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    if (name) out(HELP);
    else process.stderr.write(HELP);
    return name ? 0 : 2;
  }
  const command = commands[name];
  const help = COMMAND_HELP[name];
  if (help && (rest.includes('--help') || rest.includes('-h'))) {
    out(help);
    return 0;
  }
  current = name;
  if (!command) {
    process.stderr.write(
      `hitl: unknown command '${name}' (commands: ${Object.keys(commands).join(', ')}; see hitl --help)\n`,
    );
    return 2;
  }
  try {
    return await command(rest, name === 'demo' ? ({} as HitlConfig) : loadConfig());
  } catch (err) {
    // Never a bare 'timeout': a NATS failure says what it likely means.
    fail(`hitl: ${describeNatsError(err)}`);
    return err instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
