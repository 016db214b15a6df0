//! Lazily loaded part of hush's JavaScript runner: `fetch` through the host's `http`
//! interface, with `Headers` and `Response`. Evaluated on first use only. It attaches a
//! secret by its handle index only (the host inserts the value); it must never hold a
//! value, nor keep the native functions anywhere the action's code can reach.
(function (deps) {
  "use strict";
  // ---- fetch ----
  class HttpError extends Error {
    constructor(kind, message) { super(`${kind}: ${message}`); this.name = "HttpError"; this.kind = kind; }
  }
  class Headers {
    #list = [];
    constructor(flat = []) { for (let i = 0; i + 1 < flat.length; i += 2) this.#list.push([flat[i].toLowerCase(), flat[i + 1]]); }
    get(n) { const v = this.#list.filter(([k]) => k === String(n).toLowerCase()).map(([, v]) => v); return v.length ? v.join(", ") : null; }
    has(n) { return this.#list.some(([k]) => k === String(n).toLowerCase()); }
    forEach(f, self) { for (const [k, v] of this.#list) f.call(self, v, k, this); }
    entries() { return this.#list.map((e) => [...e])[Symbol.iterator](); }
    keys() { return this.#list.map(([k]) => k)[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    toJSON() { return Object.fromEntries(this.#list); }
  }
  class Response {
    #body;
    constructor(r, url) {
      this.status = r.status;
      this.ok = r.status >= 200 && r.status < 300;
      this.headers = new Headers(r.headers);
      this.truncated = r.truncated;
      this.url = url;
      this.#body = r.body;
    }
    async text() { return new TextDecoder().decode(this.#body); }
    async json() { return JSON.parse(new TextDecoder().decode(this.#body)); }
    async arrayBuffer() { return this.#body.slice().buffer; }
    async bytes() { return this.#body.slice(); }
  }
  const { native, Secret, SecretHeader, indexOf, prefixes, toBytes, URL, URLSearchParams, TextDecoder, TextEncoder } = deps;
  async function fetch(url, init = {}) {
    const u = new URL(String(url instanceof URL ? url.href : url));
    const method = String(init.method ?? "GET").toUpperCase();
    const headers = [];
    const attach = [];
    const ids = [];
    const hasHeader = (n) => headers.some((h, i) => i % 2 === 0 && h.toLowerCase() === n) || attach.some((a, i) => i % 3 === 1 && attach[i - 1] === "header" && a.toLowerCase() === n);
    const addHeader = (name, value) => {
      if (value instanceof Secret) { attach.push("header", name, ""); ids.push(indexOf(value)); }
      else if (value instanceof SecretHeader) { const [s, p] = prefixes.get(value); attach.push("header", name, p); ids.push(indexOf(s)); }
      else headers.push(String(name), String(value));
    };
    const h = init.headers ?? {};
    const entries = h instanceof Headers ? [...h.entries()] : Array.isArray(h) ? h : Object.entries(h);
    for (const [name, value] of entries) addHeader(String(name), value);
    for (const [name, value] of Object.entries(init.query ?? {})) {
      if (value instanceof Secret) { attach.push("query", name, ""); ids.push(indexOf(value)); }
      else u.searchParams.append(name, value);
    }
    if (init.basicAuth) {
      const { username = "", password } = init.basicAuth;
      if (password instanceof Secret) { attach.push("basic", String(username), ""); ids.push(indexOf(password)); }
      else headers.push("authorization", "Basic " + btoa(String.fromCharCode(...new TextEncoder().encode(`${username}:${password ?? ""}`))));
    }
    let body = init.body;
    if (body !== undefined && body !== null) {
      if (typeof body === "object" && !(body instanceof ArrayBuffer) && !ArrayBuffer.isView(body)) {
        if (body instanceof URLSearchParams) {
          if (!hasHeader("content-type")) headers.push("content-type", "application/x-www-form-urlencoded");
          body = body.toString();
        } else {
          if (!hasHeader("content-type")) headers.push("content-type", "application/json");
          body = JSON.stringify(body);
        }
      }
      body = toBytes(body);
    } else body = undefined;
    const timeout = init.timeout ?? init.timeoutMs;
    const r = native.send({ method, url: u.href, headers, attach, ids, body, timeout: timeout === undefined ? undefined : Number(timeout) });
    if (r.error) throw new HttpError(r.error, r.message);
    return new Response(r, u.href);
  }

  return { fetch, Headers, Response, HttpError };
})
