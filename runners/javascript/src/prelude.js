//! The JavaScript half of hush's runner, evaluated before the action's module: the
//! `Secret` class, `console`, the driver that calls the action's default export, and lazy
//! globals for the parts loaded on first use (`text.js`: TextEncoder/TextDecoder, `url.js`:
//! URL/URLSearchParams, `fetch.js`: fetch/Headers/Response; a snapshotted runner loads them
//! before the snapshot). It runs before any run: what belongs to a run (its bindings and
//! secrets) is read only when the driver starts. It owns the shape of the JS surface; it
//! must never read a secret's value (it holds only indexes into the runner's list of host
//! handles) nor leave the native functions reachable by the code.
"use strict";
(() => {
  const native = globalThis.__hush_native;
  delete globalThis.__hush_native;
  // The driver's own JSON, out of reach of code that replaces the global's methods.
  const { parse, stringify } = JSON;

  // ---- lazy parts: each evaluated once, on first use ----
  const lazy = (name, deps) => {
    let loaded;
    return () => (loaded ??= native.load(name)(deps()));
  };
  const text = lazy("text", () => ({}));
  const url = lazy("url", () => ({}));
  const net = lazy("fetch", () => ({
    native, Secret, SecretHeader, indexOf, prefixes, toBytes,
    URL: url().URL, URLSearchParams: url().URLSearchParams,
    TextEncoder: text().TextEncoder, TextDecoder: text().TextDecoder,
  }));

  // ---- bytes ----
  const toBytes = (data) => {
    if (typeof data === "string") return new (text().TextEncoder)().encode(data);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (data instanceof Secret) throw new TypeError("a secret cannot be used as data; attach it instead");
    return new (text().TextEncoder)().encode(String(data));
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
  // The run's secrets: read from the host when the driver starts (never in the snapshot
  // the host takes after the prelude).
  const session = () => {
    const bindings = native.bindings();
    const cache = new Map();
    const secret = (name) => {
      name = String(name);
      if (!cache.has(name)) cache.set(name, new Secret(token, native.secret(name), name));
      return cache.get(name);
    };
    const secrets = Object.create({ get: secret, bindings: () => [...bindings] });
    for (const b of bindings) Object.defineProperty(secrets, b, { get: () => secret(b), enumerable: true });
    Object.freeze(secrets);
    return { bindings, secret, secrets };
  };

  // ---- console ----
  const format = (v) => {
    if (typeof v === "string") return v;
    if (v instanceof Secret || v instanceof SecretHeader) return v.toString();
    if (v instanceof Error) return `${v.name}: ${v.message}`;
    if (typeof v === "object" && v !== null) {
      try {
        const seen = new WeakSet();
        return stringify(v, (k, x) => {
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

  // ---- the driver ----
  const fetch = (...args) => net().fetch(...args);
  const context = () => {
    const { bindings, secret, secrets } = session();
    return Object.freeze({ secrets, secret, log, console, fetch, bindings: () => [...bindings] });
  };
  const location = (e) => {
    const m = /action\.js:(\d+):(\d+)/.exec(String(e && e.stack));
    return m ? ` (at line ${m[1]}, column ${m[2]})` : "";
  };
  const describe = (e) => {
    if (e instanceof Error) return [String(e.name || "Error"), String(e.message) + location(e)];
    if (e instanceof Secret || e instanceof SecretHeader) return ["thrown", e.toString()];
    let text;
    try { text = typeof e === "object" && e !== null ? stringify(e) : String(e); } catch { text = "a value that cannot be printed"; }
    return ["thrown", String(text)];
  };
  const main = (ns, inputText) => {
    const ctx = context();
    (async () => {
      const run = ns.default;
      if (typeof run !== "function") {
        throw new TypeError("the code must `export default async function run(input, ctx)`");
      }
      const out = await run(parse(inputText), ctx);
      const text = stringify(out === undefined ? null : out);
      native.done(true, text === undefined ? "null" : text, "");
    })().catch((e) => {
      const [code, message] = describe(e);
      native.done(false, message, code);
    });
  };
  const define = (name, value) => Object.defineProperty(globalThis, name, { value, writable: true, configurable: true });
  // A lazy global becomes a plain one on first read (or when the code assigns it).
  const defineLazy = (name, load) => Object.defineProperty(globalThis, name, {
    get() { const value = load()[name]; define(name, value); return value; },
    set(value) { define(name, value); },
    configurable: true,
  });
  defineLazy("TextEncoder", text);
  defineLazy("TextDecoder", text);
  defineLazy("URL", url);
  defineLazy("URLSearchParams", url);
  defineLazy("Headers", net);
  defineLazy("Response", net);
  define("fetch", fetch);
  // The engine's own generator is seeded once, when the engine starts: in a snapshot that
  // would be one sequence for every run. This one is seeded by the host at each run.
  const next = native.random;
  Object.defineProperty(Math, "random", { value: { random() { return next(); } }.random, writable: true, configurable: true });
  define("console", console);
  define("__hush_main", main);
  define("__hush_describe", describe);
})();
