//! The JavaScript half of hush's runner, evaluated before the action's module: polyfills
//! QuickJS lacks (TextEncoder, TextDecoder, URL, URLSearchParams), the `Secret` class,
//! `fetch`, `console`, and the driver that calls the action's default export. It owns the
//! shape of the JS surface; it must never read a secret's value (it holds only indexes into
//! the runner's list of host handles) nor leave the native functions reachable by the code.
"use strict";
(() => {
  const native = globalThis.__hush_native;
  delete globalThis.__hush_native;

  // ---- TextEncoder / TextDecoder (UTF-8 only) ----
  class TextEncoder {
    get encoding() { return "utf-8"; }
    encode(input = "") {
      const s = String(input);
      const out = [];
      for (let i = 0; i < s.length; i++) {
        let c = s.charCodeAt(i);
        if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
          const d = s.charCodeAt(i + 1);
          if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; }
          else c = 0xfffd;
        } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
        if (c < 0x80) out.push(c);
        else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
        else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
        else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      }
      return new Uint8Array(out);
    }
  }
  class TextDecoder {
    constructor(label = "utf-8") {
      if (!/^utf-?8$/i.test(String(label))) throw new RangeError(`TextDecoder supports utf-8 only, not ${label}`);
    }
    get encoding() { return "utf-8"; }
    decode(input) {
      if (input === undefined) return "";
      const b = input instanceof ArrayBuffer ? new Uint8Array(input)
        : ArrayBuffer.isView(input) ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength) : null;
      if (!b) throw new TypeError("TextDecoder.decode takes an ArrayBuffer or a typed array");
      let s = "";
      const chunk = [];
      const flush = () => { s += String.fromCharCode.apply(null, chunk); chunk.length = 0; };
      for (let i = 0; i < b.length;) {
        const x = b[i];
        let c = 0xfffd, n = 1;
        if (x < 0x80) c = x;
        else if (x >= 0xc2 && x < 0xe0 && (b[i + 1] & 0xc0) === 0x80) { c = ((x & 31) << 6) | (b[i + 1] & 63); n = 2; }
        else if (x >= 0xe0 && x < 0xf0 && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80) {
          c = ((x & 15) << 12) | ((b[i + 1] & 63) << 6) | (b[i + 2] & 63); n = 3;
          if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) { c = 0xfffd; n = 1; }
        } else if (x >= 0xf0 && x < 0xf5 && (b[i + 1] & 0xc0) === 0x80 && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80) {
          c = ((x & 7) << 18) | ((b[i + 1] & 63) << 12) | ((b[i + 2] & 63) << 6) | (b[i + 3] & 63); n = 4;
          if (c < 0x10000 || c > 0x10ffff) { c = 0xfffd; n = 1; }
        }
        if (c >= 0x10000) { c -= 0x10000; chunk.push(0xd800 + (c >> 10), 0xdc00 + (c & 1023)); }
        else chunk.push(c);
        if (chunk.length > 8000) flush();
        i += n;
      }
      flush();
      return s;
    }
  }

  // ---- URLSearchParams / URL (absolute http(s)-style URLs and simple relative ones) ----
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, "+").replace(/[!'()~]/g, (c) => "%" + c.charCodeAt(0).toString(16).toUpperCase());
  const dec = (s) => { try { return decodeURIComponent(s.replace(/\+/g, " ")); } catch { return s; } };
  class URLSearchParams {
    #list = [];
    #url = null;
    constructor(init = "", url = null) {
      this.#url = url;
      if (typeof init === "string") this.#parse(init);
      else if (init instanceof URLSearchParams) this.#list = [...init.entries()];
      else if (Array.isArray(init)) this.#list = init.map(([k, v]) => [String(k), String(v)]);
      else if (init && typeof init === "object") this.#list = Object.entries(init).map(([k, v]) => [k, String(v)]);
    }
    #parse(s) {
      this.#list = [];
      for (const part of s.replace(/^\?/, "").split("&")) {
        if (!part) continue;
        const i = part.indexOf("=");
        this.#list.push(i < 0 ? [dec(part), ""] : [dec(part.slice(0, i)), dec(part.slice(i + 1))]);
      }
    }
    _reset(s) { this.#parse(s); }
    #update() { if (this.#url) this.#url._setSearch(this.toString()); }
    append(k, v) { this.#list.push([String(k), String(v)]); this.#update(); }
    delete(k) { this.#list = this.#list.filter(([x]) => x !== String(k)); this.#update(); }
    get(k) { const e = this.#list.find(([x]) => x === String(k)); return e ? e[1] : null; }
    getAll(k) { return this.#list.filter(([x]) => x === String(k)).map(([, v]) => v); }
    has(k) { return this.#list.some(([x]) => x === String(k)); }
    set(k, v) {
      const i = this.#list.findIndex(([x]) => x === String(k));
      if (i < 0) this.#list.push([String(k), String(v)]);
      else { this.#list[i] = [String(k), String(v)]; this.#list = this.#list.filter(([x], j) => j <= i || x !== String(k)); }
      this.#update();
    }
    sort() { this.#list.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)); this.#update(); }
    forEach(f, self) { for (const [k, v] of this.#list) f.call(self, v, k, this); }
    keys() { return this.#list.map(([k]) => k)[Symbol.iterator](); }
    values() { return this.#list.map(([, v]) => v)[Symbol.iterator](); }
    entries() { return this.#list.map((e) => [...e])[Symbol.iterator](); }
    [Symbol.iterator]() { return this.entries(); }
    get size() { return this.#list.length; }
    toString() { return this.#list.map(([k, v]) => `${enc(k)}=${enc(v)}`).join("&"); }
  }
  const URL_RE = /^([a-zA-Z][a-zA-Z0-9+.-]*:)\/\/(?:([^:@/?#]*)(?::([^@/?#]*))?@)?(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?([^?#]*)(\?[^#]*)?(#.*)?$/;
  const DEFAULT_PORTS = { "http:": "80", "https:": "443", "ws:": "80", "wss:": "443" };
  const normalizePath = (p) => {
    const out = [];
    for (const seg of p.split("/").slice(1)) {
      if (seg === "..") { if (out.length) out.pop(); }
      else if (seg !== ".") out.push(seg);
    }
    const last = p.split("/").pop();
    return "/" + out.join("/") + (last === "." || last === ".." ? (out.length ? "/" : "") : "");
  };
  class URL {
    #p;
    #search;
    constructor(input, base) {
      let s = String(input).trim();
      if (!URL_RE.test(s)) {
        if (base === undefined) throw new TypeError(`Invalid URL: ${s}`);
        const b = base instanceof URL ? base : new URL(base);
        if (s.startsWith("//")) s = b.protocol + s;
        else if (s.startsWith("/")) s = b.origin + s;
        else if (s.startsWith("?")) s = b.origin + b.pathname + s;
        else if (s.startsWith("#")) s = b.origin + b.pathname + b.search + s;
        else s = b.origin + b.pathname.replace(/[^/]*$/, "") + s;
      }
      const m = URL_RE.exec(s);
      if (!m) throw new TypeError(`Invalid URL: ${s}`);
      const protocol = m[1].toLowerCase();
      let port = m[5] || "";
      if (DEFAULT_PORTS[protocol] === port) port = "";
      this.#p = {
        protocol, username: m[2] || "", password: m[3] || "", hostname: (m[4] || "").toLowerCase(), port,
        pathname: normalizePath(m[6] || "/"), hash: m[8] && m[8] !== "#" ? m[8] : "",
      };
      this.#search = new URLSearchParams(m[7] || "", this);
      this.#p.search = m[7] && m[7] !== "?" ? m[7] : "";
    }
    _setSearch(s) { this.#p.search = s ? "?" + s : ""; }
    static canParse(u, b) { try { new URL(u, b); return true; } catch { return false; } }
    get protocol() { return this.#p.protocol; }
    get username() { return this.#p.username; }
    get password() { return this.#p.password; }
    get hostname() { return this.#p.hostname; }
    set hostname(v) { this.#p.hostname = String(v).toLowerCase(); }
    get port() { return this.#p.port; }
    set port(v) { this.#p.port = String(v); }
    get host() { return this.#p.hostname + (this.#p.port ? ":" + this.#p.port : ""); }
    get origin() { return `${this.#p.protocol}//${this.host}`; }
    get pathname() { return this.#p.pathname; }
    set pathname(v) { this.#p.pathname = normalizePath(String(v).startsWith("/") ? String(v) : "/" + v); }
    get search() { return this.#p.search; }
    set search(v) { const s = String(v).replace(/^\?/, ""); this.#p.search = s ? "?" + s : ""; this.#search._reset(s); }
    get searchParams() { return this.#search; }
    get hash() { return this.#p.hash; }
    set hash(v) { const s = String(v).replace(/^#/, ""); this.#p.hash = s ? "#" + s : ""; }
    get href() {
      const p = this.#p;
      const auth = p.username || p.password ? `${p.username}${p.password ? ":" + p.password : ""}@` : "";
      return `${p.protocol}//${auth}${this.host}${p.pathname}${p.search}${p.hash}`;
    }
    toString() { return this.href; }
    toJSON() { return this.href; }
  }

  // ---- bytes ----
  const toBytes = (data) => {
    if (typeof data === "string") return new TextEncoder().encode(data);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (data instanceof Secret) throw new TypeError("a secret cannot be used as data; attach it instead");
    return new TextEncoder().encode(String(data));
  };
  const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  const base64 = (b) => {
    let s = "";
    for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode.apply(null, b.subarray(i, i + 8192));
    return btoa(s);
  };
  const encodeBytes = (b, encoding) => {
    switch (encoding ?? "hex") {
      case "hex": return hex(b);
      case "base64": return base64(b);
      case "base64url": return base64(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
      case "bytes": return b;
      default: throw new TypeError(`unknown encoding ${encoding}: use "hex", "base64", "base64url" or "bytes"`);
    }
  };

  // ---- secrets ----
  // A Secret is an opaque handle: its only state is an index into the runner's list of
  // host handles, kept here, out of reach of the object itself.
  const handles = new WeakMap();
  const prefixes = new WeakMap();
  const token = Symbol("hush");
  const indexOf = (s) => {
    const i = handles.get(s);
    if (i === undefined) throw new TypeError("not a secret");
    return i;
  };
  class Secret {
    constructor(t, index, binding) {
      if (t !== token) throw new TypeError("secrets come from ctx.secrets");
      handles.set(this, index);
      Object.defineProperty(this, "binding", { value: binding, enumerable: true });
      Object.freeze(this);
    }
    /** The value, only when the binding says "reveal": true and the code is approved. */
    reveal() { return native.reveal(indexOf(this)); }
    /** HMAC-SHA256 of `data` keyed with the value, computed by the host. */
    hmacSha256(data, encoding) { return encodeBytes(native.hmac(indexOf(this), false, toBytes(data)), encoding); }
    /** HMAC-SHA512 of `data` keyed with the value, computed by the host. */
    hmacSha512(data, encoding) { return encodeBytes(native.hmac(indexOf(this), true, toBytes(data)), encoding); }
    /** A header value `<prefix><value>` for `fetch`'s `headers`. */
    withPrefix(prefix) { return new SecretHeader(token, this, String(prefix)); }
    /** `Bearer <value>`, for an `Authorization` header. */
    bearer() { return this.withPrefix("Bearer "); }
    toString() { return `[secret ${this.binding}]`; }
    toJSON() { return `[secret ${this.binding}]`; }
    [Symbol.toPrimitive]() { return this.toString(); }
    get [Symbol.toStringTag]() { return "Secret"; }
  }
  class SecretHeader {
    constructor(t, secret, prefix) {
      if (t !== token) throw new TypeError("use secret.withPrefix(prefix)");
      prefixes.set(this, [secret, prefix]);
      Object.freeze(this);
    }
    toString() { return `[secret ${prefixes.get(this)[0].binding} with a prefix]`; }
    toJSON() { return this.toString(); }
    [Symbol.toPrimitive]() { return this.toString(); }
  }
  Object.freeze(Secret.prototype);
  Object.freeze(SecretHeader.prototype);
  const bindings = native.bindings();
  const secretCache = new Map();
  const secret = (name) => {
    name = String(name);
    if (!secretCache.has(name)) secretCache.set(name, new Secret(token, native.secret(name), name));
    return secretCache.get(name);
  };
  const secrets = Object.create({ get: secret, bindings: () => [...bindings] });
  for (const b of bindings) Object.defineProperty(secrets, b, { get: () => secret(b), enumerable: true });
  Object.freeze(secrets);

  // ---- console ----
  const format = (v) => {
    if (typeof v === "string") return v;
    if (v instanceof Secret || v instanceof SecretHeader) return v.toString();
    if (v instanceof Error) return `${v.name}: ${v.message}`;
    if (typeof v === "object" && v !== null) {
      try {
        const seen = new WeakSet();
        return JSON.stringify(v, (k, x) => {
          if (typeof x === "bigint") return `${x}n`;
          if (typeof x === "object" && x !== null) { if (seen.has(x)) return "[Circular]"; seen.add(x); }
          return x;
        });
      } catch { return String(v); }
    }
    return String(v);
  };
  const logger = (level) => (...args) => native.log(level, args.map(format).join(" "));
  const console = {
    log: logger("info"), info: logger("info"), warn: logger("warn"), error: logger("error"),
    debug: logger("debug"), trace: logger("trace"),
  };
  const log = { info: console.info, warn: console.warn, error: console.error, debug: console.debug };

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

  // ---- the driver ----
  const ctx = Object.freeze({ secrets, secret, log, console, fetch, bindings: () => [...bindings] });
  const location = (e) => {
    const m = /action\.js:(\d+):(\d+)/.exec(String(e && e.stack));
    return m ? ` (at line ${m[1]}, column ${m[2]})` : "";
  };
  const describe = (e) => {
    if (e instanceof Error) return [String(e.name || "Error"), String(e.message) + location(e)];
    if (e instanceof Secret || e instanceof SecretHeader) return ["thrown", e.toString()];
    let text;
    try { text = typeof e === "object" && e !== null ? JSON.stringify(e) : String(e); } catch { text = "a value that cannot be printed"; }
    return ["thrown", String(text)];
  };
  const main = (ns, inputText) => {
    (async () => {
      const run = ns.default;
      if (typeof run !== "function") {
        throw new TypeError("the code must `export default async function run(input, ctx)`");
      }
      const out = await run(JSON.parse(inputText), ctx);
      const text = JSON.stringify(out === undefined ? null : out);
      native.done(true, text === undefined ? "null" : text, "");
    })().catch((e) => {
      const [code, message] = describe(e);
      native.done(false, message, code);
    });
  };
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  define("TextEncoder", TextEncoder);
  define("TextDecoder", TextDecoder);
  define("URL", URL);
  define("URLSearchParams", URLSearchParams);
  define("Headers", Headers);
  define("fetch", fetch);
  define("console", console);
  define("__hush_main", main);
  define("__hush_describe", describe);
})();
