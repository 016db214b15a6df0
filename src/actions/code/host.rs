//! The host side of the `hush:action` WIT world: the bindgen `Host` impls for `secrets`,
//! `http` and `log` (and `script`, which only hush's own runner components import: it
//! hands them the inline code to run), and the capture of stdout and stderr. Each call sorts its failures
//! into guest-caused (an error value the guest sees) and limit breaches (a trap that ends
//! the run). A plaintext leaves this file only inside a request sent to an allowed host,
//! or through `reveal` for a binding of an approved component; never in an error or a
//! log. The HMAC operations key with a value without handing it over.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use reqwest::header::{HeaderName, HeaderValue};
use sha2::{Sha256, Sha512};
use url::Url;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use zeroize::Zeroizing;

use super::limits::{Breach, Shared};
use crate::actions::http::spec::FORBIDDEN_HEADERS;
use crate::actions::http::{HttpSender, Outgoing};
use crate::error::ErrorKind;
use crate::model::LiveLog;
use crate::model::SecretId;
use crate::net as guard;
use crate::redact::Redactor;
use crate::secrets::HostPattern;

wasmtime::component::bindgen!({
    path: "wit",
    // `javascript-runner` is `action` plus `script`: one set of bindings serves both (the
    // export, `run`, is the same), and user components importing `script` are refused
    // when they are added (`components.rs`).
    world: "javascript-runner",
    imports: {
        "hush:action/http.send": async | trappable,
        default: trappable,
    },
    exports: { default: async },
    with: {
        "hush:action/secrets.secret": BoundRef,
        "hush:action/http.outgoing-request": PendingRequest,
    },
});

use self::hush::action::http::{self as wit_http, ErrorKind as HttpErrorKind};
use self::hush::action::{log as wit_log, script as wit_script, secrets as wit_secrets};

/// The bindings' pre-instantiated component, by the name the rest of the module uses.
pub(super) type ActionPre<T> = JavascriptRunnerPre<T>;
/// The bindings' world, by the name the rest of the module uses.
pub(super) type Action = JavascriptRunner;

/// The most bytes of unsent requests (URLs, headers, bodies) a guest may have the host
/// hold at once.
pub(super) const MAX_REQUEST_BYTES: usize = 32 << 20;

/// A secret bound to the run: its plaintext lives here until the run's store is dropped.
pub(super) struct BoundSecret {
    pub id: SecretId,
    pub name: String,
    pub value: Zeroizing<String>,
    /// The binding says `"reveal": true` and the component is one the secret's managers
    /// approved (checked before the run starts).
    pub reveal: bool,
    /// The guest has called `reveal`: from then on every call it makes is held to this
    /// secret's allowed hosts, whatever it carries.
    pub revealed: bool,
    pub allowed_hosts: Vec<HostPattern>,
}

/// The guest's handle to a bound secret: the binding name only.
pub struct BoundRef {
    binding: String,
}

/// Something a request will carry in place of a secret's value.
enum Attachment {
    Header { name: String, prefix: String },
    Query { name: String },
    BasicAuth { username: String },
}

/// A request the guest is building.
pub struct PendingRequest {
    method: wit_http::Method,
    url: String,
    headers: Vec<(String, String)>,
    attached: Vec<(String, Attachment)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
    /// Bytes this request holds, counted in [`RunState::request_bytes`].
    held: usize,
}

/// Everything one run's store holds. Dropped (and every plaintext with it) when the run
/// ends.
pub(super) struct RunState {
    pub wasi: WasiCtx,
    pub table: ResourceTable,
    pub limiter: super::limits::MemoryLimiter,
    pub shared: Arc<Mutex<Shared>>,
    pub deadline: Instant,
    pub bindings: BTreeMap<String, BoundSecret>,
    pub allowed_hosts: Vec<HostPattern>,
    pub http: HttpSender,
    pub redactor: Arc<Redactor>,
    /// Where each log line goes, redacted, as the guest writes it.
    pub live: Option<LiveLog>,
    pub http_calls: u32,
    pub max_http_calls: u32,
    pub max_response_bytes: usize,
    /// Bytes held by every unsent request, capped at [`MAX_REQUEST_BYTES`].
    pub request_bytes: usize,
    /// The inline code a runner component runs (empty for a user's component, which
    /// cannot import `script`).
    pub script: Arc<str>,
    /// The host asks the runner only to compile `script`.
    pub check_only: bool,
}

impl WasiView for RunState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl RunState {
    /// Counts `n` more bytes held for `request`, ending the run past the cap.
    fn hold(&mut self, request: &Resource<PendingRequest>, n: usize) -> wasmtime::Result<()> {
        if self.request_bytes.saturating_add(n) > MAX_REQUEST_BYTES {
            return Err(self.breach(Breach::RequestBytes(MAX_REQUEST_BYTES)));
        }
        self.request_bytes += n;
        self.table.get_mut(request)?.held += n;
        Ok(())
    }

    /// Forgets the bytes a request held (it was sent or dropped).
    fn release(&mut self, request: &PendingRequest) {
        self.request_bytes = self.request_bytes.saturating_sub(request.held);
    }

    fn breach(&self, breach: Breach) -> wasmtime::Error {
        super::limits::record(&self.shared, breach)
    }
}

fn http_error(kind: HttpErrorKind, message: impl Into<String>) -> wit_http::Error {
    wit_http::Error {
        kind,
        message: message.into(),
    }
}

impl wit_secrets::Host for RunState {
    fn get(&mut self, binding: String) -> wasmtime::Result<Result<Resource<BoundRef>, String>> {
        if !self.bindings.contains_key(&binding) {
            let known: Vec<&str> = self.bindings.keys().map(String::as_str).collect();
            return Ok(Err(format!(
                "no secret is bound as {binding:?}; this action binds {}",
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )));
        }
        match self.table.push(BoundRef { binding }) {
            Ok(r) => Ok(Ok(r)),
            Err(_) => Err(self.breach(Breach::Resources)),
        }
    }

    fn bindings(&mut self) -> wasmtime::Result<Vec<String>> {
        Ok(self.bindings.keys().cloned().collect())
    }
}

impl RunState {
    /// The bound secret a guest handle names.
    fn bound(&self, handle: &Resource<BoundRef>) -> wasmtime::Result<&BoundSecret> {
        let binding = &self.table.get(handle)?.binding;
        Ok(&self.bindings[binding])
    }
}

/// The HMAC (`M`) of `data` keyed with `secret`'s value; only the MAC leaves.
fn hmac<M: Mac + KeyInit>(secret: &BoundSecret, data: &[u8]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(secret.value.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

impl wit_secrets::HostSecret for RunState {
    fn binding(&mut self, handle: Resource<BoundRef>) -> wasmtime::Result<String> {
        Ok(self.table.get(&handle)?.binding.clone())
    }

    fn reveal(&mut self, handle: Resource<BoundRef>) -> wasmtime::Result<Result<String, String>> {
        let binding = self.table.get(&handle)?.binding.clone();
        let secret = self
            .bindings
            .get_mut(&binding)
            .expect("a handle names a bound secret");
        if !secret.reveal {
            return Ok(Err(format!(
                "secret {binding:?} may not be revealed: its binding does not say \"reveal\": true \
                 (attach it to a request, or use its HMAC operations, instead)"
            )));
        }
        secret.revealed = true;
        Ok(Ok(secret.value.as_str().to_owned()))
    }

    fn hmac_sha256(
        &mut self,
        handle: Resource<BoundRef>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Vec<u8>> {
        Ok(hmac::<Hmac<Sha256>>(self.bound(&handle)?, &data))
    }

    fn hmac_sha512(
        &mut self,
        handle: Resource<BoundRef>,
        data: Vec<u8>,
    ) -> wasmtime::Result<Vec<u8>> {
        Ok(hmac::<Hmac<Sha512>>(self.bound(&handle)?, &data))
    }

    fn drop(&mut self, handle: Resource<BoundRef>) -> wasmtime::Result<()> {
        self.table.delete(handle)?;
        Ok(())
    }
}

impl wit_http::HostOutgoingRequest for RunState {
    fn new(
        &mut self,
        method: wit_http::Method,
        url: String,
    ) -> wasmtime::Result<Resource<PendingRequest>> {
        let len = url.len();
        let request = PendingRequest {
            method,
            url,
            headers: Vec::new(),
            attached: Vec::new(),
            body: None,
            timeout: None,
            held: 0,
        };
        let handle = self
            .table
            .push(request)
            .map_err(|_| self.breach(Breach::Resources))?;
        self.hold(&handle, len)?;
        Ok(handle)
    }

    fn add_header(
        &mut self,
        request: Resource<PendingRequest>,
        name: String,
        value: String,
    ) -> wasmtime::Result<()> {
        self.hold(&request, name.len() + value.len())?;
        self.table.get_mut(&request)?.headers.push((name, value));
        Ok(())
    }

    fn attach_header(
        &mut self,
        request: Resource<PendingRequest>,
        name: String,
        prefix: String,
        value: Resource<BoundRef>,
    ) -> wasmtime::Result<()> {
        let binding = self.table.get(&value)?.binding.clone();
        self.hold(&request, name.len() + prefix.len() + binding.len())?;
        self.table
            .get_mut(&request)?
            .attached
            .push((binding, Attachment::Header { name, prefix }));
        Ok(())
    }

    fn attach_query(
        &mut self,
        request: Resource<PendingRequest>,
        name: String,
        value: Resource<BoundRef>,
    ) -> wasmtime::Result<()> {
        let binding = self.table.get(&value)?.binding.clone();
        self.hold(&request, name.len() + binding.len())?;
        self.table
            .get_mut(&request)?
            .attached
            .push((binding, Attachment::Query { name }));
        Ok(())
    }

    fn attach_basic_auth(
        &mut self,
        request: Resource<PendingRequest>,
        username: String,
        password: Resource<BoundRef>,
    ) -> wasmtime::Result<()> {
        let binding = self.table.get(&password)?.binding.clone();
        self.hold(&request, username.len() + binding.len())?;
        self.table
            .get_mut(&request)?
            .attached
            .push((binding, Attachment::BasicAuth { username }));
        Ok(())
    }

    fn set_body(
        &mut self,
        request: Resource<PendingRequest>,
        body: Vec<u8>,
    ) -> wasmtime::Result<()> {
        self.hold(&request, body.len())?;
        self.table.get_mut(&request)?.body = Some(body);
        Ok(())
    }

    fn set_timeout_ms(
        &mut self,
        request: Resource<PendingRequest>,
        ms: u32,
    ) -> wasmtime::Result<()> {
        self.table.get_mut(&request)?.timeout = Some(Duration::from_millis(ms.into()));
        Ok(())
    }

    fn drop(&mut self, request: Resource<PendingRequest>) -> wasmtime::Result<()> {
        let request = self.table.delete(request)?;
        self.release(&request);
        Ok(())
    }
}

impl wit_http::Host for RunState {
    async fn send(
        &mut self,
        request: Resource<PendingRequest>,
    ) -> wasmtime::Result<Result<wit_http::Response, wit_http::Error>> {
        let request = self.table.delete(request)?;
        self.release(&request);
        if self.http_calls >= self.max_http_calls {
            return Err(self.breach(Breach::HttpCalls(self.max_http_calls)));
        }
        self.http_calls += 1;
        let outgoing = match self.build(request) {
            Ok(o) => o,
            Err(e) => return Ok(Err(e)),
        };
        let host = outgoing.host_label();
        match self.http.send_one(outgoing, &self.redactor).await {
            Ok(response) => {
                let redact = |s: &str| self.redactor.redact_str(s).into_owned();
                Ok(Ok(wit_http::Response {
                    status: response.status,
                    headers: response
                        .headers
                        .iter()
                        .map(|(n, v)| wit_http::Header {
                            name: n.clone(),
                            value: redact(v),
                        })
                        .collect(),
                    body: self.redactor.redact_bytes(&response.body).into_owned(),
                    truncated: response.truncated,
                }))
            }
            Err(e) => {
                let kind = match e.kind() {
                    ErrorKind::Denied => HttpErrorKind::NotAllowed,
                    ErrorKind::Invalid => HttpErrorKind::Invalid,
                    _ if e.message().contains("timed out") => HttpErrorKind::Timeout,
                    _ => HttpErrorKind::Failed,
                };
                let message = self.redactor.redact_str(e.message()).into_owned();
                tracing::debug!(host = %host, "a guest HTTP call failed");
                Ok(Err(http_error(kind, message)))
            }
        }
    }
}

impl RunState {
    /// Checks a guest's request against every rule and builds it with the attached
    /// secrets' values in place. Refusals name the host and the secret, never a value.
    fn build(&self, request: PendingRequest) -> Result<Outgoing, wit_http::Error> {
        let invalid = |m: String| http_error(HttpErrorKind::Invalid, m);
        let not_allowed = |m: String| http_error(HttpErrorKind::NotAllowed, m);
        let mut url = Url::parse(&request.url)
            .map_err(|e| invalid(format!("{:?} is not a valid URL: {e}", request.url)))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(invalid(
                "a URL must be http:// or https:// with a host".into(),
            ));
        }
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_owned();
        if !self.allowed_hosts.iter().any(|p| p.matches(&host)) {
            let list: Vec<&str> = self.allowed_hosts.iter().map(|p| p.as_str()).collect();
            return Err(not_allowed(format!(
                "this action may not call {host}: its allowed_hosts are {}",
                if list.is_empty() {
                    "empty (no host is allowed)".to_owned()
                } else {
                    list.join(", ")
                }
            )));
        }
        guard::check_url(self.http.policy(), &url).map_err(|e| not_allowed(e.message().into()))?;
        self.check_revealed_hosts(&host).map_err(not_allowed)?;
        for (binding, _) in &request.attached {
            let secret = &self.bindings[binding];
            let allowed = &secret.allowed_hosts;
            if !allowed.is_empty() && !allowed.iter().any(|p| p.matches(&host)) {
                let list: Vec<&str> = allowed.iter().map(|p| p.as_str()).collect();
                return Err(not_allowed(format!(
                    "secret {:?} ({}) may not be sent to {host}: it is allowed only on {}",
                    secret.name,
                    secret.id,
                    list.join(", ")
                )));
            }
        }
        let mut headers = Vec::new();
        let mut push_header = |name: &str, value: &str| -> Result<(), wit_http::Error> {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("{name:?} is not a valid header name")))?;
            if FORBIDDEN_HEADERS.contains(&n.as_str()) {
                return Err(invalid(format!("hush sets {name:?} itself")));
            }
            // The value may hold a secret: its error never quotes it.
            let mut v = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("the value of header {name:?} is not valid")))?;
            v.set_sensitive(true);
            headers.push((n, v));
            Ok(())
        };
        for (name, value) in &request.headers {
            push_header(name, value)?;
        }
        for (binding, attachment) in &request.attached {
            let value = self.bindings[binding].value.as_str();
            match attachment {
                Attachment::Header { name, prefix } => {
                    let full = Zeroizing::new(format!("{prefix}{value}"));
                    push_header(name, &full)?;
                }
                Attachment::Query { name } => {
                    url.query_pairs_mut().append_pair(name, value);
                }
                Attachment::BasicAuth { username } => {
                    let pair = Zeroizing::new(format!("{username}:{value}"));
                    let full =
                        Zeroizing::new(format!("Basic {}", STANDARD.encode(pair.as_bytes())));
                    push_header("authorization", &full)?;
                }
            }
        }
        let remaining = self.deadline.saturating_duration_since(Instant::now());
        let timeout = request.timeout.map_or(remaining, |t| t.min(remaining));
        Ok(Outgoing {
            method: method(request.method),
            url,
            headers,
            body: request.body,
            timeout,
            max_response_bytes: self.max_response_bytes,
        })
    }
}

impl RunState {
    /// Once a value is revealed, the guest may hold it in any form (reversed, encrypted,
    /// split), so no look at a request's bytes can find it: every call the guest makes
    /// from then on, whatever it carries, must go to a host that secret is allowed on.
    fn check_revealed_hosts(&self, host: &str) -> Result<(), String> {
        let barred = self.bindings.values().find(|s| {
            s.revealed
                && !s.allowed_hosts.is_empty()
                && !s.allowed_hosts.iter().any(|p| p.matches(host))
        });
        let Some(s) = barred else {
            return Ok(());
        };
        let list: Vec<&str> = s.allowed_hosts.iter().map(|p| p.as_str()).collect();
        Err(format!(
            "secret {:?} ({}) may not be sent to {host}: it is allowed only on {}, and this \
             run revealed it, so every call it makes is held to those hosts",
            s.name,
            s.id,
            list.join(", ")
        ))
    }
}

fn method(m: wit_http::Method) -> reqwest::Method {
    use wit_http::Method as M;
    match m {
        M::Get => reqwest::Method::GET,
        M::Post => reqwest::Method::POST,
        M::Put => reqwest::Method::PUT,
        M::Patch => reqwest::Method::PATCH,
        M::Delete => reqwest::Method::DELETE,
        M::Head => reqwest::Method::HEAD,
        M::Options => reqwest::Method::OPTIONS,
    }
}

impl wit_script::Host for RunState {
    fn source(&mut self) -> wasmtime::Result<String> {
        Ok(self.script.to_string())
    }

    fn check_only(&mut self) -> wasmtime::Result<bool> {
        Ok(self.check_only)
    }
}

impl wit_log::Host for RunState {
    fn log(&mut self, level: wit_log::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            wit_log::Level::Trace => "trace",
            wit_log::Level::Debug => "debug",
            wit_log::Level::Info => "info",
            wit_log::Level::Warn => "warn",
            wit_log::Level::Error => "error",
        };
        let mut shared = self.shared.lock().expect("run output lock");
        if let Err(breach) = shared.take(message.len()) {
            drop(shared);
            return Err(self.breach(breach));
        }
        let line = format!("{level}: {message}");
        if let Some(live) = &self.live {
            let _ = live.send(self.redactor.redact_str(&line).into_owned());
            shared.live_sent += 1;
        }
        shared.lines.push(line);
        Ok(())
    }
}

/// Which standard stream a [`Capture`] collects.
#[derive(Clone, Copy)]
pub(super) enum Stream {
    Stdout,
    Stderr,
}

/// Collects a guest's stdout or stderr into the run's shared output, under the run's log
/// cap; a write past the cap traps the guest.
#[derive(Clone)]
pub(super) struct Capture {
    pub shared: Arc<Mutex<Shared>>,
    pub stream: Stream,
}

impl IsTerminal for Capture {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for Capture {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only the WASIp2 stream below is used by a component.
        Box::new(tokio::io::sink())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl Pollable for Capture {
    async fn ready(&mut self) {}
}

#[async_trait::async_trait]
impl OutputStream for Capture {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        let mut shared = self.shared.lock().expect("run output lock");
        if let Err(breach) = shared.take(bytes.len()) {
            let message = breach.message();
            shared.breach.get_or_insert(breach);
            return Err(StreamError::Trap(wasmtime::format_err!("{message}")));
        }
        match self.stream {
            Stream::Stdout => shared.stdout.extend_from_slice(&bytes),
            Stream::Stderr => shared.stderr.extend_from_slice(&bytes),
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 * 1024)
    }
}
