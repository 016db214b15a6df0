//! One plain HTTP call through the shared guarded client, for callers that build their
//! own request (Run Code guests, through the host). No templates and no redirects: the
//! caller checks allowed hosts before it calls, the resolver checks every address
//! connected to, and the body is decoded, read up to a cap and redacted with the caller's
//! redactor (reading past the cap, so a cut never leaves part of a secret). Errors are
//! built by hush, never copied from reqwest (whose text embeds the URL).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::send::{HttpSender, describe, read_capped};
use crate::error::Result;
use crate::net as guard;
use crate::redact::Redactor;

/// A request ready to send.
pub struct Outgoing {
    /// The method.
    pub method: reqwest::Method,
    /// The URL (already checked against allowed hosts by the caller).
    pub url: Url,
    /// Headers, in order.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The body.
    pub body: Option<Vec<u8>>,
    /// Connect to last body byte.
    pub timeout: Duration,
    /// The body is read up to this many bytes.
    pub max_response_bytes: usize,
}

impl Outgoing {
    /// `host[:port]`, for messages.
    pub fn host_label(&self) -> String {
        match (self.url.host_str(), self.url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_owned(),
            _ => "the target".to_owned(),
        }
    }
}

/// What came back: the body cut and redacted; the headers unredacted (the caller redacts
/// them before anything leaves).
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Headers in order, names lower-cased, values as (lossy) text.
    pub headers: Vec<(String, String)>,
    /// The body, up to the cap, redacted.
    pub body: Vec<u8>,
    /// Whether the body was cut at the cap.
    pub truncated: bool,
}

impl HttpSender {
    /// Sends `request` once (no redirects) and reads the body (decoded from its
    /// `Content-Encoding`) up to its cap, redacted with `redactor` as
    /// [`Redactor::redact_cut`] does: it reads past the cap, so that a secret running
    /// across the cut is redacted whole, never returned as a prefix.
    ///
    /// # Errors
    /// [`Denied`](crate::error::ErrorKind::Denied) for a forbidden address;
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) for timeouts, refused
    /// connections, DNS and TLS failures and broken bodies.
    pub async fn send_one(&self, request: Outgoing, redactor: &Redactor) -> Result<RawResponse> {
        guard::check_url(self.policy(), &request.url)?;
        let host = request.host_label();
        let timeout_ms = u64::try_from(request.timeout.as_millis()).unwrap_or(u64::MAX);
        if request.timeout.is_zero() {
            return Err(crate::Error::unavailable(format!(
                "the request to {host} was not sent: the run's time is up"
            )));
        }
        let mut headers = HeaderMap::new();
        for (name, value) in request.headers {
            headers.append(name, value);
        }
        let is_head = request.method == reqwest::Method::HEAD;
        let mut builder = self
            .client
            .request(request.method, request.url)
            .headers(headers)
            .timeout(request.timeout);
        if let Some(body) = request.body {
            builder = builder.body(body);
        }
        let mut response = builder
            .send()
            .await
            .map_err(|e| describe(&e, &host, timeout_ms))?;
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let cap = request.max_response_bytes;
        let (body, truncated) = if is_head {
            (Vec::new(), false)
        } else {
            let window = read_capped(&mut response, redactor.cut_window(cap), |e| {
                describe(e, &host, timeout_ms)
            })
            .await?;
            redactor.redact_cut(&window, cap)
        };
        Ok(RawResponse {
            status: response.status().as_u16(),
            headers,
            body,
            truncated,
        })
    }
}
