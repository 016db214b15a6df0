// The page: sign in, then route by the URL's fragment (#/secrets, #/runs, #/runs/<id>).
// The API token is kept in sessionStorage only (this tab, this session) and sent only in
// the Authorization header.

import { $, show, showError, wireDialogs } from './dom.js';
import { call, session, whenUnauthorized } from './api.js';
import { initSecrets, showSecrets } from './secrets.js';
import { initRuns, showRuns, showRun } from './runs.js';

const VIEWS = ['view-signin', 'view-secrets', 'view-runs', 'view-run'];

// The org is in the token's text (`hush_<org>_<52 characters>`). A user token acts as its
// own user, whose id only the server knows; a service token acts for the member named.
function orgOf(token) {
  const m = /^hush_(.+)_[a-z2-7]{52}$/.exec(token || '');
  return m ? m[1] : '';
}

function showView(id) {
  $('flash').hidden = id !== 'view-secrets' || $('flash').hidden;
  for (const view of VIEWS) show($(view), view === id);
  const signedIn = id !== 'view-signin';
  show($('nav'), signedIn);
  show($('who'), signedIn);
  const org = orgOf(session.token);
  $('who-text').textContent = session.actor
    ? `Acting as ${session.actor} in ${org}`
    : `Signed in to ${org} with a user token`;
  for (const link of document.querySelectorAll('#nav a')) {
    const here = (id === 'view-secrets' && link.id === 'nav-secrets')
      || ((id === 'view-runs' || id === 'view-run') && link.id === 'nav-runs');
    if (here) link.setAttribute('aria-current', 'page'); else link.removeAttribute('aria-current');
  }
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
  if (!location.hash || location.hash === '#/') location.hash = '#/secrets';
  else route();
}

function signOut() {
  session.signOut();
  $('signin-form').reset();
  location.hash = '';
  route();
}

whenUnauthorized(() => {
  session.signOut();
  showView('view-signin');
  showError($('signin-error'), 'Your token was refused (revoked or expired): sign in again.');
});

initSecrets();
initRuns();
wireDialogs();
$('signin-form').addEventListener('submit', signIn);
$('sign-out').addEventListener('click', signOut);
window.addEventListener('hashchange', route);
route();
