//! Example action `call-api` in JavaScript: calls an HTTP API authenticated with the
// secret bound as `api`, attached as a bearer token by the host; the code never holds it.
// Input: `url`, or `base_url` + `path`; an optional `method` (default GET) and JSON `body`.
export default async function run(input, { secrets, log }) {
  let url = input.url;
  if (!url) {
    if (!input.base_url || !input.path) throw new Error("give `url`, or `base_url` and `path`");
    url = `${input.base_url.replace(/\/+$/, "")}/${input.path.replace(/^\/+/, "")}`;
  }
  const method = (input.method ?? "GET").toUpperCase();
  if (!["GET", "POST", "PUT", "PATCH", "DELETE"].includes(method)) {
    throw new Error(`unsupported method \`${method}\``);
  }
  const resp = await fetch(url, {
    method,
    headers: { Authorization: secrets.api.bearer(), Accept: "application/json" },
    body: input.body,
  });
  log.info(`${method} ${url} -> ${resp.status}`);
  const text = await resp.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: resp.status, ok: resp.ok, body, truncated: resp.truncated };
}
