//! The Send API Request action spec: its JSON shape, defaults, bounds and validation.
//! It owns the shape only (template checks and `from_json` live in `template`, which
//! imports this file, never the reverse); it never renders a template or touches a
//! secret value.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The request timeout when the spec gives none, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;
/// The longest timeout a spec may ask for, in milliseconds (5 minutes).
pub const MAX_TIMEOUT_MS: u64 = 300_000;
/// The response body cap when the spec gives none, in bytes (1 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// The largest response body cap a spec may ask for, in bytes (16 MiB).
pub const MAX_RESPONSE_BYTES: u64 = 16 << 20;
/// The most headers, query parameters or form fields one spec may list.
pub const MAX_PAIRS: usize = 100;

/// Headers hush sets itself or that would change how the request is routed or framed.
pub(crate) const FORBIDDEN_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
];

/// The action's kind tag: always `send_api_request`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// An HTTP request.
    SendApiRequest,
}

/// An HTTP method.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    /// The method as reqwest knows it.
    pub fn as_reqwest(self) -> reqwest::Method {
        match self {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
            Method::Put => reqwest::Method::PUT,
            Method::Patch => reqwest::Method::PATCH,
            Method::Delete => reqwest::Method::DELETE,
            Method::Head => reqwest::Method::HEAD,
            Method::Options => reqwest::Method::OPTIONS,
        }
    }
}

/// A header, query parameter or form field: a literal name and a template value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameValue {
    /// The name, taken literally (not a template).
    pub name: String,
    /// The value, a template.
    pub value: String,
}

/// The request body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Body {
    /// A JSON document whose string leaves are templates. A leaf that is exactly one
    /// `{{inputs.…}}` expression takes the input's JSON value (number, object, …) as is.
    Json {
        /// The document.
        value: serde_json::Value,
    },
    /// `application/x-www-form-urlencoded` fields.
    Form {
        /// The fields, in order.
        fields: Vec<NameValue>,
    },
    /// A body sent as rendered, with the given content type.
    Raw {
        /// The `Content-Type` header.
        content_type: String,
        /// The body, a template.
        value: String,
    },
}

/// Credentials sent in the `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Auth {
    /// HTTP Basic: `username:password`, base64-encoded.
    Basic {
        /// A template.
        username: String,
        /// A template.
        password: String,
    },
    /// `Bearer <token>`.
    Bearer {
        /// A template.
        token: String,
    },
}

/// A Send API Request action, as stored in an `actions/*.json` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpAction {
    /// Always `send_api_request`.
    pub kind: ActionKind,
    /// A label for people.
    #[serde(default)]
    pub name: String,
    /// The HTTP method.
    pub method: Method,
    /// The URL, a template; values inserted into it are percent-encoded.
    pub url: String,
    /// Request headers; values are templates and may not render to CR or LF.
    #[serde(default)]
    pub headers: Vec<NameValue>,
    /// Query parameters appended to the URL's own.
    #[serde(default)]
    pub query: Vec<NameValue>,
    /// The body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Credentials for the `Authorization` header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// Request timeout, connect to last body byte (default 30 s, at most 5 min).
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Whether to follow redirects (at most 10, each re-checked); off by default.
    #[serde(default)]
    pub follow_redirects: bool,
    /// The response body is read up to this many bytes (default 1 MiB, at most 16 MiB).
    #[serde(default = "default_max_bytes")]
    pub max_response_bytes: u64,
}

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_max_bytes() -> u64 {
    DEFAULT_MAX_RESPONSE_BYTES
}

impl HttpAction {
    /// Checks everything but the templates (`template` checks those, after this).
    pub(crate) fn validate_shape(&self) -> Result<()> {
        if !(1..=MAX_TIMEOUT_MS).contains(&self.timeout_ms) {
            return Err(Error::invalid(
                "timeout_ms",
                format!("{} is out of range 1..={MAX_TIMEOUT_MS}", self.timeout_ms),
            ));
        }
        if !(1..=MAX_RESPONSE_BYTES).contains(&self.max_response_bytes) {
            return Err(Error::invalid(
                "max_response_bytes",
                format!(
                    "{} is out of range 1..={MAX_RESPONSE_BYTES}",
                    self.max_response_bytes
                ),
            ));
        }
        let url = self.url.trim_start().as_bytes();
        let starts = |scheme: &str| {
            url.get(..scheme.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme.as_bytes()))
        };
        if !(starts("http://") || starts("https://")) {
            return Err(Error::invalid(
                "url",
                "it must start with http:// or https:// (the scheme cannot be a template)",
            ));
        }
        check_pairs("headers", &self.headers)?;
        for (i, h) in self.headers.iter().enumerate() {
            // The field is named only when it is wrong (this runs on every run).
            let field = || format!("headers[{i}].name");
            if reqwest::header::HeaderName::from_bytes(h.name.as_bytes()).is_err() {
                return Err(Error::invalid(
                    &field(),
                    format!("{:?} is not a valid header name", h.name),
                ));
            }
            if FORBIDDEN_HEADERS
                .iter()
                .any(|f| h.name.eq_ignore_ascii_case(f))
            {
                return Err(Error::invalid(
                    &field(),
                    format!("hush sets {:?} itself; it cannot be given", h.name),
                ));
            }
            if h.name.eq_ignore_ascii_case("authorization") && self.auth.is_some() {
                return Err(Error::invalid(
                    &field(),
                    "Authorization is set by `auth`; give one or the other",
                ));
            }
        }
        check_pairs("query", &self.query)?;
        match &self.body {
            Some(Body::Form { fields }) => check_pairs("body.fields", fields)?,
            Some(Body::Raw { content_type, .. })
                if content_type.is_empty()
                    || reqwest::header::HeaderValue::from_str(content_type).is_err() =>
            {
                return Err(Error::invalid(
                    "body.content_type",
                    "it must be a non-empty header value, e.g. text/plain",
                ));
            }
            _ => {}
        }
        if self.body.is_some() && self.method == Method::Head {
            return Err(Error::invalid("body", "a HEAD request cannot have a body"));
        }
        Ok(())
    }
}

fn check_pairs(field: &str, pairs: &[NameValue]) -> Result<()> {
    if pairs.len() > MAX_PAIRS {
        return Err(Error::invalid(
            field,
            format!("{} entries; at most {MAX_PAIRS}", pairs.len()),
        ));
    }
    for (i, p) in pairs.iter().enumerate() {
        if p.name.is_empty() {
            return Err(Error::invalid(&format!("{field}[{i}].name"), "it is empty"));
        }
        if p.name.contains("{{") {
            return Err(Error::invalid(
                &format!("{field}[{i}].name"),
                "names are taken literally; only values are templates",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"kind": "send_api_request", "name": "Create charge", "method": "POST",
        "url": "https://api.example.com/v1/charges?customer={{inputs.customer}}",
        "headers": [{"name": "Authorization", "value": "Bearer {{secret \"sec_aaaaaaaaaaaaaaaaaaaaaaaaaa\"}}"}],
        "query":   [{"name": "expand", "value": "{{inputs.expand}}"}],
        "body": {"type": "json", "value": {"amount": "{{inputs.amount}}"}},
        "timeout_ms": 10000, "follow_redirects": false, "max_response_bytes": 1048576}"#;

    fn with(patch: &str) -> String {
        let mut v: serde_json::Value = serde_json::from_str(EXAMPLE).unwrap();
        let p: serde_json::Value = serde_json::from_str(patch).unwrap();
        for (k, val) in p.as_object().unwrap() {
            v[k] = val.clone();
        }
        v.to_string()
    }

    #[test]
    fn the_issue_example_parses_with_its_values() {
        let spec = HttpAction::from_json(EXAMPLE).unwrap();
        assert_eq!(spec.method, Method::Post);
        assert_eq!(spec.timeout_ms, 10_000);
        assert!(matches!(spec.body, Some(Body::Json { .. })));
    }

    #[test]
    fn every_example_in_the_actions_folder_is_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("actions");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["kind"] == "send_api_request" {
                HttpAction::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 3, "{seen} examples");
    }

    #[test]
    fn defaults_apply_when_limits_are_absent() {
        let spec = HttpAction::from_json(
            r#"{"kind":"send_api_request","method":"GET","url":"https://x.example/"}"#,
        )
        .unwrap();
        assert_eq!(spec.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(spec.max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert!(!spec.follow_redirects);
    }

    #[test]
    fn an_http_or_https_url_is_taken_whatever_the_scheme_s_case() {
        for url in [
            "HTTPS://x.example/",
            "Http://x.example/",
            "hTtPs://x.example/a",
        ] {
            let patch = format!(r#"{{"url": "{url}"}}"#);
            let spec = HttpAction::from_json(&with(&patch)).unwrap();
            assert_eq!(spec.url, url);
        }
    }

    #[test]
    fn validation_names_the_exact_field() {
        let cases = [
            (r#"{"timeout_ms": 0}"#, "invalid timeout_ms"),
            (r#"{"timeout_ms": 300001}"#, "invalid timeout_ms"),
            (
                r#"{"max_response_bytes": 99999999999}"#,
                "invalid max_response_bytes",
            ),
            (r#"{"url": "ftp://x.example/"}"#, "invalid url"),
            (r#"{"url": "http:/x.example/"}"#, "invalid url"),
            (r#"{"url": "http"}"#, "invalid url"),
            (r#"{"url": "{{inputs.url}}"}"#, "invalid url"),
            (
                r#"{"headers": [{"name":"A","value":"b"},{"name":"bad name","value":"x"}]}"#,
                "invalid headers[1].name",
            ),
            (
                r#"{"headers": [{"name":"Host","value":"x"}]}"#,
                "invalid headers[0].name",
            ),
            (
                r#"{"headers": [{"name":"A","value":"b"},{"name":"Transfer-ENCODING","value":"x"}]}"#,
                "invalid headers[1].name",
            ),
            (
                r#"{"query": [{"name":"","value":"x"}]}"#,
                "invalid query[0].name",
            ),
            (
                r#"{"body": {"type":"json","value":{"amount":"{{inputs.amount"}}}"#,
                "invalid body.value.amount",
            ),
            (
                r#"{"body": {"type":"json","value":{"items":[1,"{{nope}}"]}}}"#,
                "invalid body.value.items[1]",
            ),
            (
                r#"{"body": {"type":"form","fields":[{"name":"a","value":"{{secret \"sec_bad\"}}"}]}}"#,
                "invalid body.fields[0].value",
            ),
            (
                r#"{"body": {"type":"raw","content_type":"","value":"x"}}"#,
                "invalid body.content_type",
            ),
            (r#"{"method": "HEAD"}"#, "invalid body"),
            (r#"{"method": "TRACE"}"#, "invalid method"),
            (
                r#"{"headers": [{"name":"A","value":"b"},{"name":"B","value":7}]}"#,
                "invalid headers[1].value",
            ),
            (r#"{"body": {"type":"xml","value":"x"}}"#, "invalid body"),
            (r#"{"extra": 1}"#, "invalid extra: unknown field"),
            (r#"{"kind": "run_code"}"#, "invalid kind"),
        ];
        for (patch, want) in cases {
            let err = HttpAction::from_json(&with(patch)).unwrap_err();
            assert!(
                err.message().starts_with(want),
                "{patch}: got {:?}, want {want:?}",
                err.message()
            );
        }
    }
}
