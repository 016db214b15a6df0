//! The one error type of an action: a short machine-readable code and a message. It never
//! holds a secret on purpose; whatever it holds is redacted by the host anyway.

use std::fmt;

use crate::bindings::hush::action::http;

/// Why an action (or one step of it) failed: a short machine-readable `code` such as
/// `bad_input` and a human-readable message.
///
/// The host returns both to whoever runs the action, after redacting every secret of the
/// run from them. An action returns its own failures with [`Error::new`]; the SDK's own
/// failures convert with `?`:
///
/// | code | when |
/// | --- | --- |
/// | `bad_input` | the run's input is not JSON of the action's input type |
/// | `bad_output` | the action's output cannot be serialized to JSON |
/// | `json` | any other JSON (de)serialization failure, e.g. [`Response::json`](crate::Response::json) |
/// | `unbound_secret` | [`Ctx::secret`](crate::Ctx::secret) names a binding the action does not have |
/// | `reveal_denied` | [`Secret::reveal`](crate::Secret::reveal) on a binding without `"reveal": true` |
/// | `http_not_allowed`, `http_limit_reached`, `http_timeout`, `http_invalid`, `http_failed` | [`Request::send`](crate::Request::send) failed; see [`Error::is_http`] |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    code: String,
    message: String,
}

impl Error {
    /// An error with `code` (short, machine-readable, e.g. `"declined"`) and `message`.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Error {
            code: code.into(),
            message: message.into(),
        }
    }

    /// An error with code `bad_input`: the action's input is not what it needs.
    pub fn bad_input(message: impl Into<String>) -> Self {
        Error::new("bad_input", message)
    }

    /// The machine-readable code, e.g. `bad_input`.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// True when this error came from an HTTP call (its code starts with `http_`).
    pub fn is_http(&self) -> bool {
        self.code.starts_with("http_")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

impl From<serde_json::Error> for Error {
    fn from(err: serde_json::Error) -> Self {
        Error::new("json", err.to_string())
    }
}

impl From<http::Error> for Error {
    fn from(err: http::Error) -> Self {
        let code = match err.kind {
            http::ErrorKind::NotAllowed => "http_not_allowed",
            http::ErrorKind::LimitReached => "http_limit_reached",
            http::ErrorKind::Timeout => "http_timeout",
            http::ErrorKind::Invalid => "http_invalid",
            http::ErrorKind::Failed => "http_failed",
        };
        Error::new(code, err.message)
    }
}

impl From<Error> for crate::bindings::ActionError {
    fn from(err: Error) -> Self {
        crate::bindings::ActionError {
            code: err.code,
            message: err.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_errors_keep_their_kind_in_the_code() {
        let cases = [
            (http::ErrorKind::NotAllowed, "http_not_allowed"),
            (http::ErrorKind::LimitReached, "http_limit_reached"),
            (http::ErrorKind::Timeout, "http_timeout"),
            (http::ErrorKind::Invalid, "http_invalid"),
            (http::ErrorKind::Failed, "http_failed"),
        ];
        for (kind, code) in cases {
            let err = Error::from(http::Error {
                kind,
                message: "m".into(),
            });
            assert_eq!(
                (err.code(), err.message(), err.is_http()),
                (code, "m", true)
            );
        }
    }

    #[test]
    fn json_errors_have_code_json_and_bad_input_is_its_own_code() {
        let err = Error::from(serde_json::from_str::<u8>("x").unwrap_err());
        assert_eq!(err.code(), "json");
        assert_eq!(Error::bad_input("no").code(), "bad_input");
        assert_eq!(Error::new("declined", "card").to_string(), "declined: card");
    }
}
