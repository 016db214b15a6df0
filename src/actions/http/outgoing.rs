//! One plain HTTP call through the shared guarded client, for callers that build their
//! own request (Run Code guests, through the host). No templates and no redirects: the
//! caller checks allowed hosts before it calls, the resolver checks every address
//! connected to, and the body is read up to a cap. Errors are built by hush, never
//! copied from reqwest (whose text embeds the URL).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::Url;

use super::guard;
use super::send::{HttpSender, describe};
use crate::error::Result;

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

/// What came back, unredacted: the caller redacts before anything leaves.
pub struct RawResponse {
    /// The status code.
    pub status: u16,
    /// Headers in order, names lower-cased, values as (lossy) text.
    pub headers: Vec<(String, String)>,
    /// The body, up to the cap.
    pub body: Vec<u8>,
    /// Whether the body was cut at the cap.
    pub truncated: bool,
}

impl HttpSender {
    /// Sends `request` once (no redirects) and reads the body up to its cap.
    ///
    /// # Errors
    /// [`Denied`](crate::error::ErrorKind::Denied) for a forbidden address;
    /// [`Unavailable`](crate::error::ErrorKind::Unavailable) for timeouts, refused
    /// connections, DNS and TLS failures and broken bodies.
    pub async fn send_one(&self, request: Outgoing) -> Result<RawResponse> {
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
        let mut body = Vec::new();
        let mut truncated = false;
        if !is_head {
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| describe(&e, &host, timeout_ms))?
            {
                let room = cap - body.len();
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
        }
        Ok(RawResponse {
            status: response.status().as_u16(),
            headers,
            body,
            truncated,
        })
    }
}
