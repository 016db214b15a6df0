// The secret keys view: the filtered list, the Create Secret Key form, and each key's
// menu (insert reference, rename, edit value, permissions, allowed hosts, components that
// may reveal it, delete).
//
// A value is read from its field once, the field is cleared at once, and the value goes
// out in the request body; no answer holds it, and the page keeps no copy.

import { $, el, clear, show, showError, when, openDialog, flash } from './dom.js';
import { call, ApiError } from './api.js';
import { loadKeys, canManage } from './keys.js';

const FILTERS = ['all', 'team', 'restricted', 'usable'];
const list = { filter: 'all', cursor: null, items: new Map() };
let directory = null;
let current = null; // the key a menu or dialog is about

export function initSecrets() {
  for (const tab of document.querySelectorAll('#view-secrets [role=tab]')) {
    tab.addEventListener('click', () => selectFilter(tab.dataset.filter, true));
    tab.addEventListener('keydown', tabKeys);
  }
  $('secrets-more').addEventListener('click', () => load(false));
  $('create-open').addEventListener('click', openCreate);
  $('create-form').addEventListener('submit', submitCreate);
  for (const radio of document.querySelectorAll('#create-form [name=access]')) {
    radio.addEventListener('change', () => show($('create-grants'), radio.value === 'restricted' && radio.checked));
  }
  $('secrets-body').addEventListener('click', (event) => {
    const button = event.target.closest('button[data-menu]');
    if (button) toggleMenu(button);
  });
  initMenu();
  $('rename-form').addEventListener('submit', submitRename);
  $('value-form').addEventListener('submit', submitValue);
  $('permissions-form').addEventListener('submit', submitPermissions);
  $('hosts-form').addEventListener('submit', submitHosts);
  $('reveal-form').addEventListener('submit', submitReveal);
  $('delete-form').addEventListener('submit', submitDelete);
  $('reference-form').addEventListener('submit', copyReference);
  for (const radio of document.querySelectorAll('#permissions-form [name=access]')) {
    radio.addEventListener('change', () => $('permissions-grants').classList.toggle('muted', radio.value === 'team' && radio.checked));
  }
}

export function showSecrets() {
  selectFilter(list.filter, false);
}

function selectFilter(filter, focus) {
  list.filter = FILTERS.includes(filter) ? filter : 'all';
  for (const tab of document.querySelectorAll('#view-secrets [role=tab]')) {
    const selected = tab.dataset.filter === list.filter;
    tab.setAttribute('aria-selected', String(selected));
    tab.tabIndex = selected ? 0 : -1;
    if (selected && focus) tab.focus();
  }
  $('secrets-panel').setAttribute('aria-labelledby', `tab-${list.filter}`);
  load(true);
}

// Arrow keys, Home and End move between the tabs (the WAI-ARIA tabs pattern).
function tabKeys(event) {
  const tabs = [...document.querySelectorAll('#view-secrets [role=tab]')];
  const at = tabs.indexOf(event.currentTarget);
  const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[event.key];
  if (to === undefined) return;
  event.preventDefault();
  selectFilter(tabs[(to + tabs.length) % tabs.length].dataset.filter, true);
}

let loading = 0; // the latest listing asked for; older answers are dropped

async function load(fresh) {
  const body = $('secrets-body');
  const panel = $('secrets-panel');
  const seq = ++loading;
  if (fresh) {
    list.cursor = null;
    // The menu lives in a row while open: keep it out of the rows about to go.
    closeMenu(false);
    $('main').append($('key-menu'));
  }
  panel.setAttribute('aria-busy', 'true');
  showError($('secrets-error'), '');
  try {
    const [page] = await Promise.all([
      call('GET', '/v1/secrets', {
        query: { filter: list.filter, cursor: fresh ? null : list.cursor, limit: 100 }, actor: true,
      }),
      fresh ? loadKeys(true) : null,
    ]);
    if (seq !== loading) return;
    if (fresh) list.items.clear();
    const rows = page.items.map((meta) => {
      list.items.set(meta.id, meta);
      return row(meta);
    });
    // The old rows stay until the new ones are there: no flash of an empty list.
    if (fresh) body.replaceChildren(...rows); else body.append(...rows);
    list.cursor = page.next_cursor || null;
    show($('secrets-more'), Boolean(list.cursor));
    show($('secrets-empty'), list.items.size === 0);
    show($('secrets-table'), list.items.size > 0);
  } catch (e) {
    if (seq === loading) showError($('secrets-error'), `Could not list secret keys: ${e.message}`);
  } finally {
    if (seq === loading) panel.removeAttribute('aria-busy');
  }
}

function grantText(grant) {
  const who = grant.principal.kind === 'group' ? `group ${grant.principal.id}` : grant.principal.id;
  return `${who} (${grant.permission === 'manage' ? 'Manage' : 'Use'})`;
}

function row(meta) {
  const access = meta.access === 'team'
    ? el('span', { class: 'badge team' }, 'Team')
    : el('span', { class: 'badge restricted' }, 'Restricted');
  const grants = meta.grants.length
    ? el('div', { class: 'sub' }, meta.grants.map(grantText).join(', '))
    : null;
  return el('tr', { id: `key-${meta.id}`, 'data-id': meta.id },
    el('th', { scope: 'row', 'data-label': 'Name' },
      el('span', { class: 'name' }, meta.name),
      meta.description ? el('div', { class: 'sub' }, meta.description) : null,
      el('div', { class: 'sub' }, el('code', {}, meta.id))),
    el('td', { 'data-label': 'Access' }, access, grants),
    el('td', { 'data-label': 'Allowed hosts' },
      meta.allowed_hosts.length ? meta.allowed_hosts.join(', ') : el('span', { class: 'sub' }, 'any host')),
    el('td', { 'data-label': 'Version' }, String(meta.version)),
    el('td', { 'data-label': 'Updated' }, when(meta.updated_at), el('div', { class: 'sub' }, `by ${meta.updated_by}`)),
    el('td', { class: 'actions' },
      el('button', {
        type: 'button', class: 'menu-button', 'data-menu': meta.id,
        'aria-haspopup': 'menu', 'aria-expanded': 'false', 'aria-label': `Actions for ${meta.name}`,
      }, el('span', { 'aria-hidden': 'true' }, '⋯'), el('span', { class: 'label' }, ' Actions'))));
}

// ---- the key menu ----

function menuItems() {
  return [...$('key-menu').querySelectorAll('[role=menuitem]')].filter((item) => !item.parentElement.hidden);
}

function initMenu() {
  const menu = $('key-menu');
  menu.addEventListener('click', (event) => {
    const item = event.target.closest('[role=menuitem]');
    if (!item) return;
    const id = menu.dataset.for;
    closeMenu(false);
    operate(item.dataset.op, id);
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
      closeMenu(true);
    } else if (event.key === 'Tab') {
      closeMenu(false);
    }
  });
  document.addEventListener('click', (event) => {
    if (!menu.hidden && !event.target.closest('#key-menu') && !event.target.closest('button[data-menu]')) closeMenu(false);
  });
}

function toggleMenu(button) {
  const menu = $('key-menu');
  if (!menu.hidden && menu.dataset.for === button.dataset.menu) {
    closeMenu(true);
    return;
  }
  closeMenu(false);
  menu.dataset.for = button.dataset.menu;
  // Only those who hold Manage on the key are offered what changes it.
  const manage = canManage(button.dataset.menu);
  for (const item of menu.querySelectorAll('[role=menuitem]')) {
    item.parentElement.hidden = item.dataset.op !== 'reference' && !manage;
  }
  button.after(menu);
  button.setAttribute('aria-expanded', 'true');
  menu.hidden = false;
  menuItems()[0].focus();
}

function closeMenu(focusButton) {
  const menu = $('key-menu');
  if (menu.hidden) return;
  menu.hidden = true;
  const button = document.querySelector(`button[data-menu="${CSS.escape(menu.dataset.for || '')}"]`);
  if (button) {
    button.setAttribute('aria-expanded', 'false');
    if (focusButton) button.focus();
  }
}

function operate(op, id) {
  current = list.items.get(id);
  if (!current) return;
  ({
    reference: openReference,
    rename: openRename,
    value: openValue,
    permissions: openPermissions,
    hosts: openHosts,
    reveal: openReveal,
    delete: openDelete,
  })[op]();
}

async function refreshAfter(message) {
  flash(message);
  await load(true);
}

// ---- people and groups ----

async function loadDirectory() {
  if (directory) return directory;
  const [users, groups] = await Promise.all([
    call('GET', '/v1/users', { actor: true }),
    call('GET', '/v1/groups', { actor: true }),
  ]);
  directory = { users: users.map((u) => u.id), groups: groups.map((g) => g.id) };
  return directory;
}

// A grants editor in `container`: "Add people/groups" (a person or group and Use or
// Manage), then the list of grants, each with its permission and a Remove button.
function grantsEditor(container, prefix, initial) {
  const grants = initial.map((g) => ({ kind: g.principal.kind, id: g.principal.id, permission: g.permission }));
  const who = el('select', { id: `${prefix}-who` });
  const permission = el('select', { id: `${prefix}-permission` },
    el('option', { value: 'use' }, 'Use'), el('option', { value: 'manage' }, 'Manage'));
  const add = el('button', { type: 'button', id: `${prefix}-add` }, 'Add');
  const items = el('ul', { class: 'grant-list', id: `${prefix}-list`, 'aria-label': 'People and groups with access' });
  const note = el('p', { class: 'error', role: 'alert', hidden: true });

  function render() {
    clear(items);
    if (!grants.length) items.append(el('li', { class: 'sub' }, 'No one added yet.'));
    grants.forEach((grant, i) => {
      const label = grant.kind === 'group' ? `Group ${grant.id}` : grant.id;
      const select = el('select', { 'aria-label': `Permission for ${label}` },
        el('option', { value: 'use', selected: grant.permission === 'use' }, 'Use'),
        el('option', { value: 'manage', selected: grant.permission === 'manage' }, 'Manage'));
      select.addEventListener('change', () => { grant.permission = select.value; });
      items.append(el('li', {},
        el('span', { class: 'grantee' }, label), select,
        el('button', {
          type: 'button', class: 'quiet', 'aria-label': `Remove ${label}`,
          onclick: () => { grants.splice(i, 1); render(); add.focus(); },
        }, 'Remove')));
    });
  }

  add.addEventListener('click', () => {
    if (!who.value) return;
    const [kind, id] = who.value.split(':');
    const existing = grants.find((g) => g.kind === kind && g.id === id);
    if (existing) existing.permission = permission.value;
    else grants.push({ kind, id, permission: permission.value });
    render();
  });

  clear(container);
  container.append(
    el('fieldset', {},
      el('legend', {}, 'Add people/groups'),
      el('div', { class: 'add-row' },
        el('div', { class: 'field' }, el('label', { for: `${prefix}-who` }, 'Person or group'), who),
        el('div', { class: 'field' }, el('label', { for: `${prefix}-permission` }, 'Permission'), permission),
        add),
      note,
      items));
  render();
  loadDirectory().then((dir) => {
    clear(who);
    who.append(
      el('optgroup', { label: 'People' }, dir.users.map((u) => el('option', { value: `user:${u}` }, u))),
      el('optgroup', { label: 'Groups' }, dir.groups.map((g) => el('option', { value: `group:${g}` }, `Group ${g}`))));
  }).catch((e) => showError(note, `Could not load people and groups: ${e.message}`));

  return () => grants.map((g) => ({ principal: { kind: g.kind, id: g.id }, permission: g.permission }));
}

function hostsFrom(text) {
  return text.split(/[\s,]+/).map((h) => h.trim()).filter(Boolean);
}

// ---- create ----

let createGrants = () => [];
let onCreated = null; // set when the action editor opened the dialog

// Create Secret Key from elsewhere (the action editor): `then(meta)` once it is created.
export function openCreateKey(then) {
  openCreate();
  onCreated = then;
}

function openCreate() {
  onCreated = null;
  const form = $('create-form');
  form.reset();
  showError($('create-error'), '');
  show($('create-grants'), false);
  createGrants = grantsEditor($('create-grants'), 'create-grant', []);
  openDialog($('create-dialog'), $('create-name'));
}

async function submitCreate(event) {
  event.preventDefault();
  const form = event.currentTarget;
  // The value leaves the page's fields before anything else happens.
  const valueField = $('create-value');
  const value = valueField.value;
  valueField.value = '';
  const access = form.querySelector('[name=access]:checked').value;
  const body = {
    name: $('create-name').value.trim(),
    value,
    access,
    grants: access === 'restricted' ? createGrants() : [],
    allowed_hosts: hostsFrom($('create-hosts').value),
  };
  const description = $('create-description').value.trim();
  if (description) body.description = description;
  if (!body.name) {
    showError($('create-error'), 'Give the key a name. (Enter the value again: it was cleared.)');
    return;
  }
  try {
    const meta = await call('POST', '/v1/secrets', { body, actor: true });
    const then = onCreated;
    onCreated = null;
    $('create-dialog').close();
    form.reset();
    if (then) {
      then(meta);
      return;
    }
    await refreshAfter(`Created ${meta.name} (${meta.id}). Its value will not be shown again.`);
  } catch (e) {
    showError($('create-error'), `${e.message} (The value field was cleared: enter it again.)`);
  }
}

// ---- rename ----

function openRename() {
  $('rename-form').reset();
  $('rename-title').textContent = `Rename ${current.name}`;
  $('rename-name').value = current.name;
  showError($('rename-error'), '');
  openDialog($('rename-dialog'), $('rename-name'));
  $('rename-name').select();
}

async function submitRename(event) {
  event.preventDefault();
  const name = $('rename-name').value.trim();
  try {
    const meta = await call('PATCH', `/v1/secrets/${current.id}`, { body: { name }, actor: true });
    $('rename-dialog').close();
    await refreshAfter(`Renamed to ${meta.name}.`);
  } catch (e) {
    showError($('rename-error'), e.message);
  }
}

// ---- new value ----

function openValue() {
  $('value-form').reset();
  $('value-title').textContent = `Edit value of ${current.name}`;
  showError($('value-error'), '');
  openDialog($('value-dialog'), $('value-value'));
}

async function submitValue(event) {
  event.preventDefault();
  const field = $('value-value');
  const value = field.value;
  field.value = '';
  try {
    const meta = await call('PUT', `/v1/secrets/${current.id}/value`, { body: { value }, actor: true });
    $('value-dialog').close();
    await refreshAfter(`${meta.name} has a new value (version ${meta.version}).`);
  } catch (e) {
    showError($('value-error'), `${e.message} (The value field was cleared: enter it again.)`);
  }
}

// ---- permissions ----

let permissionGrants = () => [];

function openPermissions() {
  $('permissions-title').textContent = `Permissions of ${current.name}`;
  $(`permissions-access-${current.access}`).checked = true;
  $('permissions-grants').classList.toggle('muted', current.access === 'team');
  showError($('permissions-error'), '');
  permissionGrants = grantsEditor($('permissions-grants'), 'permissions-grant', current.grants);
  openDialog($('permissions-dialog'), $(`permissions-access-${current.access}`));
}

async function submitPermissions(event) {
  event.preventDefault();
  const access = event.currentTarget.querySelector('[name=access]:checked').value;
  try {
    const meta = await call('PATCH', `/v1/secrets/${current.id}`, {
      body: { access, grants: permissionGrants() }, actor: true,
    });
    $('permissions-dialog').close();
    await refreshAfter(`Permissions of ${meta.name} saved.`);
  } catch (e) {
    showError($('permissions-error'), e.message);
  }
}

// ---- allowed hosts ----

function openHosts() {
  $('hosts-title').textContent = `Allowed hosts of ${current.name}`;
  $('hosts-hosts').value = current.allowed_hosts.join('\n');
  showError($('hosts-error'), '');
  openDialog($('hosts-dialog'), $('hosts-hosts'));
}

async function submitHosts(event) {
  event.preventDefault();
  try {
    const meta = await call('PATCH', `/v1/secrets/${current.id}`, {
      body: { allowed_hosts: hostsFrom($('hosts-hosts').value) }, actor: true,
    });
    $('hosts-dialog').close();
    await refreshAfter(`Allowed hosts of ${meta.name} saved.`);
  } catch (e) {
    showError($('hosts-error'), e.message);
  }
}

// ---- components that may reveal the value ----

function openReveal() {
  $('reveal-title').textContent = `Components that may reveal ${current.name}`;
  $('reveal-components').value = (current.reveal_components || []).join('\n');
  showError($('reveal-error'), '');
  openDialog($('reveal-dialog'), $('reveal-components'));
}

async function submitReveal(event) {
  event.preventDefault();
  try {
    const meta = await call('PATCH', `/v1/secrets/${current.id}`, {
      body: { reveal_components: hostsFrom($('reveal-components').value) }, actor: true,
    });
    $('reveal-dialog').close();
    await refreshAfter(`Components that may reveal ${meta.name} saved.`);
  } catch (e) {
    showError($('reveal-error'), e.message);
  }
}

// ---- delete ----

let deleteReferences = [];

// `refs`: saved actions (from /references) or their ids (from a 409 refusal).
async function showReferences(refs) {
  deleteReferences = refs;
  const listNode = $('delete-actions');
  clear(listNode);
  show($('delete-references'), refs.length > 0);
  show($('delete-none'), refs.length === 0);
  $('delete-confirm').textContent = refs.length ? 'Delete anyway' : 'Delete key';
  for (const ref of refs) {
    const id = typeof ref === 'string' ? ref : ref.id;
    const item = el('li', {}, el('code', {}, id));
    listNode.append(item);
    if (typeof ref !== 'string') {
      if (ref.name) item.append(` — ${ref.name}`);
    } else {
      call('GET', `/v1/actions/${encodeURIComponent(id)}`, { actor: true })
        .then((action) => { if (action.name) item.append(` — ${action.name}`); })
        .catch(() => {});
    }
  }
}

async function openDelete() {
  $('delete-title').textContent = `Delete ${current.name}?`;
  $('delete-question').textContent =
    `${current.name} (${current.id}) and its value will be deleted for good. Runs that already used it keep their records.`;
  showError($('delete-error'), '');
  show($('delete-references'), false);
  show($('delete-none'), false);
  deleteReferences = [];
  const confirm = $('delete-confirm');
  confirm.disabled = true;
  openDialog($('delete-dialog'), $('delete-dialog').querySelector('[data-close]'));
  try {
    const refs = await call('GET', `/v1/secrets/${current.id}/references`, { actor: true });
    await showReferences(refs.actions || []);
  } catch (e) {
    showError($('delete-error'), `Could not check which actions use it: ${e.message}`);
  } finally {
    confirm.disabled = false;
  }
}

async function submitDelete(event) {
  event.preventDefault();
  const force = deleteReferences.length > 0;
  try {
    await call('DELETE', `/v1/secrets/${current.id}`, { query: { force: force ? 'true' : '' }, actor: true });
    $('delete-dialog').close();
    await refreshAfter(`Deleted ${current.name}.`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 409 && Array.isArray(e.detail.references)) {
      await showReferences(e.detail.references);
      showError($('delete-error'), 'Saved actions use this key: check the list, then delete anyway.');
    } else {
      showError($('delete-error'), e.message);
    }
  }
}

// ---- insert reference ----

function openReference() {
  $('reference-title').textContent = `Insert reference to ${current.name}`;
  $('reference-text').value = `{{secret "${current.id}"}}`;
  $('reference-status').textContent = '';
  openDialog($('reference-dialog'), $('reference-text'));
  $('reference-text').select();
}

async function copyReference(event) {
  event.preventDefault();
  const text = $('reference-text').value;
  const status = $('reference-status');
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = 'Copied to the clipboard.';
  } catch {
    $('reference-text').select();
    status.textContent = 'Could not copy here: the reference is selected, press Ctrl+C (⌘C).';
  }
}
