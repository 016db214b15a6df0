// The page: sign in, then route by the URL's fragment (#/secrets, #/actions,
// #/actions/<id>, #/actions/new/<kind>, #/runs, #/runs/<id>).
// The API token is kept in sessionStorage only (this tab, this session) and sent only in
// the Authorization header.

import { $, show, showError, wireDialogs } from './dom.js';
import { call, session, whenUnauthorized } from './api.js';
import { initSecrets, showSecrets } from './secrets.js';
import { initRuns, showRuns, showRun } from './runs.js';
import { initActions, showActions, showAction, leaveActions } from './actions.js';

const VIEWS = ['view-signin', 'view-secrets', 'view-actions', 'view-action', 'view-runs', 'view-run'];
const NAV = {
  'view-secrets': 'nav-secrets', 'view-actions': 'nav-actions', 'view-action': 'nav-actions',
  'view-runs': 'nav-runs', 'view-run': 'nav-runs',
};
let currentView = '';

function showView(id) {
  // Leaving a view closes what it had open: its dialogs and menus.
  if (id !== currentView) {
    if (currentView === 'view-action') leaveActions();
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    for (const menu of document.querySelectorAll('.menu[role=menu]')) menu.hidden = true;
    for (const button of document.querySelectorAll('[aria-expanded=true]')) button.setAttribute('aria-expanded', 'false');
    if (currentView === 'view-secrets' || id === 'view-secrets') $('flash').hidden = true;
  }
  currentView = id;
  for (const view of VIEWS) show($(view), view === id);
  const signedIn = id !== 'view-signin';
  show($('nav'), signedIn);
  show($('who'), signedIn);
  showWho();
  for (const link of document.querySelectorAll('#nav a')) {
    if (NAV[id] === link.id) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
}

// Who is signed in: the member (or the service acting as one) and the org, from /v1/me.
function showWho() {
  const me = session.me;
  if (!me) {
    $('who-text').textContent = session.actor ? `Acting as ${session.actor}` : 'Signed in';
    $('who-org').textContent = '';
    return;
  }
  const role = me.actor?.role === 'admin' ? ' (admin)' : '';
  if (me.principal.kind === 'service') {
    $('who-text').textContent = `Acting as ${me.actor?.id || session.actor}${role}`;
    $('who-org').textContent = `via service ${me.principal.service} · Org ${me.org}`;
  } else {
    $('who-text').textContent = `Signed in as ${me.actor?.id || me.principal.user}${role}`;
    $('who-org').textContent = `Org ${me.org}`;
  }
}

async function learnWho() {
  if (!session.token) return;
  try {
    session.me = await call('GET', '/v1/me', { actor: true });
  } catch {
    session.me = null;
  }
  showWho();
}

function route() {
  if (!session.token) {
    showView('view-signin');
    document.title = 'Sign in · hush';
    $('signin-token').focus();
    return;
  }
  const hash = location.hash || '#/secrets';
  const runMatch = /^#\/runs\/([A-Za-z0-9_.:-]+)$/.exec(hash);
  if (runMatch) {
    showView('view-run');
    showRun(runMatch[1]);
  } else if (hash === '#/actions') {
    showView('view-actions');
    showActions();
  } else if (/^#\/actions\/(new\/(send_api_request|run_code)|act_[a-z0-9_-]+)$/.test(hash)) {
    showView('view-action');
    showAction(hash.slice('#/actions/'.length));
    return;
  } else if (hash === '#/runs') {
    showView('view-runs');
    showRuns();
  } else {
    showView('view-secrets');
    showSecrets();
  }
  document.title = `${$('main').querySelector('.view:not([hidden]) h1').textContent} · hush`;
}

async function signIn(event) {
  event.preventDefault();
  const tokenField = $('signin-token');
  const token = tokenField.value.trim();
  const actor = $('signin-actor').value.trim();
  showError($('signin-error'), '');
  if (!token) {
    showError($('signin-error'), 'Paste an API token.');
    return;
  }
  try {
    const query = actor ? { limit: 1, actor } : { limit: 1 };
    await call('GET', '/v1/secrets', { query, token });
  } catch (e) {
    const message = e.status === 400 && /actor/.test(e.message)
      ? 'This is a service token: enter the member to act as.'
      : e.status === 401 ? 'That token is not valid (or was revoked).' : e.message;
    showError($('signin-error'), message);
    return;
  }
  tokenField.value = '';
  session.signIn(token, actor);
  await learnWho();
  if (!location.hash || location.hash === '#/') location.hash = '#/secrets';
  else route();
}

function signOut() {
  session.signOut();
  session.me = null;
  $('signin-form').reset();
  location.hash = '';
  route();
}

whenUnauthorized(() => {
  session.signOut();
  session.me = null;
  showView('view-signin');
  showError($('signin-error'), 'Your token was refused (revoked or expired): sign in again.');
});

initSecrets();
initRuns();
initActions();
wireDialogs();
$('signin-form').addEventListener('submit', signIn);
$('sign-out').addEventListener('click', signOut);
window.addEventListener('hashchange', route);
route();
learnWho();
