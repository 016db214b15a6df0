//! Sending a Send API Request: rendering the spec into a request, the allowed-hosts
//! check, the guarded shared client, the manual redirect loop and the capped response
//! read. It never logs a request or a response, and it builds every error message
//! itself (reqwest's own embed the URL, which may hold a secret), redacted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, LOCATION};
use serde::Serialize;
use serde_json::Value;
use url::Url;

use super::spec::{Auth, Body, HttpAction};
use super::template::{Escape, Renderer, Templates};
use crate::error::{Error, ErrorKind, Result};
use crate::model::SecretId;
use crate::net::{self as guard, GuardedResolver, NetworkPolicy, Refused, Unresolved};
use crate::redact::Redactor;
use crate::secrets::ResolvedSecret;

/// The most redirects followed for one action.
pub const MAX_REDIRECTS: usize = 10;

/// What the target answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpResult {
    /// The final response's status code.
    pub status: u16,
    /// Response headers, names lower-cased, repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// JSON when the content type says JSON (and it parses), else text; a binary body
    /// is a base64 string and `note` says so.
    pub body: Value,
    /// Whether the body was cut at `max_response_bytes`.
    pub truncated: bool,
    /// How the body was kept, when not as JSON or text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl HttpResult {
    /// The result as JSON, the same as serializing it, but moving the body instead of
    /// copying it.
    pub fn into_json(self) -> Value {
        let mut map = serde_json::Map::new();
        map.insert("status".to_owned(), Value::from(self.status));
        let headers = self
            .headers
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        map.insert("headers".to_owned(), Value::Object(headers));
        map.insert("body".to_owned(), self.body);
        map.insert("truncated".to_owned(), Value::Bool(self.truncated));
        if let Some(note) = self.note {
            map.insert("note".to_owned(), Value::String(note));
        }
        Value::Object(map)
    }
}

/// The HTTP side of hush: one pooled rustls client whose resolver enforces the
/// [`NetworkPolicy`]. Shared by every run; cheap to clone.
#[derive(Clone, Debug)]
pub struct HttpSender {
    pub(super) client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    templates: Arc<Templates>,
}

/// A header about to be sent and the secrets it carries.
struct OutHeader {
    name: HeaderName,
    value: HeaderValue,
    secrets: Vec<SecretId>,
}

/// A rendered request, before it is sent.
struct Prepared {
    method: reqwest::Method,
    url: Url,
    headers: Vec<OutHeader>,
    body: Option<(Vec<u8>, Vec<SecretId>)>,
    url_secrets: Vec<SecretId>,
}

impl HttpSender {
    /// The shared client, enforcing `policy` on every connection.
    ///
    /// # Errors
    /// [`Internal`](ErrorKind::Internal) when the TLS stack cannot be set up.
    pub fn new(policy: NetworkPolicy) -> Result<Self> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            .dns_resolver(Arc::new(GuardedResolver::new(Arc::clone(&policy))))
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_secs(10))
            .pool_idle_timeout(Duration::from_secs(60))
            .user_agent(concat!("hush/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|_| Error::internal("the HTTP client could not be built"))?;
        Ok(HttpSender {
            client,
            policy,
            templates: Arc::new(Templates::new()),
        })
    }

    /// The templates this sender parsed and echoed, kept for the next run.
    pub fn templates(&self) -> &Templates {
        &self.templates
    }

    /// The policy connections are checked against.
    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }

    /// Renders `spec` over `inputs` and the resolved `secrets`, checks allowed hosts and
    /// the network policy, sends it (following redirects if asked) and reads the
    /// response up to the spec's cap. Error messages pass through `redactor`.
    ///
    /// # Errors
    /// [`Invalid`](ErrorKind::Invalid) for a template or URL that does not render;
    /// [`Denied`](ErrorKind::Denied) when a secret would reach a host it is not allowed
    /// on, or the address is forbidden; [`Unavailable`](ErrorKind::Unavailable) for
    /// timeouts, refused connections, DNS and TLS failures and broken bodies.
    pub async fn execute(
        &self,
        spec: &HttpAction,
        inputs: &Value,
        secrets: &[ResolvedSecret],
        redactor: &Redactor,
    ) -> Result<HttpResult> {
        self.execute_inner(spec, inputs, secrets, redactor)
            .await
            .map_err(|e| redact_error(redactor, e))
    }

    async fn execute_inner(
        &self,
        spec: &HttpAction,
        inputs: &Value,
        secrets: &[ResolvedSecret],
        redactor: &Redactor,
    ) -> Result<HttpResult> {
        // The executor listed the spec's references (which parses every template) before
        // resolving; rendering below parses each template again (from the cache) and refuses
        // what `references` refuses, so only the shape is checked here, for direct callers.
        spec.validate_shape()?;
        let pairs: Vec<(SecretId, &str)> = secrets
            .iter()
            .map(|s| (s.meta.id.clone(), s.value.expose()))
            .collect();
        let mut req = prepare(spec, &Renderer::new(&self.templates, inputs, &pairs))?;
        if host_holds_secret(&req.url, secrets, redactor) {
            return Err(Error::invalid(
                "url",
                "the rendered URL's host holds a secret's value; a secret can go in the \
                 path, the query, a header or the body, never in the scheme, host or port",
            ));
        }
        check_allowed_hosts(secrets, &req.carried(), &req.url)?;

        let deadline = Instant::now() + Duration::from_millis(spec.timeout_ms);
        let mut hops = 0;
        loop {
            guard::check_url(&self.policy, &req.url)?;
            let host = host_of(&req.url);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(timed_out(&host, spec.timeout_ms));
            }
            let mut headers = HeaderMap::new();
            for h in &req.headers {
                headers.append(h.name.clone(), h.value.clone());
            }
            let mut builder = self
                .client
                .request(req.method.clone(), req.url.clone())
                .headers(headers)
                .timeout(remaining);
            if let Some((bytes, _)) = &req.body {
                builder = builder.body(bytes.clone());
            }
            let mut response = builder
                .send()
                .await
                .map_err(|e| describe(&e, &host, spec.timeout_ms))?;
            let status = response.status();
            if spec.follow_redirects
                && matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308)
                && let Some(location) = response.headers().get(LOCATION)
            {
                hops += 1;
                if hops > MAX_REDIRECTS {
                    return Err(Error::unavailable(format!(
                        "{host} redirected more than {MAX_REDIRECTS} times"
                    )));
                }
                let next = location
                    .to_str()
                    .ok()
                    .and_then(|l| req.url.join(l).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
                    .ok_or_else(|| {
                        Error::unavailable(format!(
                            "{host} redirected to a location that is not an http(s) URL"
                        ))
                    })?;
                if host_holds_secret(&next, secrets, redactor) {
                    return Err(Error::denied(format!(
                        "refused to follow the redirect from {host}: the new URL's host holds \
                         a secret's value"
                    )));
                }
                req.redirect(status.as_u16(), next, secrets)?;
                check_allowed_hosts(secrets, &req.carried(), &req.url)?;
                continue;
            }
            let is_head = req.method == reqwest::Method::HEAD;
            return read_response(&mut response, spec, &host, is_head, redactor).await;
        }
    }
}

fn prepare(spec: &HttpAction, r: &Renderer<'_>) -> Result<Prepared> {
    let url = r.render("url", &spec.url, Escape::UrlComponent)?;
    let mut parsed = Url::parse(&url.value)
        .map_err(|e| Error::invalid("url", format!("the rendered URL is not valid: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(Error::invalid(
            "url",
            "it must be an http(s) URL with a host",
        ));
    }
    let mut url_secrets = url.secrets;
    for (i, q) in spec.query.iter().enumerate() {
        let v = r.render(&format!("query[{i}].value"), &q.value, Escape::None)?;
        parsed.query_pairs_mut().append_pair(&q.name, &v.value);
        merge(&mut url_secrets, v.secrets);
    }
    let mut headers = Vec::new();
    let header = |field: &str, name: HeaderName, value: String, secrets| -> Result<OutHeader> {
        let mut value = HeaderValue::from_str(&value)
            .map_err(|_| Error::invalid(field, "the rendered value is not a valid header value"))?;
        value.set_sensitive(true);
        Ok(OutHeader {
            name,
            value,
            secrets,
        })
    };
    for (i, h) in spec.headers.iter().enumerate() {
        let field = format!("headers[{i}].value");
        let v = r.render_header(&field, &h.value)?;
        let name = HeaderName::from_bytes(h.name.as_bytes())
            .map_err(|_| Error::invalid(&format!("headers[{i}].name"), "not a header name"))?;
        headers.push(header(&field, name, v.value, v.secrets)?);
    }
    match &spec.auth {
        Some(Auth::Basic { username, password }) => {
            let u = r.render_header("auth.username", username)?;
            let p = r.render_header("auth.password", password)?;
            if u.value.contains(':') {
                return Err(Error::invalid(
                    "auth.username",
                    "a Basic username cannot hold ':'",
                ));
            }
            let mut s = u.secrets;
            merge(&mut s, p.secrets);
            let token = STANDARD.encode(format!("{}:{}", u.value, p.value));
            headers.push(header("auth", AUTHORIZATION, format!("Basic {token}"), s)?);
        }
        Some(Auth::Bearer { token }) => {
            let t = r.render_header("auth.token", token)?;
            headers.push(header(
                "auth",
                AUTHORIZATION,
                format!("Bearer {}", t.value),
                t.secrets,
            )?);
        }
        None => {}
    }
    let body = match &spec.body {
        None => None,
        Some(Body::Json { value }) => {
            let out = r.render_json("body.value", value)?;
            let bytes = serde_json::to_vec(&out.value)
                .map_err(|_| Error::internal("a JSON value did not serialize"))?;
            set_content_type(&mut headers, "application/json");
            Some((bytes, out.secrets))
        }
        Some(Body::Form { fields }) => {
            let mut form = url::form_urlencoded::Serializer::new(String::new());
            let mut secrets = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                let v = r.render(&format!("body.fields[{i}].value"), &f.value, Escape::None)?;
                form.append_pair(&f.name, &v.value);
                merge(&mut secrets, v.secrets);
            }
            set_content_type(&mut headers, "application/x-www-form-urlencoded");
            Some((form.finish().into_bytes(), secrets))
        }
        Some(Body::Raw {
            content_type,
            value,
        }) => {
            let v = r.render("body.value", value, Escape::None)?;
            set_content_type(&mut headers, content_type);
            Some((v.value.into_bytes(), v.secrets))
        }
    };
    Ok(Prepared {
        method: spec.method.as_reqwest(),
        url: parsed,
        headers,
        body,
        url_secrets,
    })
}

/// Sets the body's content type unless the spec gave one.
fn set_content_type(headers: &mut Vec<OutHeader>, value: &str) {
    if headers.iter().any(|h| h.name == CONTENT_TYPE) {
        return;
    }
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.push(OutHeader {
            name: CONTENT_TYPE,
            value,
            secrets: Vec::new(),
        });
    }
}

fn merge(into: &mut Vec<SecretId>, from: Vec<SecretId>) {
    for id in from {
        if !into.contains(&id) {
            into.push(id);
        }
    }
}

impl Prepared {
    /// Every secret the request as it stands would carry.
    fn carried(&self) -> Vec<SecretId> {
        let mut all = self.url_secrets.clone();
        for h in &self.headers {
            merge(&mut all, h.secrets.clone());
        }
        if let Some((_, s)) = &self.body {
            merge(&mut all, s.clone());
        }
        all
    }

    /// Turns this request into the one a redirect asks for.
    fn redirect(&mut self, status: u16, next: Url, secrets: &[ResolvedSecret]) -> Result<()> {
        let same_origin = next.origin() == self.url.origin();
        // 301, 302 and 303 turn a request with a body into a GET without one.
        let keeps_body = matches!(status, 307 | 308);
        if !keeps_body {
            if self.body.take().is_some() || self.method == reqwest::Method::POST {
                self.method = reqwest::Method::GET;
            }
            if status == 303 && self.method != reqwest::Method::HEAD {
                self.method = reqwest::Method::GET;
            }
            self.headers.retain(|h| h.name != CONTENT_TYPE);
        }
        if !same_origin {
            // Nothing that carries a secret follows a redirect to another origin.
            self.headers.retain(|h| h.secrets.is_empty());
            if let Some((_, carried)) = &self.body
                && let Some(id) = carried.first()
            {
                return Err(Error::denied(format!(
                    "refused to follow the redirect to {}: the request body carries secret {}",
                    host_of(&next),
                    secret_label(secrets, id)
                )));
            }
        }
        // The Location the target chose may itself hold a secret value.
        self.url_secrets = secrets
            .iter()
            .filter(|s| contains_value(&next, s.value.expose()))
            .map(|s| s.meta.id.clone())
            .collect();
        self.url = next;
        Ok(())
    }
}

/// Whether the host of `url` holds a secret's value in any spelling a URL parser or a
/// resolver may give it (lower-cased, IDNA, percent-decoded) or any the redactor knows.
/// A URL parser rewrites a host, and resolvers and libraries print it, in forms that
/// redaction of the value as written may miss, so no value may ever be part of one.
fn host_holds_secret(url: &Url, secrets: &[ResolvedSecret], redactor: &Redactor) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let decoded = percent_encoding::percent_decode_str(&host)
        .decode_utf8_lossy()
        .to_lowercase();
    redactor.is_match(host.as_bytes())
        || redactor.is_match(decoded.as_bytes())
        || secrets.iter().any(|s| {
            let value = s.value.expose().trim().to_lowercase();
            // A value this short is common text; the redactor's forms cover longer ones.
            value.len() >= 4 && (host.contains(&value) || decoded.contains(&value))
        })
}

/// Whether `url` holds `value` raw, percent-encoded or form-encoded (in any part).
fn contains_value(url: &Url, value: &str) -> bool {
    let text = url.as_str();
    let decoded = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    text.contains(value)
        || decoded.contains(value)
        || url
            .query_pairs()
            .any(|(k, v)| k.contains(value) || v.contains(value))
}

fn secret_label(secrets: &[ResolvedSecret], id: &SecretId) -> String {
    secrets
        .iter()
        .find(|s| &s.meta.id == id)
        .map_or_else(|| id.to_string(), |s| format!("{:?} ({id})", s.meta.name))
}

/// Refuses when a carried secret has allowed hosts and `url`'s host is not one of them.
fn check_allowed_hosts(secrets: &[ResolvedSecret], carried: &[SecretId], url: &Url) -> Result<()> {
    let host = url.host_str().unwrap_or("").trim_matches(['[', ']']);
    for s in secrets.iter().filter(|s| carried.contains(&s.meta.id)) {
        let allowed = &s.meta.allowed_hosts;
        if !allowed.is_empty() && !allowed.iter().any(|p| p.matches(host)) {
            let list: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
            return Err(Error::denied(format!(
                "secret {:?} ({}) may not be sent to {host}: it is allowed only on {}",
                s.meta.name,
                s.meta.id,
                list.join(", ")
            )));
        }
    }
    Ok(())
}

fn host_of(url: &Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_owned(),
        _ => "the target".to_owned(),
    }
}

fn timed_out(host: &str, ms: u64) -> Error {
    Error::unavailable(format!("the request to {host} timed out after {ms} ms"))
}

/// A message built from the error's kind, never from its text (which holds the URL).
pub(super) fn describe(e: &reqwest::Error, host: &str, timeout_ms: u64) -> Error {
    let mut source = std::error::Error::source(e);
    let mut tls = false;
    let mut refused = false;
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return r.0.clone();
        }
        if s.downcast_ref::<Unresolved>().is_some() {
            return Error::unavailable(format!("could not resolve host {host}"));
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        let text = s.to_string().to_ascii_lowercase();
        tls |= text.contains("certificate") || text.contains("tls") || text.contains("handshake");
        source = s.source();
    }
    if e.is_timeout() {
        timed_out(host, timeout_ms)
    } else if refused {
        Error::unavailable(format!("{host} refused the connection"))
    } else if tls {
        Error::unavailable(format!("the TLS handshake with {host} failed"))
    } else if e.is_connect() {
        Error::unavailable(format!("could not connect to {host}"))
    } else if e.is_body() || e.is_decode() {
        Error::unavailable(format!(
            "the response body from {host} could not be read (the connection closed early)"
        ))
    } else {
        Error::unavailable(format!("the request to {host} failed"))
    }
}

fn redact_error(redactor: &Redactor, e: Error) -> Error {
    let text = redactor.redact_str(e.message());
    if text == e.message() {
        return e;
    }
    let text = text.into_owned();
    match e.kind() {
        ErrorKind::Invalid | ErrorKind::Denied => Error::denied(text),
        _ => Error::unavailable(text),
    }
}

/// Reads the response: headers as text, and the body (decoded from its
/// `Content-Encoding`) cut at the spec's cap by [`Redactor::redact_cut`], which reads a
/// little past the cap so that a secret running across the cut is redacted whole. The
/// body is redacted here, before it is parsed as JSON (a number parsed to `f64` would
/// keep a long all-digit value's leading digits where no redaction can find them).
async fn read_response(
    response: &mut reqwest::Response,
    spec: &HttpAction,
    host: &str,
    is_head: bool,
    redactor: &Redactor,
) -> Result<HttpResult> {
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        headers
            .entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let cap = usize::try_from(spec.max_response_bytes).unwrap_or(usize::MAX);
    let (bytes, truncated) = if is_head {
        (Vec::new(), false)
    } else {
        let window = read_capped(response, redactor.cut_window(cap), |e| {
            describe(e, host, spec.timeout_ms)
        })
        .await?;
        redactor.redact_cut(&window, cap)
    };
    let content_type = headers.get("content-type").cloned().unwrap_or_default();
    let (body, note) = decode_body(bytes, &content_type, truncated);
    Ok(HttpResult {
        status: response.status().as_u16(),
        headers,
        body,
        truncated,
        note,
    })
}

/// The body's first `limit` bytes (all of it when shorter), decoded from its
/// `Content-Encoding` by reqwest as it streams in: the limit counts decoded bytes, and a
/// body that decompresses without end is read no further.
pub(super) async fn read_capped(
    response: &mut reqwest::Response,
    limit: usize,
    describe: impl Fn(&reqwest::Error) -> Error,
) -> Result<Vec<u8>> {
    let mut bytes: Vec<u8> = Vec::new();
    while bytes.len() < limit {
        let Some(chunk) = response.chunk().await.map_err(|e| describe(&e))? else {
            break;
        };
        let room = limit - bytes.len();
        bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    Ok(bytes)
}

fn decode_body(bytes: Vec<u8>, content_type: &str, truncated: bool) -> (Value, Option<String>) {
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = mime == "application/json" || mime.ends_with("+json");
    if is_json
        && !truncated
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
    {
        return (v, None);
    }
    match String::from_utf8(bytes) {
        Ok(text) => (Value::String(text), None),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            // A cut can end mid-character; the text before it still counts as text.
            if truncated
                && bytes.len() - valid < 4
                && std::str::from_utf8(&bytes[valid..]).is_err()
                && bytes[valid..].iter().all(|b| *b >= 0x80)
                && valid > 0
            {
                let text = String::from_utf8_lossy(&bytes[..valid]).into_owned();
                return (Value::String(text), None);
            }
            let shown = if mime.is_empty() {
                "none"
            } else {
                mime.as_str()
            };
            (
                Value::String(STANDARD.encode(&bytes)),
                Some(format!(
                    "binary body (content type {shown}), {} bytes, base64-encoded",
                    bytes.len()
                )),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_kept_as_json_text_or_base64() {
        let (v, note) = decode_body(
            br#"{"a":1}"#.to_vec(),
            "application/json; charset=utf-8",
            false,
        );
        assert_eq!(v, serde_json::json!({"a": 1}));
        assert!(note.is_none());
        let (v, _) = decode_body(br#"{"a":1}"#.to_vec(), "application/problem+json", false);
        assert_eq!(v["a"], 1);
        let (v, _) = decode_body(br#"{"a":"#.to_vec(), "application/json", true);
        assert_eq!(v, Value::String(r#"{"a":"#.into()));
        let (v, _) = decode_body(b"hello".to_vec(), "text/plain", false);
        assert_eq!(v, "hello");
        let (v, note) = decode_body(vec![0xff, 0x00, 0xfe], "application/octet-stream", false);
        assert_eq!(v, "/wD+");
        assert!(note.unwrap().contains("base64"));
        let mut cut = "héllo".as_bytes().to_vec();
        cut.truncate(2);
        let (v, note) = decode_body(cut, "text/plain", true);
        assert_eq!(v, "h");
        assert!(note.is_none());
    }

    #[test]
    fn a_result_as_json_is_its_serialization() {
        for note in [None, Some("binary body".to_owned())] {
            let result = HttpResult {
                status: 201,
                headers: BTreeMap::from([
                    ("content-type".to_owned(), "application/json".to_owned()),
                    ("x-a".to_owned(), "1, 2".to_owned()),
                ]),
                body: serde_json::json!({"id": "ch_1", "n": [1, 2.5, null]}),
                truncated: true,
                note,
            };
            let serialized = serde_json::to_value(&result).unwrap();
            assert_eq!(result.into_json(), serialized);
        }
    }

    #[test]
    fn a_secret_is_found_in_a_url_in_any_encoding() {
        let value = "sk_live_Zq8\"pR/+=&x";
        for text in [
            "http://h/p?leak=sk_live_Zq8%22pR/+=&x",
            "http://h/p?leak=sk_live_Zq8%22pR%2F%2B%3D%26x",
            "http://h/sk_live_Zq8%22pR%2F+%3D%26x/",
            "http://h/p?a=sk_live_Zq8%22pR%2F%2B%3D%26x&b=1",
        ] {
            assert!(contains_value(&Url::parse(text).unwrap(), value), "{text}");
        }
        assert!(!contains_value(
            &Url::parse("http://h/p?a=sk_live").unwrap(),
            value
        ));
    }
}
