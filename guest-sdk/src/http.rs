//! Outgoing HTTP through the host: a request builder over the host's `outgoing-request`
//! resource and the response it returns. Secrets are attached by handle, so their
//! plaintext never passes through here.

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::hush::action::http as host;
use crate::{Error, Secret};

/// An HTTP request method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
    /// `OPTIONS`
    Options,
}

impl From<Method> for host::Method {
    fn from(method: Method) -> Self {
        match method {
            Method::Get => host::Method::Get,
            Method::Post => host::Method::Post,
            Method::Put => host::Method::Put,
            Method::Patch => host::Method::Patch,
            Method::Delete => host::Method::Delete,
            Method::Head => host::Method::Head,
            Method::Options => host::Method::Options,
        }
    }
}

/// Starts HTTP requests; get it from [`Ctx::http`](crate::Ctx::http).
///
/// Every call is made by the host, which enforces the action's allowed hosts, each
/// attached secret's allowed hosts, the network policy (no private, loopback, link-local
/// or metadata addresses) and the run's cap on calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct Http {
    _private: (),
}

impl Http {
    pub(crate) fn new() -> Self {
        Http { _private: () }
    }

    /// A request for `method` to `url` (absolute, `http` or `https`). A malformed URL is
    /// reported by [`Request::send`] as an `http_invalid` error.
    pub fn request(&self, method: Method, url: &str) -> Request {
        Request {
            inner: host::OutgoingRequest::new(method.into(), url),
        }
    }

    /// A `GET` request to `url`.
    pub fn get(&self, url: &str) -> Request {
        self.request(Method::Get, url)
    }

    /// A `POST` request to `url`.
    pub fn post(&self, url: &str) -> Request {
        self.request(Method::Post, url)
    }

    /// A `PUT` request to `url`.
    pub fn put(&self, url: &str) -> Request {
        self.request(Method::Put, url)
    }

    /// A `PATCH` request to `url`.
    pub fn patch(&self, url: &str) -> Request {
        self.request(Method::Patch, url)
    }

    /// A `DELETE` request to `url`.
    pub fn delete(&self, url: &str) -> Request {
        self.request(Method::Delete, url)
    }

    /// A `HEAD` request to `url`.
    pub fn head(&self, url: &str) -> Request {
        self.request(Method::Head, url)
    }

    /// An `OPTIONS` request to `url`.
    pub fn options(&self, url: &str) -> Request {
        self.request(Method::Options, url)
    }
}

/// An outgoing request being built; finish it with [`Request::send`].
///
/// Each builder method hands the part to the host at once; the methods that attach a
/// [`Secret`] pass only its handle, and the host inserts the value.
#[derive(Debug)]
pub struct Request {
    inner: host::OutgoingRequest,
}

impl Request {
    /// Adds the header `name: value`.
    pub fn header(self, name: &str, value: &str) -> Self {
        self.inner.add_header(name, value);
        self
    }

    /// Adds `Authorization: Bearer <secret>`, inserted by the host.
    pub fn bearer(self, secret: &Secret) -> Self {
        self.header_secret("Authorization", "Bearer ", secret)
    }

    /// Adds the header `name: <prefix><secret>`, inserted by the host (e.g.
    /// `header_secret("X-Api-Key", "", &key)`).
    pub fn header_secret(self, name: &str, prefix: &str, secret: &Secret) -> Self {
        self.inner.attach_header(name, prefix, &secret.inner);
        self
    }

    /// Adds the query parameter `name=<secret>`, inserted and percent-encoded by the host.
    pub fn query_secret(self, name: &str, secret: &Secret) -> Self {
        self.inner.attach_query(name, &secret.inner);
        self
    }

    /// Sets HTTP basic auth with `username` and the secret as the password, inserted by
    /// the host.
    pub fn basic_auth(self, username: &str, password: &Secret) -> Self {
        self.inner.attach_basic_auth(username, &password.inner);
        self
    }

    /// Sets the body to `body` as is.
    pub fn body(self, body: impl AsRef<[u8]>) -> Self {
        self.inner.set_body(body.as_ref());
        self
    }

    /// Sets the body to `value` as JSON and adds `Content-Type: application/json`.
    ///
    /// # Errors
    ///
    /// A `json` error when `value` cannot be serialized.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.header("Content-Type", "application/json").body(body))
    }

    /// Sets a timeout for this call; the host caps it by the run's own timeout.
    /// Durations beyond `u32::MAX` milliseconds are capped there.
    pub fn timeout(self, timeout: Duration) -> Self {
        let ms = u32::try_from(timeout.as_millis()).unwrap_or(u32::MAX);
        self.inner.set_timeout_ms(ms);
        self
    }

    /// Sends the request and waits for the whole response (its body capped by the host).
    ///
    /// A response with any status, 4xx and 5xx included, is `Ok`; check
    /// [`Response::status`].
    ///
    /// # Errors
    ///
    /// An error with code `http_not_allowed` (the host, an attached secret or the network
    /// policy forbids the call), `http_limit_reached` (the run's cap on calls is reached),
    /// `http_timeout`, `http_invalid` (malformed URL or header) or `http_failed`
    /// (connecting, TLS or reading failed).
    pub fn send(self) -> Result<Response, Error> {
        let response = host::send(self.inner)?;
        Ok(Response {
            status: response.status,
            headers: response
                .headers
                .into_iter()
                .map(|h| (h.name, h.value))
                .collect(),
            body: response.body,
            truncated: response.truncated,
        })
    }
}

/// A response, with every secret of the run already redacted from its headers and body by
/// the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    truncated: bool,
}

impl Response {
    /// The status code, e.g. `200`.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// True for a 2xx status.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// Every header as `(name, value)`, in the order received.
    pub fn headers(&self) -> &[(String, String)] {
        &self.headers
    }

    /// The value of the first header called `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body bytes.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// The body bytes, taken out of the response.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// The body as text; invalid UTF-8 is replaced with U+FFFD.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON into `T` (use `serde_json::Value` for any JSON).
    ///
    /// # Errors
    ///
    /// A `json` error when the body is not JSON of type `T` (a truncated body usually is
    /// not).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, Error> {
        Ok(serde_json::from_slice(&self.body)?)
    }

    /// True when the host cut the body at the run's response size cap.
    pub fn truncated(&self) -> bool {
        self.truncated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> Response {
        Response {
            status: 201,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: body.as_bytes().to_vec(),
            truncated: false,
        }
    }

    #[test]
    fn header_lookup_ignores_case() {
        let resp = response("{}");
        assert_eq!(resp.header("content-type"), Some("application/json"));
        assert_eq!(resp.header("x-missing"), None);
        assert!(resp.is_success());
    }

    #[test]
    fn json_parses_the_body_and_a_bad_body_is_a_json_error() {
        let value: serde_json::Value = response(r#"{"id":"ch_1"}"#).json().unwrap();
        assert_eq!(value["id"], "ch_1");
        assert_eq!(
            response("{")
                .json::<serde_json::Value>()
                .unwrap_err()
                .code(),
            "json"
        );
        assert_eq!(response("hi").text(), "hi");
    }
}
