// The actions view: the org's saved actions, and the editor of one (Send API Request or
// Run Code) with its test run beside it. A value field holds a template; a secret key in
// it shows as a chip with the key's name (the spec stores `{{secret "sec_…"}}`), put
// there with the field's + menu. The editor never sees a value: a key is only an id.

import { $, el, clear, show, showError, when, openDialog, flash } from './dom.js';
import { call, session, ApiError } from './api.js';
import { streamEvents } from './sse.js';
import { loadKeys, keyInfo, rememberKey, pickKey, initPicker, accessBadge, canUse } from './keys.js';
import { openCreateKey } from './secrets.js';

const SECRET = /\{\{\s*secret\s+"(sec_[A-Za-z0-9_-]+)"\s*\}\}/g;
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
const LIMITS = [
  ['timeout_ms', 'Timeout (ms)', 5000],
  ['memory_mb', 'Memory (MiB)', 64],
  ['max_http_calls', 'HTTP calls', 20],
  ['max_output_bytes', 'Output (bytes)', 1048576],
  ['max_log_bytes', 'Logs (bytes)', 1048576],
  ['max_response_bytes', 'Each response (bytes)', 1048576],
];

let editor = null; // { id, isNew, kind, base (the spec as loaded), build() -> spec }
let live = null; // the AbortController of the test run being followed
let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

export function initActions() {
  $('action-form').addEventListener('submit', (event) => { event.preventDefault(); save(); });
  $('test-form').addEventListener('submit', testRun);
  initInsertMenu();
  initPicker({ onCreate: () => createKeyInto(null), onManage: () => { location.hash = '#/secrets'; } });
  $('input-form').addEventListener('submit', submitInput);
  $('action-name').addEventListener('input', suggestId);
  $('action-id').addEventListener('input', () => { $('action-id').dataset.touched = 'yes'; });
}

export function leaveActions() {
  if (live) live.abort();
  live = null;
  closeInsertMenu(false);
}

// ---- the list ----

export async function showActions() {
  leaveActions();
  showError($('actions-error'), '');
  $('actions-table').setAttribute('aria-busy', 'true');
  try {
    const [page] = await Promise.all([
      call('GET', '/v1/actions', { query: { limit: 500 }, actor: true }),
      loadKeys(true).catch(() => null),
    ]);
    $('actions-body').replaceChildren(...page.items.map(actionRow));
    show($('actions-empty'), page.items.length === 0);
    show($('actions-table'), page.items.length > 0);
  } catch (e) {
    showError($('actions-error'), `Could not list saved actions: ${e.message}`);
  } finally {
    $('actions-table').removeAttribute('aria-busy');
  }
}

function kindLabel(kind) {
  return kind === 'run_code' ? 'Run Code' : 'Send API Request';
}

function keyChipList(ids) {
  if (!ids.length) return el('span', { class: 'sub' }, 'none');
  return el('ul', { class: 'chips' }, ids.map((id) => el('li', { title: id }, keyInfo(id)?.name || id)));
}

function actionRow(action) {
  return el('tr', { 'data-id': action.id },
    el('th', { scope: 'row', 'data-label': 'Name' },
      el('a', { href: `#/actions/${action.id}` }, action.name || action.id),
      el('div', { class: 'sub' }, el('code', {}, action.id))),
    el('td', { 'data-label': 'Kind' }, kindLabel(action.spec.kind)),
    el('td', { 'data-label': 'Secret keys used' }, keyChipList(action.secrets || [])),
    el('td', { 'data-label': 'Saved by' }, action.saved_by),
    el('td', { 'data-label': 'Saved' }, when(action.saved_at)));
}

// ---- template fields ----

function parseTemplate(text) {
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(SECRET)) {
    parts.push(text.slice(last, match.index), { secret: match[1] });
    last = match.index + match[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

// A value field: text boxes with a chip for each secret key between them, and a + button.
class TemplateField {
  constructor({ label, path, value = '', hint }) {
    this.label = label;
    this.id = nextId('tf');
    this.parts = parseTemplate(value);
    this.at = { index: this.parts.length - 1, caret: null };
    this.box = el('div', { class: 'tfield', role: 'group', 'aria-label': label });
    this.plus = el('button', {
      type: 'button', class: 'plus', 'aria-haspopup': 'menu', 'aria-expanded': 'false',
      'aria-label': `Insert into ${label}`, title: 'Insert a secret key or an input',
    }, '+');
    this.plus.field = this;
    this.node = el('div', { class: 'field', 'data-path': path },
      el('label', { for: this.id }, label),
      el('div', { class: 'tfield-row' }, this.box, this.plus),
      hint ? el('small', {}, hint) : null);
    this.render();
  }

  get value() {
    return this.parts.map((p) => (typeof p === 'string' ? p : `{{secret "${p.secret}"}}`)).join('');
  }

  secrets() {
    return this.parts.filter((p) => typeof p !== 'string').map((p) => p.secret);
  }

  render(focus) {
    const nodes = this.parts.map((part, i) => (typeof part === 'string' ? this.textBox(part, i) : this.chip(part.secret, i)));
    this.box.replaceChildren(...nodes);
    if (focus) {
      const input = nodes[focus.index];
      input.focus();
      input.setSelectionRange(focus.caret, focus.caret);
      this.at = focus;
    }
  }

  textBox(text, i) {
    const input = el('input', {
      type: 'text', autocomplete: 'off', spellcheck: 'false', size: Math.max(2, text.length + 1),
      id: i === 0 ? this.id : null,
      'aria-label': i === 0 ? null : `${this.label}, after ${this.chipName(this.parts[i - 1].secret)}`,
    });
    input.value = text;
    const remember = () => { this.at = { index: i, caret: input.selectionStart }; };
    input.addEventListener('input', () => {
      this.parts[i] = input.value;
      input.size = Math.max(2, input.value.length + 1);
      remember();
    });
    for (const type of ['focus', 'keyup', 'click', 'select']) input.addEventListener(type, remember);
    input.addEventListener('keydown', (event) => {
      // Backspace at the start of a box takes out the key before it.
      if (event.key === 'Backspace' && i > 0 && input.selectionStart === 0 && input.selectionEnd === 0) {
        event.preventDefault();
        this.removeChip(i - 1);
      }
    });
    return input;
  }

  chipName(id) {
    return keyInfo(id)?.name || id;
  }

  chip(id, i) {
    const meta = keyInfo(id);
    const name = this.chipName(id);
    const refused = meta && !canUse(id);
    return el('span', { class: `chip${refused ? ' refused' : ''}`, 'data-secret': id, title: `Secret key ${name} (${id})` },
      el('span', { class: 'visually-hidden' }, 'Secret key '),
      el('span', { class: 'chip-name' }, name),
      refused ? el('span', { class: 'visually-hidden' }, ' (you may not use it)') : null,
      el('button', {
        type: 'button', class: 'chip-remove', 'aria-label': `Remove ${name} from ${this.label}`,
        onclick: () => this.removeChip(i),
      }, '×'));
  }

  removeChip(i) {
    const before = this.parts[i - 1];
    const after = this.parts[i + 1];
    this.parts.splice(i - 1, 3, before + after);
    this.render({ index: i - 1, caret: before.length });
  }

  insertText(text) {
    const { index, caret } = this.at;
    const current = this.parts[index];
    const where = caret === null || caret === undefined ? current.length : caret;
    this.parts[index] = current.slice(0, where) + text + current.slice(where);
    this.render({ index, caret: where + text.length });
  }

  insertSecret(id) {
    const { index, caret } = this.at;
    const current = this.parts[index];
    const where = caret === null || caret === undefined ? current.length : caret;
    this.parts.splice(index, 1, current.slice(0, where), { secret: id }, current.slice(where));
    this.render({ index: index + 2, caret: 0 });
  }
}

// Rows of name + template value (headers, query parameters, form fields, JSON fields).
function pairList({ title, path, pairs, noun, valuePath }) {
  const rows = [];
  const list = el('div', { class: 'pairs' });
  const add = el('button', { type: 'button', class: 'quiet add', 'data-add': path }, `Add ${noun.toLowerCase()}`);
  function render() {
    list.replaceChildren(...rows.map((row, i) => {
      row.value.node.dataset.path = valuePath ? valuePath(row, i) : `${path}[${i}].value`;
      return el('div', { class: 'pair' },
        el('div', { class: 'field', 'data-path': `${path}[${i}].name` },
          el('label', { for: row.nameId }, `${noun} ${i + 1} name`), row.name),
        row.value.node,
        el('button', {
          type: 'button', class: 'quiet remove', 'aria-label': `Remove ${noun.toLowerCase()} ${i + 1}`,
          onclick: () => { rows.splice(i, 1); render(); add.focus(); },
        }, 'Remove'));
    }));
  }
  function push(name, value) {
    const nameId = nextId('pn');
    const input = el('input', { type: 'text', id: nameId, autocomplete: 'off', spellcheck: 'false' });
    input.value = name;
    const row = { nameId, name: input, value: new TemplateField({ label: `${noun} ${rows.length + 1} value`, path: '', value }) };
    // A JSON field's value is named by the field's name (`body.value.amount`).
    if (valuePath) input.addEventListener('input', () => { row.value.node.dataset.path = valuePath(row); });
    rows.push(row);
  }
  for (const p of pairs) push(p.name, p.value);
  add.addEventListener('click', () => { push('', ''); render(); rows[rows.length - 1].name.focus(); });
  render();
  return {
    node: el('fieldset', { class: 'pairs-box' }, el('legend', {}, title), list, add),
    value: () => rows.filter((r) => r.name.value.trim() || r.value.value)
      .map((r) => ({ name: r.name.value.trim(), value: r.value.value })),
  };
}

function selectField(label, options, value, path) {
  const id = nextId('sel');
  const select = el('select', { id }, options.map(([v, text]) => el('option', { value: v, selected: v === value }, text)));
  return { select, node: el('div', { class: 'field', 'data-path': path || null }, el('label', { for: id }, label), select) };
}

function textField(label, value, { path, type = 'text', hint, multiline = false, rows = 3 } = {}) {
  const id = nextId('tx');
  const helpId = hint ? `${id}-help` : null;
  const input = multiline
    ? el('textarea', { id, rows, spellcheck: 'false', 'aria-describedby': helpId })
    : el('input', { id, type, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': helpId });
  input.value = value ?? '';
  return {
    input,
    node: el('div', { class: 'field', 'data-path': path || null },
      el('label', { for: id }, label), input, hint ? el('small', { id: helpId }, hint) : null),
  };
}

// ---- Send API Request ----

function isFlatStrings(value) {
  return value && typeof value === 'object' && !Array.isArray(value)
    && Object.values(value).every((v) => typeof v === 'string');
}

function httpEditor(spec) {
  const method = selectField('Method', METHODS.map((m) => [m, m]), spec.method || 'GET', 'method');
  const url = new TemplateField({ label: 'URL', path: 'url', value: spec.url || 'https://', hint: 'http:// or https://; keys may go in the path or query, not the host.' });
  const query = pairList({ title: 'Query parameters', path: 'query', pairs: spec.query || [], noun: 'Parameter' });
  const headers = pairList({ title: 'Headers', path: 'headers', pairs: spec.headers || [], noun: 'Header' });

  // Auth
  const auth = spec.auth || {};
  const authType = selectField('Type', [['', 'None'], ['bearer', 'Bearer token'], ['basic', 'Basic (username and password)']], auth.type || '', 'auth');
  const authBox = el('div', { class: 'sub-fields' });
  const authFields = {
    username: new TemplateField({ label: 'Username', path: 'auth.username', value: auth.username || '' }),
    password: new TemplateField({ label: 'Password', path: 'auth.password', value: auth.password || '' }),
    token: new TemplateField({ label: 'Token', path: 'auth.token', value: auth.token || '' }),
  };
  function renderAuth() {
    const type = authType.select.value;
    authBox.replaceChildren(...(type === 'basic' ? [authFields.username.node, authFields.password.node]
      : type === 'bearer' ? [authFields.token.node] : []));
  }
  authType.select.addEventListener('change', renderAuth);
  renderAuth();

  // Body
  const body = spec.body || {};
  const bodyType = selectField('Type', [['', 'None'], ['json', 'JSON'], ['form', 'Form (URL-encoded)'], ['raw', 'Raw']], body.type || '', 'body');
  const bodyBox = el('div', { class: 'sub-fields' });
  const flat = body.type !== 'json' || isFlatStrings(body.value);
  const jsonPairs = pairList({
    title: 'JSON fields', path: 'body.value', noun: 'Field',
    pairs: body.type === 'json' && flat ? Object.entries(body.value).map(([name, value]) => ({ name, value })) : [],
    valuePath: (row) => `body.value.${row.name.value.trim()}`,
  });
  const jsonText = textField('JSON document', body.type === 'json' && !flat ? JSON.stringify(body.value, null, 2) : '',
    { path: 'body.value', multiline: true, rows: 8, hint: 'Its string leaves are templates.' });
  const formPairs = pairList({ title: 'Form fields', path: 'body.fields', pairs: body.type === 'form' ? body.fields : [], noun: 'Field' });
  const rawType = textField('Content type', body.type === 'raw' ? body.content_type : 'text/plain', { path: 'body.content_type' });
  const rawValue = new TemplateField({ label: 'Raw body', path: 'body.value', value: body.type === 'raw' ? body.value : '' });
  function renderBody() {
    const type = bodyType.select.value;
    bodyBox.replaceChildren(...(type === 'json' ? [flat ? jsonPairs.node : jsonText.node]
      : type === 'form' ? [formPairs.node] : type === 'raw' ? [rawType.node, rawValue.node] : []));
  }
  bodyType.select.addEventListener('change', renderBody);
  renderBody();

  const nodes = [
    el('div', { class: 'row-method' }, method.node, url.node),
    query.node, headers.node,
    el('fieldset', { class: 'pairs-box' }, el('legend', {}, 'Authentication'), authType.node, authBox),
    el('fieldset', { class: 'pairs-box' }, el('legend', {}, 'Body'), bodyType.node, bodyBox),
  ];
  function build() {
    const out = { ...spec, kind: 'send_api_request', method: method.select.value, url: url.value };
    out.query = query.value();
    out.headers = headers.value();
    const a = authType.select.value;
    if (a === 'basic') out.auth = { type: 'basic', username: authFields.username.value, password: authFields.password.value };
    else if (a === 'bearer') out.auth = { type: 'bearer', token: authFields.token.value };
    else delete out.auth;
    const b = bodyType.select.value;
    if (b === 'json') {
      let value;
      if (flat) value = Object.fromEntries(jsonPairs.value().map((p) => [p.name, p.value]));
      else {
        try { value = JSON.parse(jsonText.input.value); } catch (e) {
          throw new FieldError('body.value', `The JSON document does not parse: ${e.message}`);
        }
      }
      out.body = { type: 'json', value };
    } else if (b === 'form') out.body = { type: 'form', fields: formPairs.value() };
    else if (b === 'raw') out.body = { type: 'raw', content_type: rawType.input.value.trim(), value: rawValue.value };
    else delete out.body;
    return out;
  }
  return { nodes, build };
}

// ---- Run Code ----

function lineNumbered(label, value, path) {
  const id = nextId('code');
  const area = el('textarea', { id, rows: 14, spellcheck: 'false', wrap: 'off', class: 'mono', autocapitalize: 'off' });
  area.value = value;
  const gutter = el('pre', { class: 'gutter', 'aria-hidden': 'true' });
  const sync = () => {
    const lines = area.value.split('\n').length;
    gutter.textContent = Array.from({ length: lines }, (_, i) => i + 1).join('\n');
    gutter.scrollTop = area.scrollTop;
  };
  area.addEventListener('input', sync);
  area.addEventListener('scroll', () => { gutter.scrollTop = area.scrollTop; });
  // Tab indents (two spaces); Escape then Tab leaves the editor, as in other code editors.
  let escaped = false;
  area.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') { escaped = true; return; }
    if (event.key === 'Tab' && !event.shiftKey && !escaped) {
      event.preventDefault();
      area.setRangeText('  ', area.selectionStart, area.selectionEnd, 'end');
      sync();
    }
    escaped = false;
  });
  sync();
  const helpId = `${id}-help`;
  area.setAttribute('aria-describedby', helpId);
  return {
    area,
    node: el('div', { class: 'field', 'data-path': path },
      el('label', { for: id }, label),
      el('div', { class: 'code-editor' }, gutter, area),
      el('small', { id: helpId }, 'Tab indents; press Escape, then Tab, to move on.')),
  };
}

function bindingList(secrets) {
  const rows = Object.entries(secrets || {}).map(([name, b]) => ({
    name, id: typeof b === 'string' ? b : b.id, reveal: typeof b === 'object' && Boolean(b.reveal),
  }));
  const list = el('div', { class: 'pairs' });
  const add = el('button', { type: 'button', class: 'quiet add', 'data-add': 'secrets' }, 'Add a secret binding');
  function render(focusIndex) {
    list.replaceChildren(...rows.map((row, i) => {
      const nameId = nextId('bn');
      const name = el('input', { type: 'text', id: nameId, autocomplete: 'off', spellcheck: 'false' });
      name.value = row.name;
      name.addEventListener('input', () => { row.name = name.value; });
      const meta = row.id ? keyInfo(row.id) : null;
      const keyName = meta?.name || row.id;
      const choose = el('button', { type: 'button', class: 'choose', 'aria-label': row.id ? `Change the key of binding ${i + 1} (${keyName})` : `Choose the key of binding ${i + 1}` },
        row.id ? 'Change' : 'Choose a key');
      choose.addEventListener('click', async () => {
        const key = await pickKey(`Key for binding ${row.name || i + 1}`);
        if (key) { row.id = key.id; render(i); }
      });
      const reveal = el('input', { type: 'checkbox', id: `${nameId}-reveal`, checked: row.reveal });
      reveal.addEventListener('change', () => { row.reveal = reveal.checked; });
      const chip = row.id
        ? el('span', { class: `chip${meta && !canUse(row.id) ? ' refused' : ''}`, 'data-secret': row.id, title: row.id },
          el('span', { class: 'visually-hidden' }, 'Secret key '), el('span', { class: 'chip-name' }, keyName),
          meta ? accessBadge(meta) : null)
        : el('span', { class: 'sub' }, 'No key yet');
      const node = el('div', { class: 'pair binding', 'data-path': `secrets.${row.name}` },
        el('div', { class: 'field' }, el('label', { for: nameId }, `Variable ${i + 1} name`), name),
        el('div', { class: 'field' }, el('span', { class: 'label-like' }, `Key of variable ${i + 1}`), el('div', { class: 'chip-row' }, chip, choose)),
        el('div', { class: 'radio' }, reveal, el('label', { for: `${nameId}-reveal` }, 'Code may reveal the value')),
        el('button', {
          type: 'button', class: 'quiet remove', 'aria-label': `Remove binding ${i + 1}`,
          onclick: () => { rows.splice(i, 1); render(); add.focus(); },
        }, 'Remove'));
      if (focusIndex === i) queueMicrotask(() => choose.focus());
      return node;
    }));
  }
  add.addEventListener('click', async () => {
    const key = await pickKey('Key for a new binding');
    if (!key) return;
    const base = key.name.toLowerCase().replace(/[^a-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 60) || 'key';
    rows.push({ name: base, id: key.id, reveal: false });
    render(rows.length - 1);
  });
  render();
  return {
    node: el('fieldset', { class: 'pairs-box', 'data-path': 'secrets' }, el('legend', {}, 'Secret bindings'),
      el('p', { class: 'hint' }, 'Each variable names a key for the code. The code uses the key without seeing its value unless it may reveal it.'),
      list, add),
    value: () => Object.fromEntries(rows.filter((r) => r.id).map((r) => [r.name.trim(),
      r.reveal ? { id: r.id, reveal: true } : r.id])),
  };
}

function codeEditor(spec) {
  const language = spec.language ? 'javascript' : 'component';
  const lang = selectField('Language', [['javascript', 'JavaScript'], ['component', 'WebAssembly component (sha256:…)']], language, 'language');
  const code = lineNumbered('Code', spec.code ?? 'export default async function run(inputs, ctx) {\n  return { ok: true };\n}\n', 'code');
  const component = textField('Component id', spec.component || '', {
    path: 'component', hint: 'sha256:… as hush component add prints it.',
  });
  const box = el('div', {});
  function renderLang() {
    box.replaceChildren(lang.select.value === 'javascript' ? code.node : component.node);
  }
  lang.select.addEventListener('change', () => {
    // What the API said about the other language no longer applies.
    clearFieldErrors();
    showError($('action-error'), '');
    renderLang();
  });
  renderLang();
  const bindings = bindingList(spec.secrets);
  const hosts = textField('Allowed hosts', (spec.allowed_hosts || []).join('\n'), {
    path: 'allowed_hosts', multiline: true, rows: 2, hint: 'One per line (e.g. api.stripe.com). Empty: no calls.',
  });
  const limits = spec.limits || {};
  const limitFields = LIMITS.map(([key, label, def]) => {
    const f = textField(label, limits[key] ?? '', { path: `limits.${key}`, type: 'number', hint: `default ${def}` });
    f.input.min = '0';
    f.input.placeholder = String(def);
    return [key, f];
  });
  const nodes = [
    lang.node, box, bindings.node, hosts.node,
    el('fieldset', { class: 'pairs-box limits' }, el('legend', {}, 'Limits'),
      el('div', { class: 'limit-grid' }, limitFields.map(([, f]) => f.node))),
  ];
  function build() {
    const out = { ...spec, kind: 'run_code' };
    delete out.code; delete out.language; delete out.component;
    if (lang.select.value === 'javascript') {
      out.language = 'javascript';
      out.code = code.area.value;
    } else {
      out.component = component.input.value.trim();
    }
    out.secrets = bindings.value();
    out.allowed_hosts = hosts.input.value.split(/[\s,]+/).map((h) => h.trim()).filter(Boolean);
    const l = {};
    for (const [key, f] of limitFields) {
      const text = f.input.value.trim();
      if (text === '') continue;
      const n = Number(text);
      if (!Number.isInteger(n) || n < 0) throw new FieldError(`limits.${key}`, 'A limit is a whole number.');
      l[key] = n;
    }
    out.limits = l;
    return out;
  }
  return { nodes, build };
}

// ---- the editor ----

class FieldError extends Error {
  constructor(path, message) { super(message); this.path = path; }
}

const NEW_SPECS = {
  send_api_request: { kind: 'send_api_request', method: 'GET', url: 'https://' },
  run_code: { kind: 'run_code', language: 'javascript', secrets: {}, allowed_hosts: [] },
};

export async function showAction(which) {
  leaveActions();
  clearFieldErrors();
  showError($('action-error'), '');
  showError($('test-error'), '');
  show($('test-output'), false);
  show($('action-notice'), false);
  $('action-saved').textContent = '';
  $('test-submit').textContent = 'Save and test run';
  clear($('action-fields'));
  const isNew = which.startsWith('new/');
  let saved = null;
  let spec;
  try {
    await loadKeys(false).catch(() => loadKeys(true));
  } catch (e) {
    showError($('action-error'), `Could not list secret keys: ${e.message}`);
  }
  if (isNew) {
    const kind = which.slice(4) === 'run_code' ? 'run_code' : 'send_api_request';
    spec = structuredClone(NEW_SPECS[kind]);
  } else {
    try {
      saved = await call('GET', `/v1/actions/${encodeURIComponent(which)}`, { actor: true });
      spec = saved.spec;
    } catch (e) {
      showError($('action-error'), `Could not load ${which}: ${e.message}`);
      $('action-title').textContent = which;
      return;
    }
  }
  const kind = spec.kind === 'run_code' ? 'run_code' : 'send_api_request';
  const parts = kind === 'run_code' ? codeEditor(spec) : httpEditor(spec);
  editor = { id: saved?.id || '', isNew, kind, build: parts.build, saved };
  $('action-title').textContent = isNew ? `New ${kindLabel(kind)}` : (saved.name || saved.id);
  document.title = `${$('action-title').textContent} · hush`;
  $('action-kind').textContent = kindLabel(kind);
  $('action-name').value = saved?.name || spec.name || '';
  $('action-id').value = saved?.id || '';
  $('action-id').readOnly = !isNew;
  delete $('action-id').dataset.touched;
  $('action-fields').replaceChildren(...parts.nodes);
  if (saved) {
    $('action-saved').textContent = `Saved by ${saved.saved_by}, ${when(saved.saved_at)}.`;
    const me = session.me;
    if (me && me.actor && me.actor.role !== 'admin' && me.actor.id !== saved.saved_by) {
      $('action-notice').textContent = `Only ${saved.saved_by} (who saved it last) or an admin may save changes to it; you may test-run it as saved.`;
      show($('action-notice'), true);
      editor.readOnly = true;
      $('test-submit').textContent = 'Test run';
    }
  }
}

function suggestId() {
  if (!editor?.isNew || $('action-id').dataset.touched) return;
  const slug = $('action-name').value.toLowerCase().replace(/[^a-z0-9_-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60);
  $('action-id').value = slug ? `act_${slug}` : '';
}

function clearFieldErrors() {
  for (const node of document.querySelectorAll('#view-action .field-error')) node.remove();
  for (const node of document.querySelectorAll('#view-action [aria-invalid]')) node.removeAttribute('aria-invalid');
  for (const node of document.querySelectorAll('#view-action .chip.refused-now')) node.classList.remove('refused-now');
}

// Shows `message` at the field `path` names (`headers[1].value`, `limits.timeout_ms`,
// …), or, when no field has that name, above the Save button.
function fieldError(path, message, fallback = $('action-error')) {
  let target = path && document.querySelector(`#view-action [data-path="${CSS.escape(path)}"]`);
  // A path into a JSON body or a list falls back to the nearest field that has one.
  for (let p = path; !target && p && /[.[]/.test(p);) {
    p = p.replace(/(\.[^.[\]]*|\[\d+\])$/, '');
    target = document.querySelector(`#view-action [data-path="${CSS.escape(p)}"]`);
  }
  if (!target) {
    showError(fallback, message);
    return null;
  }
  const id = nextId('err');
  const note = el('p', { class: 'error field-error', id, role: 'alert' }, message);
  target.append(note);
  const control = target.querySelector('input, select, textarea');
  if (control) {
    control.setAttribute('aria-invalid', 'true');
    control.setAttribute('aria-describedby', `${control.getAttribute('aria-describedby') || ''} ${id}`.trim());
  }
  return target;
}

// Places an API refusal: `invalid <field>: …` at the field; a key the member may not use
// (named `(sec_…)`) at each chip and field that holds it.
function placeApiError(e) {
  const message = e.message || String(e);
  const invalid = /^invalid ([^:]+): /.exec(message);
  if (invalid) {
    let path = invalid[1] === 'action id' ? 'id' : invalid[1];
    // `invalid spec: unknown field `language`…`: the first field named that the editor has.
    if (!document.querySelector(`#view-action [data-path="${CSS.escape(path)}"]`)) {
      const named = [...message.matchAll(/`([a-z_.[\]0-9]+)`/g)].map((m) => m[1])
        .find((f) => document.querySelector(`#view-action [data-path="${CSS.escape(f)}"]`));
      if (named) path = named;
    }
    const at = fieldError(path, message);
    at?.querySelector('input, textarea, select')?.focus();
    return;
  }
  const ids = [...new Set([...message.matchAll(/sec_[A-Za-z0-9_-]+/g)].map((m) => m[0]))];
  let first = null;
  for (const id of ids) {
    for (const chip of document.querySelectorAll(`#view-action .chip[data-secret="${CSS.escape(id)}"]`)) {
      chip.classList.add('refused-now');
      const field = chip.closest('[data-path]');
      if (field && !field.querySelector(':scope > .field-error')) {
        field.append(el('p', { class: 'error field-error', role: 'alert' }, message));
      }
      first = first || field;
    }
  }
  first?.querySelector('input, button')?.focus();
}

async function save() {
  clearFieldErrors();
  showError($('action-error'), '');
  $('action-saved').textContent = '';
  const id = $('action-id').value.trim();
  if (!id) {
    fieldError('id', 'Give the action an id (act_…).');
    showError($('action-error'), 'Not saved: give the action an id.');
    $('action-id').focus();
    return null;
  }
  let spec;
  try {
    spec = editor.build();
  } catch (e) {
    if (e instanceof FieldError) fieldError(e.path, e.message);
    showError($('action-error'), `Not saved: ${e.message}`);
    return null;
  }
  const name = $('action-name').value.trim();
  if (name) spec.name = name;
  const body = { spec };
  if (name) body.name = name;
  const button = $('action-save');
  button.disabled = true;
  try {
    const saved = await call('PUT', `/v1/actions/${encodeURIComponent(id)}`, { body, actor: true });
    editor.saved = saved;
    editor.id = saved.id;
    $('action-saved').textContent = `Saved as ${saved.id} by ${saved.saved_by}, ${when(saved.saved_at)}.`;
    if (editor.isNew) {
      editor.isNew = false;
      $('action-id').readOnly = true;
      history.replaceState(null, '', `#/actions/${saved.id}`);
      $('action-title').textContent = saved.name || saved.id;
    }
    return saved;
  } catch (e) {
    if (e instanceof ApiError) placeApiError(e);
    showError($('action-error'), `Not saved: ${e.message}`);
    return null;
  } finally {
    button.disabled = false;
  }
}

// ---- test run ----

async function testRun(event) {
  event.preventDefault();
  showError($('test-error'), '');
  clearFieldErrors();
  let inputs;
  try {
    inputs = JSON.parse($('test-inputs').value || '{}');
    if (!inputs || typeof inputs !== 'object' || Array.isArray(inputs)) throw new Error('not an object');
  } catch (e) {
    fieldError('inputs', `Inputs must be a JSON object (${e.message}).`, $('test-error'));
    return;
  }
  const submit = $('test-submit');
  submit.disabled = true;
  try {
    const saved = editor.readOnly ? editor.saved : await save();
    if (!saved) {
      showError($('test-error'), 'Not run: the action could not be saved (see above).');
      return;
    }
    const body = { action_id: saved.id, inputs };
    if (session.actor) body.actor = session.actor;
    let run;
    try {
      run = await call('POST', '/v1/runs', { query: { wait: 'false' }, body });
    } catch (e) {
      showError($('test-error'), e.message);
      return;
    }
    follow(run);
  } finally {
    submit.disabled = false;
  }
}

function setStatus(status) {
  const node = $('test-status');
  node.className = `badge ${status}`;
  node.textContent = status;
}

function renderRun(run) {
  setStatus(run.status);
  const secrets = $('test-secrets');
  clear(secrets);
  if (!run.secrets_used.length) secrets.append(el('li', { class: 'sub' }, run.finished_at ? 'None' : 'Known when it ends'));
  for (const used of run.secrets_used) secrets.append(el('li', { title: used.id }, used.name));
  let text = run.result === null || run.result === undefined ? 'No result.' : JSON.stringify(run.result, null, 2);
  if (run.error) text = `${run.error.code}: ${run.error.message}${run.result ? `\n\n${text}` : ''}`;
  $('test-result').textContent = text;
  $('test-result').classList.toggle('error-block', Boolean(run.error));
  $('test-logs').textContent = run.logs.join('\n');
}

async function follow(run) {
  if (live) live.abort();
  const controller = new AbortController();
  live = controller;
  show($('test-output'), true);
  $('test-link').href = `#/runs/${run.id}`;
  $('test-link').textContent = `Open run ${run.id}`;
  setStatus(run.status);
  clear($('test-secrets'));
  $('test-result').textContent = 'Not yet: the run has not ended.';
  $('test-result').classList.remove('error-block');
  $('test-logs').textContent = '';
  const lines = [];
  const final = (s) => s === 'succeeded' || s === 'failed';
  for (let attempt = 0; attempt < 20 && live === controller; attempt++) {
    try {
      await streamEvents(`/v1/runs/${encodeURIComponent(run.id)}/events`, ({ event, data }) => {
        let parsed;
        try { parsed = JSON.parse(data); } catch { return; }
        if (event === 'status' && parsed.status) setStatus(parsed.status);
        else if (event === 'log' && typeof parsed.line === 'string') {
          lines.push(parsed.line);
          $('test-logs').textContent = lines.join('\n');
        }
      }, controller.signal);
    } catch (e) {
      if (controller.signal.aborted) return;
      showError($('test-error'), `Lost the live view: ${e.message}.`);
    }
    if (live !== controller) return;
    let now;
    try {
      now = await call('GET', `/v1/runs/${encodeURIComponent(run.id)}`);
    } catch (e) {
      showError($('test-error'), e.message);
      return;
    }
    if (live !== controller) return;
    renderRun(now);
    if (final(now.status)) break;
    await new Promise((resolve) => { setTimeout(resolve, 500); });
  }
  if (live === controller) live = null;
}

// ---- the + menu ----

let menuField = null;

function menuItems() {
  return [...$('insert-menu').querySelectorAll('[role=menuitem]')];
}

function initInsertMenu() {
  const menu = $('insert-menu');
  $('action-fields').addEventListener('click', (event) => {
    const button = event.target.closest('button.plus');
    if (button) toggleInsertMenu(button);
  });
  menu.addEventListener('click', (event) => {
    const item = event.target.closest('[role=menuitem]');
    if (!item) return;
    const field = menuField;
    closeInsertMenu(false);
    ({ key: insertKey, create: createKeyInto, manage: () => { location.hash = '#/secrets'; }, input: openInput })[item.dataset.op](field);
  });
  menu.addEventListener('keydown', (event) => {
    const items = menuItems();
    const at = items.indexOf(document.activeElement);
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: items.length - 1 }[event.key];
    if (to !== undefined) {
      event.preventDefault();
      items[(to + items.length) % items.length].focus();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      closeInsertMenu(true);
    } else if (event.key === 'Tab') {
      closeInsertMenu(false);
    }
  });
  document.addEventListener('click', (event) => {
    if (!menu.hidden && !event.target.closest('#insert-menu') && !event.target.closest('button.plus')) closeInsertMenu(false);
  });
}

function toggleInsertMenu(button) {
  const menu = $('insert-menu');
  if (!menu.hidden && menuField === button.field) {
    closeInsertMenu(true);
    return;
  }
  closeInsertMenu(false);
  menuField = button.field;
  button.after(menu);
  button.setAttribute('aria-expanded', 'true');
  menu.hidden = false;
  menuItems()[0].focus();
}

function closeInsertMenu(focusButton) {
  const menu = $('insert-menu');
  const open = !menu.hidden;
  menu.hidden = true;
  const field = menuField;
  if (open && field) {
    field.plus.setAttribute('aria-expanded', 'false');
    if (focusButton) field.plus.focus();
  }
  // The menu lives beside a field while open: keep it out of fields about to go.
  $('main').append(menu);
}

async function insertKey(field) {
  const key = await pickKey(`Insert a Secret Key into ${field.label}`);
  if (key) field.insertSecret(key.id);
  else field.plus.focus();
}

// Create Secret Key from inside the action: the keys page's dialog; the new key goes
// into `field` (when there is one) as soon as it is created.
function createKeyInto(field) {
  openCreateKey((meta) => {
    rememberKey(meta);
    if (field) {
      field.insertSecret(meta.id);
      flash(`Created ${meta.name} and inserted it into ${field.label}. Its value will not be shown again.`);
    } else {
      flash(`Created ${meta.name}. Its value will not be shown again.`);
    }
  });
}

let inputField = null;

function openInput(field) {
  inputField = field;
  $('input-form').reset();
  showError($('input-error'), '');
  openDialog($('input-dialog'), $('input-name'));
}

function submitInput(event) {
  event.preventDefault();
  const name = $('input-name').value.trim();
  if (!/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/.test(name)) {
    showError($('input-error'), 'An input name is letters, digits and _, with dots between parts.');
    return;
  }
  $('input-dialog').close();
  inputField.insertText(`{{inputs.${name}}}`);
}
