// The session (the API token, kept only in this tab's sessionStorage) and calls to the
// /v1 API. The token travels only in the Authorization header, never in a URL.

const TOKEN = 'hush.token';
const ACTOR = 'hush.actor';

export const session = {
  // Who the token stands for (GET /v1/me), kept in memory only.
  me: null,
  get token() { return sessionStorage.getItem(TOKEN); },
  get actor() { return sessionStorage.getItem(ACTOR) || ''; },
  signIn(token, actor) {
    sessionStorage.setItem(TOKEN, token);
    if (actor) sessionStorage.setItem(ACTOR, actor); else sessionStorage.removeItem(ACTOR);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(ACTOR);
  },
};

// An API refusal: its status, code and message (and any extra field, e.g. references).
export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `the server answered ${status}`);
    this.status = status;
    this.code = error.code || '';
    this.detail = error;
  }
}

let onUnauthorized = () => {};
// Called when the API refuses the token (401): the page signs out.
export function whenUnauthorized(handler) { onUnauthorized = handler; }

export function headers(extra = {}) {
  return { Authorization: `Bearer ${session.token}`, ...extra };
}

// `method path` with `query` (an object; empty values left out) and a JSON `body`.
// `actor: true` adds the signed-in actor for routes that act for a user.
export async function call(method, path, { query = {}, body, actor = false, token } = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, value);
  }
  if (actor && session.actor) url.searchParams.set('actor', session.actor);
  const init = {
    method,
    headers: token ? { Authorization: `Bearer ${token}` } : headers(),
    cache: 'no-store',
    credentials: 'omit',
    referrerPolicy: 'no-referrer',
  };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new ApiError(0, { error: { message: `hush did not answer (${e.message})` } });
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = null; }
  if (!response.ok) {
    if (response.status === 401 && !token) onUnauthorized();
    throw new ApiError(response.status, json);
  }
  return json;
}
