//! The API's one error type and its wrapper extractors: every refusal, whatever its
//! source (a handler, the bearer check, a malformed body, a bad query string), answers
//! `{"error": {"code", "message"}}` with its status.
//!
//! A client's mistake gets a clear message; an internal or store failure gets a generic
//! one, with the details only in the (redacted) process log. A message never echoes a
//! string value from the request body, so a secret pasted into the wrong field is not
//! sent back or logged.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind};

/// An API refusal or failure: a status, a stable code and a message safe to show.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// Logged (redacted) when the response is built; never sent.
    detail: Option<String>,
    /// One more field of the error object, for a client to act on (e.g. the saved
    /// actions that keep a secret from being deleted).
    extra: Option<(&'static str, serde_json::Value)>,
}

/// The error code of a refused response, left in its extensions for the request log.
#[derive(Clone, Copy, Debug)]
pub struct ErrorCode(pub &'static str);

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            detail: None,
            extra: None,
        }
    }

    /// 409: the change clashes with what is stored.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorKind::Conflict.code(), message)
    }

    /// Adds `key` to the error object (beside `code` and `message`), for a client to act
    /// on. It must hold only ids and names, never a request's string value.
    pub fn with_field(mut self, key: &'static str, value: serde_json::Value) -> Self {
        self.extra = Some((key, value));
        self
    }

    /// 400: bad input; `message` says what is wrong.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorKind::Invalid.code(), message)
    }

    /// 401: no token, or one that is not valid.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller may not do this.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, ErrorKind::Denied.code(), message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorKind::NotFound.code(), message)
    }

    /// 405.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not answer that method",
        )
    }

    /// 413.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than this server accepts",
        )
    }

    /// 415.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the request body must be JSON (Content-Type: application/json)",
        )
    }
}

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        let (status, message) = match e.kind() {
            ErrorKind::Invalid => (StatusCode::BAD_REQUEST, None),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, None),
            ErrorKind::Denied => (StatusCode::FORBIDDEN, None),
            ErrorKind::Conflict => (StatusCode::CONFLICT, None),
            ErrorKind::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                Some("the store is unavailable; try again shortly"),
            ),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, Some("internal error")),
        };
        match message {
            None => Self::new(status, e.kind().code(), e.message()),
            Some(generic) => ApiError {
                detail: Some(e.message().to_owned()),
                ..Self::new(status, e.kind().code(), generic)
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.detail {
            // The subscriber redacts every line; the detail never reaches the client.
            tracing::error!(code = self.code, status = self.status.as_u16(), %detail, "request failed");
        }
        let mut error = serde_json::json!({"code": self.code, "message": self.message});
        if let Some((key, value)) = self.extra {
            error[key] = value;
        }
        let body = serde_json::json!({ "error": error });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response.extensions_mut().insert(ErrorCode(self.code));
        response
    }
}

/// A JSON request body whose every rejection (not JSON, wrong types, unknown fields, too
/// large, wrong content type) is an [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
            let is_json = content_type
                .to_str()
                .ok()
                .and_then(|t| t.split(';').next())
                .is_some_and(|t| {
                    let t = t.trim().to_ascii_lowercase();
                    t == "application/json"
                        || (t.starts_with("application/") && t.ends_with("+json"))
                });
            if !is_json {
                return Err(ApiError::unsupported_media_type());
            }
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large()
            } else {
                ApiError::invalid("the request body could not be read")
            }
        })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// Parses a JSON body, naming the field at fault without echoing any string value.
fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => {
                let at = if path == "." {
                    "the request body".to_owned()
                } else {
                    format!("`{path}`")
                };
                ApiError::invalid(format!("invalid {at}: {}", scrub(&inner)))
            }
            _ => not_json(&inner),
        }
    })?;
    de.end().map_err(|e| not_json(&e))?;
    Ok(value)
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::invalid(format!(
        "the request body is not valid JSON (line {}, column {})",
        e.line(),
        e.column()
    ))
}

/// serde's message without its position and with any quoted string value elided
/// (`invalid type: string "…", expected a map`).
fn scrub(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.rfind(" at line ") {
        Some(at) => &text[..at],
        None => &text,
    };
    match (text.find('"'), text.rfind('"')) {
        (Some(first), Some(last)) if last > first => {
            format!("{}\"…\"{}", &text[..first], &text[last + 1..])
        }
        _ => text.to_owned(),
    }
}

/// A query string whose rejection is an [`ApiError`].
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        serde_urlencoded::from_str::<T>(parts.uri.query().unwrap_or_default())
            .map(ApiQuery)
            .map_err(|e| ApiError::invalid(format!("invalid query string: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        inputs: serde_json::Map<String, serde_json::Value>,
    }

    #[test]
    fn a_wrong_type_names_the_field_and_does_not_echo_the_string() {
        let err = parse_body::<Body>(br#"{"inputs": "sk_live_do_not_echo"}"#).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.contains("`inputs`"), "{}", err.message);
        assert!(!err.message.contains("sk_live"), "{}", err.message);
    }

    #[test]
    fn malformed_json_and_trailing_bytes_are_invalid() {
        for body in [&b"{"[..], b"not json", br#"{"inputs": {}} x"#] {
            let err = parse_body::<Body>(body).unwrap_err();
            assert!(err.message.contains("not valid JSON"), "{}", err.message);
        }
    }

    #[test]
    fn internal_and_store_failures_answer_generic_messages() {
        let e = ApiError::from(Error::internal("stored token tok_x is unreadable"));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(e.message, "internal error");
        let e = ApiError::from(Error::unavailable("redis at redis://10.0.0.1 refused"));
        assert_eq!(e.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!e.message.contains("10.0.0.1"));
    }
}
