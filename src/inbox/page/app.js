// The reviewers' inbox page. Plain ES module, served as is: no bundler, no CDN. Every text that
// comes from a ticket or a model is put in the page with textContent, never parsed as HTML.
import { drawMachine } from './machine.js';

const PAGE_SIZE = 50;
const MAX_DRAFT = 4000;

/** @type {{ csrf: string, reviewer: string | null, link: { workflowId: string } | null }} */
const session = { csrf: '', reviewer: null, link: null };
/** @type {{ offset: number, total: number, items: any[], selected: number, open: string | null, current: any }} */
const state = { offset: 0, total: 0, items: [], selected: 0, open: null, current: null };

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * Builds an element; children are nodes or text (always text, never HTML).
 * @param {string} tag
 * @param {Record<string, string | boolean | undefined>} [attrs]
 * @param {...(Node | string | null | undefined)} children
 * @returns {HTMLElement}
 */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

/**
 * @param {string} path
 * @param {RequestInit} [init]
 * @returns {Promise<{ ok: boolean, status: number, body: any }>}
 */
async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  if (init.method && init.method !== 'GET') {
    headers.set('content-type', 'application/json');
    headers.set('x-csrf-token', session.csrf);
  }
  const res = await fetch(path, { ...init, headers, credentials: 'same-origin' });
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = { error: `the inbox answered ${res.status}` };
  }
  return { ok: res.ok, status: res.status, body };
}

/** @param {number} ms */
function duration(ms) {
  // Whole seconds, cut down: 3,599.6 s left reads "59m 59s", not "1h 0m".
  const s = Math.floor(Math.abs(ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${hrs}h ${m % 60}m`;
  return `${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

/** @param {string | undefined} expiresAt */
function deadlineText(expiresAt) {
  if (!expiresAt) return { text: 'no deadline', cls: '' };
  const left = Date.parse(expiresAt) - Date.now();
  if (left <= 0) return { text: `overdue ${duration(left)}`, cls: 'overdue' };
  return { text: `${duration(left)} left`, cls: left < 5 * 60_000 ? 'soon' : '' };
}

function tickDeadlines() {
  for (const el of document.querySelectorAll('[data-expires]')) {
    const d = deadlineText(el.getAttribute('data-expires') ?? undefined);
    el.textContent = d.text;
    el.classList.toggle('overdue', d.cls === 'overdue');
    el.classList.toggle('soon', d.cls === 'soon');
  }
}

async function start() {
  const { body } = await api('/api/session');
  session.csrf = body.csrfToken;
  session.reviewer = body.reviewer;
  session.link = body.link;
  if (!session.reviewer) {
    showSignIn(body.signIn, body.refusedName);
    return;
  }
  $('who').textContent = `Signed in as ${session.reviewer}`;
  $('signout').hidden = body.how !== 'nats';
  $('list-pane').hidden = false;
  await loadList();
  follow();
  const wanted = new URLSearchParams(location.search).get('item');
  if (wanted) await openItem(wanted);
  setInterval(tickDeadlines, 1000);
}

/**
 * @param {'proxy' | 'nats'} mode
 * @param {string | null} refused
 */
function showSignIn(mode, refused) {
  $('signin').hidden = false;
  $('live').textContent = 'not signed in';
  if (mode === 'proxy') {
    $('signin-note').textContent =
      refused === null
        ? 'This inbox signs you in through its sign-in proxy, which sent no name. Open it through the proxy.'
        : `The sign-in proxy named you '${refused}', which maps to no reviewer. Ask an operator to add you.`;
    return;
  }
  $('signin-note').textContent =
    'Sign in with your own NATS user: your answers are published as you.';
  const form = /** @type {HTMLFormElement} */ ($('signin-form'));
  form.hidden = false;
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const user = /** @type {HTMLInputElement} */ ($('user')).value;
    const password = /** @type {HTMLInputElement} */ ($('password')).value;
    const res = await api('/api/signin', {
      method: 'POST',
      body: JSON.stringify({ user, password }),
    });
    if (!res.ok) {
      $('signin-error').textContent = res.body.error;
      return;
    }
    location.reload();
  });
}

function query() {
  const p = new URLSearchParams({ offset: String(state.offset), limit: String(PAGE_SIZE) });
  const text = /** @type {HTMLInputElement} */ ($('text')).value.trim();
  const type = /** @type {HTMLSelectElement} */ ($('type')).value;
  const category = /** @type {HTMLSelectElement} */ ($('category')).value;
  const sort = /** @type {HTMLSelectElement} */ ($('sort')).value;
  if (text) p.set('text', text);
  if (type) p.set('type', type);
  if (category) p.set('category', category);
  p.set('sort', sort);
  return p.toString();
}

/** Counts list requests, so that only the latest one's answer is shown. */
let listRequests = 0;

async function loadList() {
  const request = ++listRequests;
  const res = await api(`/api/pending?${query()}`);
  // Two quick clicks on "next", or a live update during a click, send two
  // requests whose answers may arrive in either order: an older answer would
  // put the list back on the page it asked for.
  if (request !== listRequests) return;
  if (!res.ok) {
    $('count').textContent = res.body.error;
    return;
  }
  const page = res.body;
  state.total = page.total;
  state.offset = page.offset;
  state.items = page.items;
  const open = page.items.findIndex((/** @type {any} */ r) => r.workflowId === state.open);
  state.selected = open >= 0 ? open : Math.min(state.selected, Math.max(page.items.length - 1, 0));
  fillCategories(page.categories);
  renderList();
}

/** @param {string[]} categories */
function fillCategories(categories) {
  const select = /** @type {HTMLSelectElement} */ ($('category'));
  const have = [...select.options].map((o) => o.value);
  for (const c of categories) if (!have.includes(c)) select.append(h('option', { value: c }, c));
}

function renderList() {
  const list = $('items');
  const from = state.total === 0 ? 0 : state.offset + 1;
  const to = state.offset + state.items.length;
  $('count').textContent =
    state.total === 0
      ? 'Nothing is waiting for a human.'
      : `${from}–${to} of ${state.total.toLocaleString('en')} waiting`;
  /** @type {HTMLButtonElement} */ ($('prev')).disabled = state.offset === 0;
  /** @type {HTMLButtonElement} */ ($('next')).disabled = to >= state.total;
  const rows = state.items.map((r, i) => {
    const d = deadlineText(r.expiresAt);
    const button = h(
      'button',
      { type: 'button', 'data-wf': r.workflowId, 'aria-current': String(i === state.selected) },
      h(
        'span',
        { class: 'line1' },
        h('span', { class: `badge ${r.type}` }, r.type),
        r.category ? h('span', { class: 'badge' }, r.category) : null,
        h('span', {}, r.workflowId),
        h('span', { class: `due ${d.cls}`, 'data-expires': r.expiresAt }, d.text),
      ),
      h('span', { class: 'q' }, r.question),
    );
    button.addEventListener('click', () => {
      state.selected = i;
      renderList();
      void openItem(r.workflowId);
    });
    return h('li', {}, button);
  });
  // A live update re-renders the list under a keyboard user: the selected item keeps the focus
  // it had, so the next Enter still opens it.
  const hadFocus = list.contains(document.activeElement);
  list.replaceChildren(...rows);
  if (hadFocus) {
    /** @type {HTMLElement | undefined} */ (
      list.querySelectorAll('button')[state.selected]
    )?.focus();
  }
}

/** @param {number} delta */
function move(delta) {
  if (state.items.length === 0) return;
  state.selected = Math.max(0, Math.min(state.items.length - 1, state.selected + delta));
  renderList();
  const b = /** @type {HTMLElement | null} */ (
    $('items').querySelectorAll('button')[state.selected] ?? null
  );
  b?.focus();
}

let reloadTimer = 0;
function reloadSoon() {
  clearTimeout(reloadTimer);
  reloadTimer = window.setTimeout(() => void loadList(), 150);
}

function follow() {
  const source = new EventSource('/api/stream');
  source.addEventListener('open', () => ($('live').textContent = 'live'));
  source.addEventListener('error', () => ($('live').textContent = 'reconnecting…'));
  source.addEventListener('hello', () => reloadSoon());
  source.addEventListener('put', (ev) => {
    reloadSoon();
    const { workflowId } = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    if (workflowId === state.open && state.current && !state.current.pending)
      void openItem(workflowId);
  });
  source.addEventListener('del', (ev) => {
    reloadSoon();
    const { workflowId } = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    if (workflowId === state.open && !answering && !state.current?.answeredHere) {
      closeAnswering('This item is no longer waiting for an answer.', 'info');
    }
  });
  source.addEventListener('answered', (ev) => {
    const a = JSON.parse(/** @type {MessageEvent} */ (ev).data);
    if (
      a.workflowId === state.open &&
      !answering &&
      // The page's own answer: its outcome stays, however late the event comes.
      !state.current?.answeredHere &&
      state.current?.pending?.interruptId === a.interruptId
    ) {
      closeAnswering(`Answered by ${a.reviewer} (${a.answer}).`, 'info');
    }
  });
}

let answering = false;

/**
 * @param {string} text
 * @param {'ok' | 'bad' | 'info'} kind
 */
function closeAnswering(text, kind) {
  for (const b of document.querySelectorAll('#detail .actions button, #detail textarea')) {
    /** @type {HTMLButtonElement} */ (b).disabled = true;
  }
  say(text, kind);
}

/**
 * @param {string} text
 * @param {'ok' | 'bad' | 'info'} kind
 */
function say(text, kind) {
  const out = document.getElementById('outcome');
  if (!out) return;
  out.className = `outcome ${kind}`;
  out.setAttribute('role', kind === 'bad' ? 'alert' : 'status');
  out.textContent = text;
}

/** @param {string} wf */
async function openItem(wf) {
  const detail = $('detail');
  detail.hidden = false;
  $('main').classList.add('open');
  state.open = wf;
  const res = await api(`/api/items/${encodeURIComponent(wf)}`);
  if (!res.ok) {
    state.current = null;
    detail.replaceChildren(
      h('h2', { id: 'detail-title' }, wf),
      h('p', { class: 'error', role: 'alert' }, res.body.error),
    );
    return;
  }
  if (state.open !== wf) return;
  state.current = res.body;
  renderItem(res.body);
}

/** @param {any} item */
function renderItem(item) {
  const r = item.pending;
  const back = h('button', { type: 'button', class: 'back' }, '← Back to the list');
  back.addEventListener('click', () => {
    $('main').classList.remove('open');
    move(0);
  });
  /** @type {Element[]} */
  const parts = [back];
  if (r) {
    const d = deadlineText(r.expiresAt);
    parts.push(
      h('h2', { id: 'detail-title' }, r.question),
      h(
        'p',
        { class: 'meta' },
        h('span', { class: `badge ${r.type}` }, r.type),
        r.category ? h('span', { class: 'badge' }, r.category) : null,
        h('span', {}, item.workflowId),
        h('span', {}, `asked ${duration(Date.now() - Date.parse(r.createdAt))} ago`),
        h('span', { class: `due ${d.cls}`, 'data-expires': r.expiresAt }, d.text),
      ),
    );
  } else {
    parts.push(h('h2', { id: 'detail-title' }, item.workflowId));
  }
  if (item.request !== null) {
    parts.push(
      h('h3', {}, item.customer ? `Request from ${item.customer}` : "Customer's request"),
      h('p', { class: 'request' }, item.request),
    );
  }
  if (r?.details) parts.push(h('h3', {}, 'Model'), modelDetails(r.details));
  const outcome = h('p', { id: 'outcome', class: 'outcome' });
  if (r?.type === 'approval') parts.push(...approvalForm(item, r));
  else if (r) parts.push(...choiceForm(item, r));
  parts.push(outcome);
  if (item.machine) {
    parts.push(h('h3', {}, `Machine: ${item.machine.kind}`), drawMachine(item.machine));
  }
  parts.push(h('h3', {}, 'Timeline'), timeline(item.events));
  $('detail').replaceChildren(...parts);
  if (!r) {
    say(
      item.answered
        ? `Answered by ${item.answered.reviewer} (${item.answered.answer}).`
        : 'Not waiting for an answer.',
      'info',
    );
  }
}

/** @param {Record<string, unknown>} details */
function modelDetails(details) {
  /** @type {[string, unknown][]} */
  const rows = [];
  const usage = /** @type {Record<string, unknown> | undefined} */ (details.usage);
  if (details.guess !== undefined) rows.push(['guess', details.guess]);
  if (typeof details.confidence === 'number')
    rows.push(['confidence', `${Math.round(details.confidence * 100)}%`]);
  if (details.rationale !== undefined) rows.push(['rationale', details.rationale]);
  if (details.model !== undefined) rows.push(['model', details.model]);
  if (usage && typeof usage === 'object') {
    const tokens = Object.entries(usage)
      .map(([k, v]) => `${String(v)} ${k.replace(/_?tokens$/i, '')}`)
      .join(', ');
    rows.push(['tokens', tokens]);
  }
  if (typeof details.latencyMs === 'number') rows.push(['latency', `${details.latencyMs} ms`]);
  const dl = h('dl', { class: 'model' });
  for (const [k, v] of rows)
    dl.append(h('dt', {}, k), h('dd', {}, typeof v === 'string' ? v : JSON.stringify(v)));
  return dl;
}

/**
 * @param {any} item
 * @param {any} r
 */
function approvalForm(item, r) {
  const editor = /** @type {HTMLTextAreaElement} */ (
    h('textarea', { id: 'draft', 'aria-describedby': 'draft-count' })
  );
  editor.value = r.draft ?? '';
  const counter = h('p', { id: 'draft-count', class: 'counter' });
  const approve = h(
    'button',
    { type: 'button', class: 'primary', id: 'approve' },
    'Approve as drafted',
  );
  const reset = h('button', { type: 'button', id: 'reset' }, 'Undo edit');
  const reject = h('button', { type: 'button', class: 'danger', id: 'reject' }, 'Reject');
  const update = () => {
    const edited = editor.value !== (r.draft ?? '');
    counter.textContent = `${editor.value.length.toLocaleString('en')} / ${MAX_DRAFT.toLocaleString('en')} characters${edited ? ' (edited)' : ''}`;
    counter.classList.toggle('over', editor.value.length > MAX_DRAFT);
    approve.textContent = edited ? 'Approve my edit' : 'Approve as drafted';
    /** @type {HTMLButtonElement} */ (reset).disabled = !edited;
  };
  editor.addEventListener('input', update);
  reset.addEventListener('click', () => {
    editor.value = r.draft ?? '';
    update();
  });
  approve.addEventListener('click', () => void answer(item.workflowId, r, 'yes', editor.value));
  reject.addEventListener('click', () => void answer(item.workflowId, r, 'no'));
  update();
  return [
    h('h3', {}, 'Reply to send'),
    h('label', { for: 'draft' }, 'Edit the reply before approving it, or approve it as drafted'),
    editor,
    counter,
    h('div', { class: 'actions' }, approve, reset, reject),
  ];
}

/**
 * @param {any} item
 * @param {any} r
 */
function choiceForm(item, r) {
  const buttons = (r.options ?? []).map((/** @type {string} */ o, /** @type {number} */ i) => {
    const b = h(
      'button',
      {
        type: 'button',
        class: o === 'drop' ? 'danger' : 'primary',
        'data-answer': o,
        'aria-keyshortcuts': String(i + 1),
      },
      `${i + 1}. ${o}`,
    );
    b.addEventListener('click', () => void answer(item.workflowId, r, o));
    return b;
  });
  return [
    h('h3', {}, 'Route it to'),
    h('div', { class: 'actions', role: 'group', 'aria-label': 'Answers' }, ...buttons),
  ];
}

/**
 * @param {string} wf
 * @param {any} r
 * @param {string} choice
 * @param {string} [draft]
 */
async function answer(wf, r, choice, draft) {
  if (answering) return;
  answering = true;
  say('Sending…', 'info');
  for (const b of document.querySelectorAll('#detail .actions button'))
    /** @type {HTMLButtonElement} */ (b).disabled = true;
  /** @type {Record<string, string>} */
  const form = { interruptId: r.interruptId, answer: choice };
  if (draft !== undefined && draft !== r.draft) form.draft = draft;
  try {
    const res = await api(`/api/items/${encodeURIComponent(wf)}/answer`, {
      method: 'POST',
      body: JSON.stringify(form),
    });
    if (res.ok) {
      if (state.current?.workflowId === wf) state.current.answeredHere = true;
      closeAnswering(`Done: ${choice} accepted, answered by ${res.body.reviewer}.`, 'ok');
    } else {
      say(res.body.error, 'bad');
      const final = res.status === 409 || res.status === 404 || res.status === 410;
      for (const b of document.querySelectorAll('#detail .actions button'))
        /** @type {HTMLButtonElement} */ (b).disabled = final;
    }
  } finally {
    answering = false;
    reloadSoon();
  }
}

/** @param {any[]} events */
function timeline(events) {
  const list = h('ol', { class: 'timeline' });
  for (const e of events) {
    list.append(
      h(
        'li',
        {},
        h('time', { datetime: e.at }, new Date(e.at).toTimeString().slice(0, 8)),
        h('span', { class: 'actor' }, `${e.actor}`),
        h('span', { class: 'what' }, `${e.type}${summary(e)}`),
      ),
    );
  }
  return list;
}

/** @param {any} e */
function summary(e) {
  const d = e.data ?? {};
  switch (e.type) {
    case 'triaged':
      return `: ${d.category} (${d.by}, ${Math.round((d.confidence ?? 0) * 100)}%)`;
    case 'resumed':
      return `: ${d.answer} by ${d.reviewer}`;
    case 'response_rejected':
      return `: ${d.reason}`;
    case 'approved':
    case 'rejected':
      return `: by ${d.reviewer}`;
    case 'completed':
      return `: ${d.outcome}`;
    case 'interrupted':
      return `: ${d.type}`;
    case 'failed':
      return `: ${d.reason}`;
    default:
      return '';
  }
}

/** @param {KeyboardEvent} ev */
function onKey(ev) {
  const target = /** @type {HTMLElement} */ (ev.target);
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (target.matches('input, textarea, select')) {
    if (ev.key === 'Escape') target.blur();
    return;
  }
  const r = state.current?.pending;
  if (ev.key === 'j' || ev.key === 'ArrowDown') move(1);
  else if (ev.key === 'k' || ev.key === 'ArrowUp') move(-1);
  else if (ev.key === '/') $('text').focus();
  else if (ev.key === 'a' && r?.type === 'approval') document.getElementById('approve')?.click();
  else if (ev.key === 'r' && r?.type === 'approval') document.getElementById('reject')?.click();
  else if (/^[1-9]$/.test(ev.key) && r && r.type !== 'approval') {
    /** @type {HTMLElement | null} */ (
      document.querySelector(`#detail [data-answer]:nth-child(${ev.key})`)
    )?.click();
  } else return;
  ev.preventDefault();
}

document.addEventListener('keydown', onKey);
for (const id of ['type', 'category', 'sort']) {
  $(id).addEventListener('change', () => {
    state.offset = 0;
    void loadList();
  });
}
$('text').addEventListener('input', () => {
  state.offset = 0;
  reloadSoon();
});
$('filters').addEventListener('submit', (ev) => ev.preventDefault());
$('prev').addEventListener('click', () => {
  state.offset = Math.max(0, state.offset - PAGE_SIZE);
  void loadList();
});
$('next').addEventListener('click', () => {
  state.offset += PAGE_SIZE;
  void loadList();
});
$('signout').addEventListener('click', async () => {
  await api('/api/signout', { method: 'POST', body: '{}' });
  location.reload();
});
void start();
