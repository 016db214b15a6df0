//! Lazily loaded part of hush's JavaScript runner: URL and URLSearchParams (absolute
//! http(s)-style URLs and simple relative ones), which QuickJS lacks. Evaluated on first
//! use only; it owns no secret and must never reach the runner's native functions.
(function (deps) {
  "use strict";
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

  return { URL, URLSearchParams };
})
