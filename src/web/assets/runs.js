// The runs view (filtered by status and workflow run, a page at a time), dispatch of a
// saved action, and one run: status, timings, secrets used by name, the redacted result
// and logs — live over server-sent events while the run goes on.

import { $, el, clear, show, showError, when, duration } from './dom.js';
import { call, session } from './api.js';
import { streamEvents } from './sse.js';

const list = { status: '', workflow: '', cursor: null, count: 0 };
let live = null; // the AbortController of the event stream being followed

export function initRuns() {
  $('runs-filter').addEventListener('submit', (event) => {
    event.preventDefault();
    list.status = $('runs-status').value;
    list.workflow = $('runs-workflow').value.trim();
    load(true);
  });
  $('runs-status').addEventListener('change', () => {
    list.status = $('runs-status').value;
    load(true);
  });
  $('runs-clear').addEventListener('click', () => {
    $('runs-filter').reset();
    list.status = '';
    list.workflow = '';
    load(true);
  });
  $('runs-more').addEventListener('click', () => load(false));
  $('dispatch-box').addEventListener('toggle', () => { if ($('dispatch-box').open) loadActions(); });
  $('dispatch-form').addEventListener('submit', dispatch);
}

export function showRuns() {
  stopLive();
  $('runs-status').value = list.status;
  $('runs-workflow').value = list.workflow;
  load(true);
  if ($('dispatch-box').open) loadActions();
}

let loading = 0; // the latest listing asked for; older answers are dropped

async function load(fresh) {
  const body = $('runs-body');
  const table = $('runs-table');
  const seq = ++loading;
  if (fresh) list.cursor = null;
  table.setAttribute('aria-busy', 'true');
  showError($('runs-error'), '');
  try {
    const page = await call('GET', '/v1/runs', {
      query: { status: list.status, workflow_run_id: list.workflow, cursor: list.cursor, limit: 50 },
    });
    if (seq !== loading) return;
    const rows = page.items.map(row);
    if (fresh) {
      body.replaceChildren(...rows);
      list.count = 0;
    } else {
      body.append(...rows);
    }
    list.count += page.items.length;
    list.cursor = page.next_cursor || null;
    show($('runs-more'), Boolean(list.cursor));
    show($('runs-empty'), list.count === 0);
    show(table, list.count > 0);
  } catch (e) {
    if (seq === loading) showError($('runs-error'), `Could not list runs: ${e.message}`);
  } finally {
    if (seq === loading) table.removeAttribute('aria-busy');
  }
}

function badge(status) {
  return el('span', { class: `badge ${status}` }, status);
}

function actionLabel(run) {
  return run.action_id || run.action_kind;
}

function row(run) {
  const workflow = run.workflow_run_id
    ? el('button', {
      type: 'button', class: 'link', title: 'Show only this workflow run',
      onclick: () => {
        $('runs-workflow').value = run.workflow_run_id;
        list.workflow = run.workflow_run_id;
        load(true);
      },
    }, run.workflow_run_id)
    : '—';
  return el('tr', { 'data-id': run.id },
    el('th', { scope: 'row', 'data-label': 'Run' }, el('a', { href: `#/runs/${run.id}` }, run.id)),
    el('td', { 'data-label': 'Status' }, badge(run.status)),
    el('td', { 'data-label': 'Action' }, actionLabel(run)),
    el('td', { 'data-label': 'Actor' }, run.actor),
    el('td', { 'data-label': 'Workflow run' }, workflow),
    el('td', { 'data-label': 'Created' }, when(run.created_at)),
    el('td', { 'data-label': 'Duration' }, duration(run.duration_ms)));
}

// ---- dispatch ----

async function loadActions() {
  const select = $('dispatch-action');
  try {
    const page = await call('GET', '/v1/actions', { query: { limit: 500 }, actor: true });
    const chosen = select.value;
    clear(select);
    if (!page.items.length) select.append(el('option', { value: '' }, 'No saved actions yet'));
    for (const action of page.items) {
      select.append(el('option', { value: action.id, selected: action.id === chosen },
        action.name ? `${action.name} (${action.id})` : action.id));
    }
  } catch (e) {
    showError($('dispatch-error'), `Could not list saved actions: ${e.message}`);
  }
}

async function dispatch(event) {
  event.preventDefault();
  showError($('dispatch-error'), '');
  let inputs;
  try {
    inputs = JSON.parse($('dispatch-inputs').value || '{}');
    if (!inputs || typeof inputs !== 'object' || Array.isArray(inputs)) throw new Error('not an object');
  } catch (e) {
    showError($('dispatch-error'), `Inputs must be a JSON object (${e.message}).`);
    return;
  }
  const body = { action_id: $('dispatch-action').value, inputs };
  const workflow = $('dispatch-workflow').value.trim();
  if (workflow) body.workflow_run_id = workflow;
  if (session.actor) body.actor = session.actor;
  const submit = $('dispatch-submit');
  submit.disabled = true;
  try {
    const run = await call('POST', '/v1/runs', { body });
    $('dispatch-box').open = false;
    location.hash = `#/runs/${run.id}`;
  } catch (e) {
    showError($('dispatch-error'), e.message);
  } finally {
    submit.disabled = false;
  }
}

// ---- one run ----

function stopLive() {
  if (live) live.abort();
  live = null;
  show($('run-live'), false);
}

function final(status) {
  return status === 'succeeded' || status === 'failed';
}

function setStatus(status) {
  const node = $('run-status');
  node.className = `badge ${status}`;
  node.textContent = status;
}

function fact(term, ...value) {
  return [el('dt', {}, term), el('dd', {}, ...value)];
}

function render(run) {
  $('run-title').textContent = `Run ${run.id}`;
  setStatus(run.status);
  const facts = $('run-facts');
  clear(facts);
  facts.append(...[
    fact('Action', actionLabel(run), run.action_id ? el('span', { class: 'sub' }, ` (${run.action_kind})`) : null),
    fact('Actor', run.actor),
    fact('Workflow run', run.workflow_run_id || '—'),
    fact('Created', when(run.created_at)),
    fact('Started', when(run.started_at)),
    fact('Finished', when(run.finished_at)),
    fact('Duration', duration(run.duration_ms)),
    fact('Attempts', String(run.attempts ?? 0)),
  ].flat());
  const secrets = $('run-secrets');
  clear(secrets);
  if (!run.secrets_used.length) secrets.append(el('li', { class: 'sub' }, final(run.status) ? 'None' : 'Known when it ends'));
  for (const used of run.secrets_used) {
    secrets.append(el('li', { title: used.id }, used.name));
  }
  show($('run-error-box'), Boolean(run.error));
  $('run-error').textContent = run.error ? `${run.error.code}: ${run.error.message}` : '';
  let result = run.result === null || run.result === undefined
    ? (final(run.status) ? 'No result.' : 'Not yet: the run has not ended.')
    : JSON.stringify(run.result, null, 2);
  if (run.result_truncated) result += '\n\n(The result was too large: this is a preview.)';
  $('run-result').textContent = result;
  if (final(run.status) || run.logs.length) $('run-logs').textContent = run.logs.join('\n');
  show($('run-request-box'), Boolean(run.request));
  $('run-request').textContent = run.request ? JSON.stringify(run.request, null, 2) : '';
}

export async function showRun(id) {
  stopLive();
  showError($('run-error-load'), '');
  $('run-title').textContent = `Run ${id}`;
  $('run-status').textContent = '';
  $('run-status').className = 'badge';
  clear($('run-facts'));
  clear($('run-secrets'));
  $('run-result').textContent = '';
  $('run-logs').textContent = '';
  let run;
  try {
    run = await call('GET', `/v1/runs/${encodeURIComponent(id)}`);
  } catch (e) {
    showError($('run-error-load'), `Could not load run ${id}: ${e.message}`);
    return;
  }
  render(run);
  if (!final(run.status)) follow(run.id);
}

// Follows the run's events: each status is shown as it comes, each log line added; at
// the final status the run is read again for its result and timings. A stream that ends
// before the run does (a proxy or server timeout) is opened again, a few times.
async function follow(id, attempt = 0) {
  const controller = new AbortController();
  live = controller;
  show($('run-live'), true);
  const lines = [];
  try {
    await streamEvents(`/v1/runs/${encodeURIComponent(id)}/events`, ({ event, data }) => {
      let parsed;
      try { parsed = JSON.parse(data); } catch { return; }
      if (event === 'status' && parsed.status) {
        setStatus(parsed.status);
      } else if (event === 'log' && typeof parsed.line === 'string') {
        lines.push(parsed.line);
        $('run-logs').textContent = lines.join('\n');
      }
    }, controller.signal);
  } catch (e) {
    if (controller.signal.aborted) return;
    showError($('run-error-load'), `Lost the live view: ${e.message}. Reload to see where the run stands.`);
    live = null;
    show($('run-live'), false);
    return;
  }
  if (live !== controller) return;
  live = null;
  show($('run-live'), false);
  let run;
  try {
    run = await call('GET', `/v1/runs/${encodeURIComponent(id)}`);
  } catch (e) {
    showError($('run-error-load'), e.message);
    return;
  }
  if (location.hash !== `#/runs/${id}`) return;
  render(run);
  if (!final(run.status) && attempt < 20) {
    setTimeout(() => { if (!live && location.hash === `#/runs/${id}`) follow(id, attempt + 1); }, 1000);
  }
}
