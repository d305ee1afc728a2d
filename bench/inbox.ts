/**
 * `npx tsx bench/inbox.ts`: how long the reviewers' inbox takes to load its list with 10,000
 * interrupts pending (`BENCH_INBOX_PENDING` to change the count), and the page's weight. A
 * measurement, not a test: it prints the numbers and asserts nothing.
 *
 * Measured: the inbox's start (its KV watch loads every pending record), one list request
 * (a sort, filter and slice of all of them), a text search, the page in headless Chromium from
 * navigation until the first 50 rows show, and a new interrupt's way from KV into the open page.
 */
import { execFileSync } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { gzipSync } from 'node:zlib';
import { Kvm } from '@nats-io/kv';
import { connect } from '@nats-io/transport-node';
import { chromium } from 'playwright-core';
import { createActors } from '../actors/index.js';
import { loadConfig } from '../src/base/config.js';
import { createLogger } from '../src/base/logger.js';
import { startNatsServer } from '../src/cli/natsServer.js';
import { ReviewerNames } from '../src/inbox/reviewerNames.js';
import { startInbox } from '../src/inbox/server.js';
import { mapLimit } from '../src/nats/streamReads.js';
import { Subjects } from '../src/nats/subjects.js';
import { Worker } from '../src/worker/worker.js';

const PENDING = Number(process.env.BENCH_INBOX_PENDING ?? 10_000);
const PAGE_FILES = ['index.html', 'app.js', 'machine.js', 'style.css'];

function ms(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

async function pageWeight(): Promise<{ raw: number; gzip: number }> {
  let raw = 0;
  let gzip = 0;
  for (const f of PAGE_FILES) {
    const data = await readFile(new URL(`../src/inbox/page/${f}`, import.meta.url));
    raw += data.length;
    gzip += gzipSync(data).length;
  }
  return { raw, gzip };
}

async function main(): Promise<void> {
  const server = await startNatsServer();
  const prefix = 'bench';
  const config = loadConfig({
    NATS_URL: server.url,
    HITL_PREFIX: prefix,
    HITL_MODEL_PROVIDER: 'mock',
  });
  const subjects = new Subjects(prefix);
  const definitions = createActors(config).definitions;
  // A worker creates the streams and buckets, then leaves: the list needs none running.
  const worker = await Worker.start({
    config,
    definitions,
    concurrency: 1,
    logger: createLogger({}, 'silent'),
  });
  await worker.stop();
  const nc = await connect({ servers: server.url });
  const kv = await new Kvm(nc).open(subjects.buckets.interrupts);
  const now = Date.now();
  let t = performance.now();
  await mapLimit(
    Array.from({ length: PENDING }, (_, i) => i),
    256,
    (i) => {
      const wf = `wf-${String(i).padStart(6, '0')}`;
      const approval = i % 3 !== 0;
      return kv.put(
        subjects.interruptKey(wf),
        JSON.stringify({
          workflowId: wf,
          interruptId: approval ? 'gate-1' : 'triage-1',
          actor: approval ? 'gate' : 'triage',
          type: approval ? 'approval' : 'escalation',
          question: approval
            ? 'Send this refund reply to the customer?'
            : `Which category fits request ${i}?`,
          options: approval ? ['yes', 'no'] : ['refund', 'billing', 'technical', 'drop'],
          ...(approval
            ? { category: i % 2 ? 'refund' : 'billing', draft: `Hello, about your case ${i}: …` }
            : {}),
          createdAt: new Date(now - i * 1_000).toISOString(),
          expiresAt: new Date(now + 86_400_000 - i * 5_000).toISOString(),
        }),
      );
    },
  );
  process.stderr.write(`put ${PENDING} pending interrupts in ${ms(t)} ms\n`);

  t = performance.now();
  const inbox = await startInbox({
    config,
    definitions,
    port: 0,
    names: ReviewerNames.normalising(),
    trustProxyHeader: 'X-Forwarded-User',
  });
  const startMs = ms(t);
  const headers = { 'x-forwarded-user': 'bench@example.com' };
  const timeRequest = async (path: string): Promise<number> => {
    const s = performance.now();
    const res = await fetch(`${inbox.url}${path}`, { headers });
    await res.arrayBuffer();
    return ms(s);
  };
  const list: number[] = [];
  const search: number[] = [];
  for (let i = 0; i < 20; i++) {
    list.push(await timeRequest('/api/pending?sort=deadline&limit=50'));
    search.push(await timeRequest('/api/pending?text=request%2099&type=escalation'));
  }

  let browserMs: number | undefined;
  let liveMs: number | undefined;
  let reloadMs: number | undefined;
  let chromiumPath: string | undefined;
  try {
    chromiumPath = execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    process.stderr.write('chromium not installed: the browser numbers are skipped\n');
  }
  if (chromiumPath) {
    const browser = await chromium.launch({
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    const context = await browser.newContext({ extraHTTPHeaders: headers });
    const page = await context.newPage();
    const expected = `1–50 of ${PENDING.toLocaleString('en')} waiting`;
    t = performance.now();
    await page.goto(inbox.url);
    await page.locator('#count', { hasText: expected }).waitFor({ timeout: 120_000 });
    browserMs = ms(t);
    // Again, with the browser warm: what a reviewer's reload costs.
    t = performance.now();
    await page.reload();
    await page.locator('#count', { hasText: expected }).waitFor({ timeout: 120_000 });
    reloadMs = ms(t);
    t = performance.now();
    await kv.put(
      subjects.interruptKey('wf-new'),
      JSON.stringify({
        workflowId: 'wf-new',
        interruptId: 'triage-1',
        actor: 'triage',
        type: 'escalation',
        question: 'Which category fits this brand new request?',
        options: ['refund', 'billing', 'technical', 'drop'],
        createdAt: new Date(Date.now() + 60_000).toISOString(),
      }),
    );
    await page.locator('#items button[data-wf="wf-new"]').waitFor();
    liveMs = ms(t);
    await browser.close();
  }
  await inbox.close();
  await nc.close();
  await server.dispose();

  const weight = await pageWeight();
  const kb = (n: number) => `${(n / 1024).toFixed(1)} KB`;
  process.stdout.write(
    [
      `hitl inbox with ${PENDING.toLocaleString('en')} pending interrupts`,
      `  inbox start (KV watch loads them all):   ${startMs} ms`,
      `  list request, first 50 by deadline:      ${median(list)} ms (median of 20)`,
      `  text search over all:                    ${median(search)} ms (median of 20)`,
      `  page in Chromium until the rows show:    ${browserMs ?? '-'} ms (first load), ${reloadMs ?? '-'} ms (reload)`,
      `  a new interrupt into the open page:      ${liveMs ?? '-'} ms`,
      `  page weight: ${kb(weight.raw)} (${kb(weight.gzip)} gzipped; ${PAGE_FILES.join(', ')})`,
      '',
    ].join('\n'),
  );
}

await main();
