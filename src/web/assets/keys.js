// The org's secret keys as the action editor needs them — every key's metadata (never a
// value) and which of them the member may Use or Manage — and the key picker: a
// searchable list of the keys, where a key the member may not Use is shown refused.

import { $, el, clear, show, showError, openDialog } from './dom.js';
import { call } from './api.js';

const catalog = { keys: new Map(), usable: new Set(), manageable: new Set() };
let loading = null;

async function every(filter) {
  const items = [];
  let cursor = null;
  do {
    const page = await call('GET', '/v1/secrets', { query: { filter, cursor, limit: 500 }, actor: true });
    items.push(...page.items);
    cursor = page.next_cursor || null;
  } while (cursor);
  return items;
}

// Reads the keys again (or, with `fresh` false, once).
export function loadKeys(fresh = true) {
  if (fresh || !loading) {
    loading = Promise.all([every('all'), every('usable'), every('manageable')])
      .then(([keys, usable, manageable]) => {
        catalog.keys = new Map(keys.map((k) => [k.id, k]));
        catalog.usable = new Set(usable.map((k) => k.id));
        catalog.manageable = new Set(manageable.map((k) => k.id));
        return catalog;
      });
    loading.catch(() => { loading = null; });
  }
  return loading;
}

export const keyInfo = (id) => catalog.keys.get(id);
export const canUse = (id) => catalog.usable.has(id);
export const canManage = (id) => catalog.manageable.has(id);

// A key the member just created: they may use and manage it.
export function rememberKey(meta) {
  catalog.keys.set(meta.id, meta);
  catalog.usable.add(meta.id);
  catalog.manageable.add(meta.id);
}

export function accessBadge(meta) {
  return meta.access === 'team'
    ? el('span', { class: 'badge team' }, 'Team')
    : el('span', { class: 'badge restricted' }, 'Restricted');
}

// ---- the picker ----

let picked = null;
let resolvePick = null;
let pickerActions = {};

export function initPicker({ onCreate, onManage }) {
  pickerActions = { onCreate, onManage };
  $('picker-search').addEventListener('input', renderPicker);
  $('picker-search').addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') {
      event.preventDefault();
      $('picker-list').querySelector('button')?.focus();
    } else if (event.key === 'Enter') {
      // Enter picks the match when the search leaves exactly one key.
      event.preventDefault();
      const buttons = $('picker-list').querySelectorAll('button');
      if (buttons.length === 1) buttons[0].click();
    }
  });
  $('picker-list').addEventListener('keydown', (event) => {
    const buttons = [...$('picker-list').querySelectorAll('button')];
    const at = buttons.indexOf(document.activeElement);
    const to = { ArrowDown: at + 1, ArrowUp: at - 1 }[event.key];
    if (to === undefined || at < 0) return;
    event.preventDefault();
    if (to < 0) $('picker-search').focus(); else buttons[Math.min(to, buttons.length - 1)].focus();
  });
  $('picker-dialog').addEventListener('close', () => {
    const resolve = resolvePick;
    resolvePick = null;
    if (resolve) resolve(picked);
  });
  $('picker-create').addEventListener('click', () => {
    $('picker-dialog').close();
    pickerActions.onCreate();
  });
  $('picker-manage').addEventListener('click', () => {
    $('picker-dialog').close();
    pickerActions.onManage();
  });
}

// Opens the picker; resolves with the chosen key's metadata, or null.
export function pickKey(title = 'Insert a Secret Key') {
  picked = null;
  $('picker-title').textContent = title;
  $('picker-search').value = '';
  showError($('picker-note'), '');
  clear($('picker-list'));
  const promise = new Promise((resolve) => { resolvePick = resolve; });
  openDialog($('picker-dialog'), $('picker-search'));
  loadKeys(true).then(renderPicker)
    .catch((e) => showError($('picker-note'), `Could not list secret keys: ${e.message}`));
  return promise;
}

function renderPicker() {
  const list = $('picker-list');
  const words = $('picker-search').value.trim().toLowerCase();
  const keys = [...catalog.keys.values()]
    .filter((k) => !words || `${k.name} ${k.id} ${k.description || ''}`.toLowerCase().includes(words))
    .sort((a, b) => a.name.localeCompare(b.name));
  clear(list);
  if (!keys.length) list.append(el('li', { class: 'sub' }, catalog.keys.size ? 'No key matches.' : 'No secret keys yet.'));
  for (const key of keys) {
    const usable = canUse(key.id);
    const button = el('button', {
      type: 'button', class: `pick${usable ? '' : ' refused'}`, 'data-secret': key.id,
      'aria-disabled': usable ? null : 'true',
    },
    el('span', { class: 'name' }, key.name), ' ', accessBadge(key),
    el('span', { class: 'sub' }, usable ? ' You may use it' : ' Refused: you do not have Use'));
    button.addEventListener('click', () => {
      if (!usable) {
        showError($('picker-note'),
          `You may not use ${key.name}: ask someone who manages it for the Use permission.`);
        return;
      }
      picked = key;
      $('picker-dialog').close();
    });
    list.append(el('li', {}, button));
  }
  show(list, true);
}
