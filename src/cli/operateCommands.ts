// The commands that operate the runtime: the worker, dead letters, the inbox and answer links.
import type { HitlConfig } from '../base/config.js';
import { describeError } from '../base/errors.js';
import { assertWorkflowId } from '../nats/subjects.js';
import { redactNatsUrl } from '../nats/connection.js';
import { loadActors, out, parse, timeoutOption, UsageError, withClient } from './commandKit.js';
import { terminalSafe } from './format.js';

/** `hitl worker`: see its `--help` (help.ts). */
export async function worker(argv: string[], config: HitlConfig): Promise<number> {
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

/** `hitl cancel`: see its `--help` (help.ts). */
export async function cancel(argv: string[], config: HitlConfig): Promise<number> {
  const { values, positionals } = parse(argv, {
    reason: { type: 'string' },
    by: { type: 'string' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
  });
  const [wf] = positionals;
  if (!wf || positionals.length > 1) {
    throw new UsageError('cancel needs one workflow id: hitl cancel <wf> --reason TEXT');
  }
  assertWorkflowId(wf);
  if (typeof values.reason !== 'string' || values.reason.trim() === '') {
    throw new UsageError('cancel needs --reason TEXT (why it ends is recorded in the event)');
  }
  const by = values.by ?? process.env.HITL_OPERATOR;
  if (by !== undefined && by.trim() === '') throw new UsageError('--by needs a name');
  const timeoutMs = timeoutOption(values.timeout);
  const { reason } = values;
  return withClient(config, async (client) => {
    const result = await client.cancel(wf, {
      reason,
      ...(by !== undefined ? { by } : {}),
      timeoutMs,
    });
    if (values.json) out(JSON.stringify(result));
    else {
      out(
        terminalSafe(
          `${wf}: cancelled at ${result.actor} (${result.was}) by ${result.by}: ${result.reason}`,
        ),
      );
    }
    return 0;
  });
}

/** `hitl dlq`: see its `--help` (help.ts). */
export async function dlq(argv: string[], config: HitlConfig): Promise<number> {
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

/** `hitl inbox`: see its `--help` (help.ts). */
export async function inbox(argv: string[], config: HitlConfig): Promise<number> {
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

/** `hitl link`: see its `--help` (help.ts). */
export async function link(argv: string[], config: HitlConfig): Promise<number> {
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
