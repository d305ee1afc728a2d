import { mkdir } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createActors } from '../../actors/index.js';
import { Subjects, type InterruptRecord } from '../../src/index.js';
import { Kvm } from '@nats-io/kv';
import { signGrant } from '../../src/inbox/answerLinks.js';
import { ReviewerNames } from '../../src/inbox/reviewerNames.js';
import { startInbox, type Inbox } from '../../src/inbox/server.js';
import { runCli } from '../helpers/cli.js';
import { eventually } from '../helpers/eventually.js';
import {
  publishRaw,
  readStream,
  serverPerFile,
  startWorker,
  storedEvents,
  testConfig,
  uniquePrefix,
} from '../helpers/harness.js';

const shared = serverPerFile();
const SECRET = 'test-secret-0123456789abcdef0123456789abcdef';
const SHOTS = new URL('../../docs/img/', import.meta.url);
let browser: Browser;

/** Debian's chromium (browser downloads do not work here): `which chromium`. */
function chromiumPath(): string {
  try {
    return execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('chromium is not installed: apt-get install -y chromium (as .ci/run does)');
  }
}

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}, 60_000);
afterAll(async () => {
  await browser?.close();
});

/** A worker, an inbox behind a (pretend) proxy naming reviewers in X-Forwarded-User, one prefix. */
async function setup(signIn: 'proxy' | 'nats' = 'proxy', env: Record<string, string> = {}) {
  const prefix = uniquePrefix('inbox');
  const config = testConfig(shared.server, prefix, env);
  const worker = await startWorker(config);
  const inbox: Inbox = await startInbox({
    config,
    definitions: createActors(config).definitions,
    port: 0,
    names: ReviewerNames.normalising(),
    ...(signIn === 'proxy' ? { trustProxyHeader: 'X-Forwarded-User' } : {}),
    secret: SECRET,
    verdictTimeoutMs: 10_000,
  });
  const subjects = new Subjects(prefix);
  const contexts: BrowserContext[] = [];
  return {
    subjects,
    inbox,
    config,
    /** A browser context signed in as `user` (the proxy's header), with the inbox open. */
    async reviewer(user: string | undefined, width = 1280, path = '/'): Promise<Page> {
      const context = await browser.newContext({
        viewport: { width, height: 900 },
        ...(user ? { extraHTTPHeaders: { 'X-Forwarded-User': user } } : {}),
      });
      contexts.push(context);
      const page = await context.newPage();
      page.on('dialog', (d) => void d.dismiss());
      await page.goto(`${inbox.url}${path}`);
      return page;
    },
    async ticket(id: string, request: string): Promise<void> {
      await publishRaw(shared.nc, subjects.ticketsNew, { id, request });
    },
    async responses(): Promise<unknown[]> {
      return (await readStream(shared.nc, subjects.streams.responses, subjects.respondAll)).map(
        (r) => r.data,
      );
    },
    async [Symbol.asyncDispose]() {
      await Promise.all(contexts.map((c) => c.close()));
      await inbox.close();
      await worker.stop();
    },
  };
}

const item = (page: Page, wf: string) => page.locator(`#items button[data-wf="${wf}"]`);

describe('hitl inbox in a browser', () => {
  it('shows a new ticket live; an edited approval goes out under the signed-in name; a second reviewer sees it answered', async () => {
    // A deadline an hour away, so the page counts it down.
    await using t = await setup('proxy', { HITL_GATE_TIMEOUT_MS: '3600000' });
    const ana = await t.reviewer('ana.lopez@example.com');
    const bo = await t.reviewer('bo@example.com');
    await expect.poll(() => ana.textContent('#who')).toBe('Signed in as ana_lopez');
    await expect.poll(() => ana.textContent('#count')).toBe('Nothing is waiting for a human.');

    await t.ticket('refund-1', 'My parcel never arrived. I want my money back, order 1182.');
    await t.ticket('ask-1', 'Hello, can you tell me something about my account?');
    await t.ticket('bill-1', 'I was charged twice for my subscription this month.');
    await item(ana, 'refund-1').waitFor({ timeout: 15_000 });
    await item(bo, 'refund-1').waitFor({ timeout: 15_000 });
    await item(ana, 'bill-1').waitFor({ timeout: 15_000 });
    await item(ana, 'ask-1').waitFor({ timeout: 15_000 });
    await item(bo, 'refund-1').click();
    await item(ana, 'refund-1').click();
    const draft = ana.locator('#draft');
    await expect.poll(() => draft.inputValue()).toMatch(/refund/i);
    await ana.locator('.machine').waitFor();
    expect(await ana.locator('.machine rect.current').count()).toBe(1);
    await mkdir(SHOTS, { recursive: true });
    await ana.screenshot({ path: new URL('inbox.png', SHOTS).pathname, fullPage: true });

    const edited = 'Hello, we are sorry your parcel never arrived: your refund is on its way.';
    await draft.fill(edited);
    await expect.poll(() => ana.textContent('#approve')).toBe('Approve my edit');
    expect(await ana.textContent('#detail .meta .due')).toMatch(/^59m \d+s left$/);
    await ana.click('#approve');
    await expect
      .poll(() => ana.textContent('#outcome'))
      .toMatch(/yes accepted, answered by ana_lopez/);

    const replies = await eventually(async () => {
      const rows = await readStream(shared.nc, t.subjects.streams.outbound, t.subjects.outboundAll);
      expect(rows).toHaveLength(1);
      return rows;
    });
    expect(replies[0]?.subject).toBe(t.subjects.outboundReply('refund-1'));
    expect(replies[0]?.data).toMatchObject({ reply: edited, approvedBy: 'ana_lopez' });
    // The answer went out on the reviewer's own subject, naming the interrupt it answers.
    const stored = await readStream(shared.nc, t.subjects.streams.responses, t.subjects.respondAll);
    expect(stored.map((r) => r.subject)).toEqual([t.subjects.respond('refund-1', 'ana_lopez')]);
    expect(stored[0]?.data).toMatchObject({ answer: 'yes', reviewer: 'ana_lopez' });

    // The second reviewer, without a reload: the item leaves the list and says who answered.
    await expect.poll(() => item(bo, 'refund-1').count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => bo.textContent('#outcome')).toMatch(/Answered by ana_lopez \(yes\)/);
    expect(await bo.locator('#approve').isDisabled()).toBe(true);
    expect(await item(bo, 'bill-1').count()).toBe(1);
  });

  it('routes an escalation on by the category picked with the keyboard alone', async () => {
    await using t = await setup();
    const page = await t.reviewer('cy@example.com', 390);
    await t.ticket('vague-1', 'Something is off with my thing, please help');
    await item(page, 'vague-1').waitFor({ timeout: 15_000 });
    await page.keyboard.press('j');
    // The item has the keyboard's focus, and keeps it through live updates of the list.
    await expect
      .poll(() =>
        page.evaluate(() =>
          (
            globalThis as unknown as {
              document: { activeElement: { getAttribute(name: string): string | null } | null };
            }
          ).document.activeElement?.getAttribute('data-wf'),
        ),
      )
      .toBe('vague-1');
    await page.keyboard.press('Enter');
    await page.locator('#detail [data-answer="technical"]').waitFor();
    expect(await page.locator('#detail dl.model').textContent()).toMatch(/confidence/);
    await page.screenshot({ path: new URL('inbox-phone.png', SHOTS).pathname, fullPage: true });
    await page.locator('#detail [data-answer]').first().waitFor();
    await page.keyboard.press('3');
    await expect.poll(() => page.textContent('#outcome')).toMatch(/technical accepted/);
    await eventually(async () => {
      const events = await storedEvents(shared.nc, t.subjects, 'vague-1');
      expect(events.find((e) => e.type === 'triaged')?.data).toMatchObject({
        category: 'technical',
        by: 'human',
      });
      expect(events.at(-1)).toMatchObject({ type: 'completed', data: { outcome: 'sent' } });
    });
  });

  it('shows attacker-controlled ticket text as text and runs none of it', async () => {
    await using t = await setup();
    const page = await t.reviewer('ana@example.com');
    let dialogs = 0;
    page.on('dialog', () => (dialogs += 1));
    const hostile =
      '<img src=x onerror="window.__pwned=1;alert(1)"> refund <script>window.__pwned=2</script>';
    await t.ticket('xss-1', hostile);
    await item(page, 'xss-1').click({ timeout: 15_000 });
    await expect.poll(() => page.textContent('#detail .request')).toBe(hostile);
    expect(await page.locator('#detail img, #detail script').count()).toBe(0);
    expect(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(dialogs).toBe(0);
    const csp = (await page.request.get(t.inbox.url)).headers()['content-security-policy'];
    expect(csp).toMatch(/script-src 'self'/);
    expect(csp).not.toMatch(/unsafe-inline/);
  });

  it('refuses a forged, expired or used answer link, and answers through a good one', async () => {
    await using t = await setup();
    const watcher = await t.reviewer('ops@example.com');
    await t.ticket('link-1', 'I was charged twice, please refund the invoice');
    await item(watcher, 'link-1').waitFor({ timeout: 15_000 });
    const pending = await eventually(async () => {
      const r = await (await watcher.request.get(`${t.inbox.url}/api/items/link-1`)).json();
      expect(r.pending?.interruptId).toBeTruthy();
      return r.pending as { interruptId: string };
    });
    const grant = { workflowId: 'link-1', interruptId: pending.interruptId, reviewer: 'dee' };
    const cli = await runCli(
      ['link', 'link-1', '--reviewer', 'dee', '--ttl', '10m', '--url', t.inbox.url],
      {
        NATS_URL: shared.server.url,
        HITL_PREFIX: t.subjects.prefix,
        HITL_INBOX_SECRET: SECRET,
      },
    );
    expect(cli).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^http:\/\/.*\/link\/\S+\n$/),
    });
    const good = cli.stdout.trim().split('/link/')[1] as string;
    const forged = signGrant('another-secret-0123456789abcdef0123456789', {
      ...grant,
      expires: Date.now() + 60_000,
    });
    const expired = signGrant(SECRET, { ...grant, expires: Date.now() - 1 });
    const page = await t.reviewer(undefined);
    const open = async (token: string) => {
      const res = await page.goto(`${t.inbox.url}/link/${token}`);
      return { status: res?.status(), text: await page.textContent('body') };
    };
    expect(await open(forged)).toMatchObject({
      status: 403,
      text: expect.stringMatching(/not valid/),
    });
    expect(await open(expired)).toMatchObject({
      status: 403,
      text: expect.stringMatching(/expired/),
    });
    const tampered = `${good.split('.')[0]?.slice(0, -2)}xx.${good.split('.')[1]}`;
    expect((await open(tampered)).status).toBe(403);

    expect((await open(good)).status).toBe(200);
    await expect.poll(() => page.textContent('#who')).toBe('Signed in as dee');
    await page.locator('#reject').click({ timeout: 10_000 });
    await expect.poll(() => page.textContent('#outcome')).toMatch(/no accepted, answered by dee/);
    expect(await open(good)).toMatchObject({
      status: 410,
      text: expect.stringMatching(/already answered by dee/),
    });
    expect(await t.responses()).toHaveLength(1);
    // Spawns the CLI (hitl link), slow on a loaded machine.
  }, 90_000);

  it('refuses a request without the CSRF token and bad input with a clear 4xx, publishing nothing', async () => {
    await using t = await setup();
    const page = await t.reviewer('ana@example.com');
    await t.ticket('bad-1', 'Refund me please, the parcel never arrived');
    await item(page, 'bad-1').click({ timeout: 15_000 });
    await page.locator('#draft').waitFor();
    const { pending } = await (await page.request.get(`${t.inbox.url}/api/items/bad-1`)).json();
    const { csrfToken } = await (await page.request.get(`${t.inbox.url}/api/session`)).json();
    const post = async (wf: string, data: unknown, token: string | null = csrfToken) => {
      const res = await page.request.post(`${t.inbox.url}/api/items/${wf}/answer`, {
        headers: {
          'content-type': 'application/json',
          ...(token === null ? {} : { 'x-csrf-token': token }),
        },
        data: typeof data === 'string' ? data : JSON.stringify(data),
      });
      return { status: res.status(), error: ((await res.json()) as { error: string }).error };
    };
    const yes = { interruptId: pending.interruptId, answer: 'yes' };

    expect(await post('bad-1', yes, null)).toMatchObject({ status: 403, error: /CSRF/ });
    expect(await post('bad-1', yes, 'forged-token')).toMatchObject({ status: 403, error: /CSRF/ });
    expect(await post('nope-1', yes)).toMatchObject({ status: 404, error: /'nope-1'/ });
    expect(await post('bad-1', '{"interruptId": ')).toMatchObject({
      status: 400,
      error: /malformed/,
    });
    expect(await post('bad-1', { answer: 'yes' })).toMatchObject({
      status: 400,
      error: /malformed/,
    });
    expect(await post('bad-1', { ...yes, answer: 'maybe' })).toMatchObject({
      status: 400,
      error: /'maybe' is not an option/,
    });
    expect(await post('bad-1', { ...yes, draft: 'x'.repeat(4_001) })).toMatchObject({
      status: 400,
      error: /4,001 characters; at most 4,000/,
    });
    expect(await t.responses()).toHaveLength(0);

    // The oversize edit in the page: the message where the reviewer looks, nothing sent.
    await page.locator('#draft').fill('y'.repeat(4_200));
    await page.click('#approve');
    await expect
      .poll(() => page.textContent('#outcome'))
      .toMatch(/4,200 characters; at most 4,000/);
    expect(await page.getAttribute('#outcome', 'role')).toBe('alert');
    expect(await t.responses()).toHaveLength(0);

    // Answered: a second answer is refused with who answered.
    await page.locator('#draft').fill('A short fine reply.');
    await page.click('#approve');
    await expect.poll(() => page.textContent('#outcome')).toMatch(/yes accepted/);
    expect(await post('bad-1', { ...yes, answer: 'no' })).toMatchObject({
      status: 409,
      error: /already answered by ana/,
    });
    expect(await t.responses()).toHaveLength(1);
  });

  it("shows the runtime's reason when it refuses an answer, and sends nothing", async () => {
    await using t = await setup('proxy', { HITL_APPROVERS: 'bo' });
    const page = await t.reviewer('ana@example.com');
    await t.ticket('policy-1', 'Refund please, the parcel never arrived');
    await item(page, 'policy-1').click({ timeout: 15_000 });
    await page.click('#approve', { timeout: 10_000 });
    await expect
      .poll(() => page.textContent('#outcome'))
      .toMatch(/^the runtime refused the answer: .*ana.*/);
    expect(await page.getAttribute('#outcome', 'role')).toBe('alert');
    const events = await storedEvents(shared.nc, t.subjects, 'policy-1');
    expect(events.map((e) => e.type)).toContain('response_rejected');
    expect(events.map((e) => e.type)).not.toContain('approved');
    expect(await item(page, 'policy-1').count()).toBe(1);
  });

  it('pages, filters and sorts a long list, and drops an answered item from the open page', async () => {
    await using t = await setup();
    const kv = await new Kvm(shared.nc).open(t.subjects.buckets.interrupts);
    const now = Date.now();
    const record = (i: number): InterruptRecord => ({
      workflowId: `p-${String(i).padStart(3, '0')}`,
      interruptId: `i-${i}`,
      actor: i % 2 ? 'gate' : 'triage',
      type: i % 2 ? 'approval' : 'escalation',
      question: i === 77 ? 'Send this unusual reply?' : `question ${i}`,
      ...(i % 2 ? { category: i % 3 ? 'refund' : 'billing', options: ['yes', 'no'] } : {}),
      createdAt: new Date(now - (200 - i) * 1_000).toISOString(),
      // Deadlines run the other way round: the oldest is due last.
      expiresAt: new Date(now + 3_600_000 - i * 10_000).toISOString(),
    });
    for (let i = 0; i < 120; i++) {
      await kv.put(
        t.subjects.interruptKey(`p-${String(i).padStart(3, '0')}`),
        JSON.stringify(record(i)),
      );
    }
    const page = await t.reviewer('ana@example.com');
    await expect
      .poll(() => page.textContent('#count'), { timeout: 15_000 })
      .toBe('1–50 of 120 waiting');
    expect(await page.locator('#items li').count()).toBe(50);
    expect(await page.locator('#items button').first().getAttribute('data-wf')).toBe('p-119');
    await page.click('#next');
    await page.click('#next');
    await expect.poll(() => page.textContent('#count')).toBe('101–120 of 120 waiting');
    await page.selectOption('#type', 'approval');
    await expect.poll(() => page.textContent('#count')).toBe('1–50 of 60 waiting');
    await page.selectOption('#category', 'billing');
    await expect.poll(() => page.textContent('#count')).toBe('1–20 of 20 waiting');
    await page.selectOption('#category', '');
    await page.fill('#text', 'unusual');
    await expect.poll(() => page.textContent('#count')).toBe('1–1 of 1 waiting');
    await page.fill('#text', '');
    await page.selectOption('#type', '');
    await page.selectOption('#sort', 'deadline');
    await expect
      .poll(() => page.locator('#items button').first().getAttribute('data-wf'))
      .toBe('p-119');
    // Nearest deadline first is the newest here; the oldest comes last.
    const api = await page.request.get(`${t.inbox.url}/api/pending?sort=deadline&offset=119`);
    expect((await api.json()).items[0].workflowId).toBe('p-000');

    await kv.delete(t.subjects.interruptKey('p-119'));
    await expect.poll(() => page.textContent('#count')).toBe('1–50 of 119 waiting');
    expect(await item(page, 'p-119').count()).toBe(0);
  });

  it('refuses a NATS sign-in against a server that checks no passwords', async () => {
    await using t = await setup('nats');
    const page = await t.reviewer(undefined);
    await page.fill('#user', 'ana');
    await page.fill('#password', 'anything');
    await page.click('#signin-form button');
    await expect.poll(() => page.textContent('#signin-error')).toMatch(/checks no passwords/);
    expect((await page.request.get(`${t.inbox.url}/api/pending`)).status()).toBe(401);
  });

  it('refuses a proxy name that maps to no reviewer', async () => {
    await using t = await setup();
    const page = await t.reviewer('...@example.com');
    await expect.poll(() => page.textContent('#signin-note')).toMatch(/maps to no reviewer/);
    expect(await page.locator('#list-pane').isHidden()).toBe(true);
    expect((await page.request.get(`${t.inbox.url}/api/pending`)).status()).toBe(401);
  });
});
