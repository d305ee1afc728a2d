import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { HitlClient } from '../client/client.js';
import { loadConfig, type HitlConfig } from '../base/config.js';
import type { ActorDefinition } from '../runtime/actorDefinition.js';
import { describeError } from '../base/errors.js';
import {
  ensureNatsServerBinary,
  isPortListening,
  startNatsServer,
  type NatsServerHandle,
} from './natsServer.js';
import type { EventEnvelope } from '../base/schemas.js';
import { formatEvent } from './format.js';

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

/**
 * Runs the CLI in a child process with the demo's environment, started as this one was: the
 * installed `bin/hitl.js` (compiled), or `src/cli/main.ts` under tsx in a checkout
 * (`npm run demo`), whose loader flags are in `process.execArgv`.
 */
function hitl(args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const script = process.argv[1] ?? '';
  return spawn(process.execPath, [...process.execArgv, script, ...args], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Starts `hitl worker` in its own process and resolves once it is consuming. */
async function startWorkerProcess(name: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = hitl(['worker'], env);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  await new Promise<void>((resolve, reject) => {
    let buffered = '';
    child.stdout?.on('data', (d: Buffer) => {
      buffered += d.toString();
      if (buffered.includes('hitl worker ready')) resolve();
    });
    child.once('exit', (code) =>
      reject(new Error(`${name} exited early (code ${code}): ${stderr.trim()}`)),
    );
  });
  say(`   ${name} started (pid ${child.pid})`);
  return child;
}

async function stopWorkerProcess(name: string, child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit') as Promise<[number | null]>;
  child.kill('SIGTERM');
  const [code] = await exited;
  say(`   ${name} (pid ${child.pid}) exited with code ${code}`);
}

async function runProcess(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = hitl(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

/** Resolves when `wf` emits an event of `type`, seen by the demo's tap. */
function waitForEvent(
  seen: EventEnvelope[],
  listeners: Set<() => void>,
  wf: string,
  type: string,
  timeoutMs = 30_000,
): Promise<EventEnvelope> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const found = seen.find((e) => e.workflowId === wf && e.type === type);
      if (found) {
        listeners.delete(listener);
        clearTimeout(timer);
        resolve(found);
        return true;
      }
      return false;
    };
    const listener = (): void => void check();
    const timer = setTimeout(() => {
      listeners.delete(listener);
      reject(new Error(`timed out waiting for '${type}' of ${wf}`));
    }, timeoutMs);
    listeners.add(listener);
    check();
  });
}

/**
 * `hitl demo`: patterns A, B and C end to end, each step printed from the event subjects.
 * Uses the NATS that NATS_URL names; with none configured and none listening on 4222, starts a
 * local nats-server in a temporary folder and stops it at the end.
 */
export async function runDemo(_argv: string[]): Promise<number> {
  let server: NatsServerHandle | undefined;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HITL_LOG_LEVEL: process.env.HITL_LOG_LEVEL ?? 'warn',
  };
  if (!process.env.NATS_URL) {
    if (await isPortListening('127.0.0.1', 4222)) {
      env.NATS_URL = 'nats://127.0.0.1:4222';
      say(`== using the NATS server listening on ${env.NATS_URL}`);
    } else {
      const binary = await ensureNatsServerBinary();
      server = await startNatsServer({ binary });
      env.NATS_URL = server.url;
      say(
        `== started a local nats-server with JetStream at ${server.url} (store: ${server.storeDir})`,
      );
    }
  } else {
    say(`== using NATS_URL=${process.env.NATS_URL}`);
  }
  const config = loadConfig(env);
  say(`== model provider: ${config.model.provider}; subject prefix: ${config.prefix}`);
  const children = new Set<ChildProcess>();
  const startedAt = new Date();
  const stamp = startedAt.getTime().toString(36);
  const ids = { a: `demo-a-${stamp}`, b: `demo-b-${stamp}`, c: `demo-c-${stamp}` };
  let client: HitlClient | undefined;
  let inbox: Awaited<ReturnType<typeof startDemoInbox>> | undefined;
  try {
    let worker1 = await startWorkerProcess('worker 1', env);
    children.add(worker1);
    client = await HitlClient.connect({ config });
    inbox = await startDemoInbox(config);
    say(`== reviewers' inbox (hitl inbox) at ${inbox.url}`);
    const seen: EventEnvelope[] = [];
    const listeners = new Set<() => void>();
    const tapAbort = new AbortController();
    const events = await client.events(undefined, { signal: tapAbort.signal, since: startedAt });
    const tap = (async () => {
      for await (const e of events) {
        if (!Object.values(ids).includes(e.workflowId)) continue;
        seen.push(e);
        say(`   ${formatEvent(e, process.stdout.isTTY)}`);
        for (const l of [...listeners]) l();
      }
    })();

    say('\n== Pattern A: approval gate (triage -> draft -> human approves -> send)');
    await client.submit({
      id: ids.a,
      request: 'My parcel never arrived, I want my money back',
      customer: 'Ada',
    });
    const a = await waitForEvent(seen, listeners, ids.a, 'interrupted');
    say(
      `   a reviewer could answer it in the inbox: ${inbox.url}/link/${inbox.link(ids.a, String(a.data.interruptId), 'alice')}`,
    );
    say(`   the reviewer sees the draft and answers yes to ${String(a.data.interruptId)}`);
    const ra = await client.respond(ids.a, { answer: 'yes', reviewer: 'alice' });
    if (!ra.accepted) throw new Error(`pattern A response rejected: ${ra.reason}`);
    await waitForEvent(seen, listeners, ids.a, 'completed');

    say('\n== Pattern B: human as a tool (triage is unsure -> asks a human for the category)');
    await client.submit({
      id: ids.b,
      request: 'Something is weird with my account since yesterday',
      customer: 'Bob',
    });
    await waitForEvent(seen, listeners, ids.b, 'interrupted');
    say('   a human answers the question: technical');
    const rb = await client.respond(ids.b, { answer: 'technical', reviewer: 'bruno' });
    if (!rb.accepted) throw new Error(`pattern B response rejected: ${rb.reason}`);
    await waitForEvent(seen, listeners, ids.b, 'completed');

    say('\n== Pattern C: long pause (the workflow outlives the process that paused it)');
    await client.submit({
      id: ids.c,
      request: 'I was charged twice for my subscription',
      customer: 'Cleo',
    });
    await waitForEvent(seen, listeners, ids.c, 'interrupted');
    say('   stopping worker 1 while the workflow waits for a human');
    await stopWorkerProcess('worker 1', worker1);
    children.delete(worker1);
    const waiting = await client.interrupt(ids.c);
    say(
      `   no worker runs; JetStream KV still holds the pause: ${waiting ? `${waiting.type} ${waiting.interruptId}` : 'MISSING'}`,
    );
    const worker2 = await startWorkerProcess('worker 2', env);
    children.add(worker2);
    worker1 = worker2;
    say(`   a separate responder process answers: hitl respond ${ids.c} yes --reviewer carol`);
    const responder = await runProcess(['respond', ids.c, 'yes', '--reviewer', 'carol'], env);
    if (responder.code !== 0) throw new Error(`responder failed: ${responder.stderr.trim()}`);
    say(`   responder exited 0: ${responder.stdout.trim()}`);
    await waitForEvent(seen, listeners, ids.c, 'completed');
    await stopWorkerProcess('worker 2', worker2);
    children.delete(worker2);

    tapAbort.abort();
    await tap;
    const outcomes = Object.values(ids).map(
      (wf) => seen.find((e) => e.workflowId === wf && e.type === 'completed')?.data.outcome,
    );
    say(`\n== done: A ${String(outcomes[0])}, B ${String(outcomes[1])}, C ${String(outcomes[2])}`);
    return 0;
  } catch (err) {
    process.stderr.write(`hitl demo: ${describeError(err)}\n`);
    return 1;
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await inbox?.close();
    await client?.close();
    await server?.dispose();
  }
}

/** The reviewers' inbox, in process on a free port, with a one-off secret for answer links. */
async function startDemoInbox(config: HitlConfig) {
  const [{ startInbox }, { ReviewerNames }, { signGrant }, actors] = await Promise.all([
    import('../inbox/server.js'),
    import('../inbox/reviewerNames.js'),
    import('../inbox/answerLinks.js'),
    import(new URL('../../actors/index.ts', import.meta.url).href) as Promise<{
      createActors: (c: HitlConfig) => { definitions: ActorDefinition[] };
    }>,
  ]);
  const secret = randomBytes(32).toString('base64url');
  const inbox = await startInbox({
    config,
    definitions: actors.createActors(config).definitions,
    port: 0,
    names: ReviewerNames.normalising(),
    secret,
  });
  return {
    url: inbox.url,
    close: () => inbox.close(),
    link: (workflowId: string, interruptId: string, reviewer: string) =>
      signGrant(secret, { workflowId, interruptId, reviewer, expires: Date.now() + 3_600_000 }),
  };
}
