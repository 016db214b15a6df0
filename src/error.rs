//! hush's one error type: a kind the caller can branch on and a message a person can act on.
//!
//! A message never carries a secret value: every constructor takes text that hush wrote
//! itself (names, ids, field names), never user-supplied values.

use std::fmt;

/// What went wrong, coarsely: enough for a caller to choose an exit code or HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input was malformed or out of range; the message names the field.
    Invalid,
    /// The thing asked for does not exist, was deleted, or belongs to another org.
    NotFound,
    /// The actor is not allowed to do this.
    Denied,
    /// The change clashes with what is stored (a name taken, an org that exists).
    Conflict,
    /// The store could not be reached or answered with an error.
    Unavailable,
    /// A ciphertext or wrapped key failed to decrypt (tampered, misplaced or wrong key).
    Crypto,
    /// A bug or an unexpected state inside hush.
    Internal,
    /// A run went past one of its limits (time, memory, logs, output, HTTP calls).
    Limit,
    /// A Run Code guest trapped: it panicked, aborted or overflowed its stack.
    Trapped,
    /// A Run Code guest returned an error of its own.
    ActionFailed,
}

impl ErrorKind {
    /// A short stable code for JSON output, e.g. `"not_found"`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Invalid => "invalid",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Denied => "denied",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Crypto => "crypto",
            ErrorKind::Internal => "internal",
            ErrorKind::Limit => "limit_exceeded",
            ErrorKind::Trapped => "trapped",
            ErrorKind::ActionFailed => "action_failed",
        }
    }
}

impl ErrorKind {
    /// Every kind, for parsing codes back.
    const ALL: [ErrorKind; 10] = [
        ErrorKind::Invalid,
        ErrorKind::NotFound,
        ErrorKind::Denied,
        ErrorKind::Conflict,
        ErrorKind::Unavailable,
        ErrorKind::Crypto,
        ErrorKind::Internal,
        ErrorKind::Limit,
        ErrorKind::Trapped,
        ErrorKind::ActionFailed,
    ];

    /// The kind whose [`code`](ErrorKind::code) is `code`.
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        Self::ALL.into_iter().find(|k| k.code() == code)
    }
}

/// Serialized as its [`code`](ErrorKind::code).
impl serde::Serialize for ErrorKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> serde::Deserialize<'de> for ErrorKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let code = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        ErrorKind::from_code(&code)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code {code:?}")))
    }
}

/// An error from any hush operation.
#[derive(Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    /// For a [`Limit`](ErrorKind::Limit) error: the spec setting that was hit.
    limit: Option<&'static str>,
}

/// `Result` with hush's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error of `kind`; the message is text hush wrote (or redacted) itself.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            limit: None,
        }
    }

    /// Bad input in `field`; `message` says what is wrong and what is expected.
    pub fn invalid(field: &str, message: impl fmt::Display) -> Self {
        Self::new(ErrorKind::Invalid, format!("invalid {field}: {message}"))
    }

    /// Something asked for is missing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }

    /// The actor lacks a permission.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Denied, message)
    }

    /// The change clashes with stored state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }

    /// The store is unreachable or failing.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unavailable, message)
    }

    /// Decryption or key unwrapping failed.
    pub fn crypto(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Crypto, message)
    }

    /// An unexpected internal state.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }

    /// A [`Limit`](ErrorKind::Limit) error: a run went past `setting` (e.g.
    /// `limits.timeout_ms`; none for a cap of the host's own).
    pub fn limit(setting: Option<&'static str>, message: impl Into<String>) -> Self {
        Error {
            limit: setting,
            ..Self::new(ErrorKind::Limit, message)
        }
    }

    /// The spec setting a [`Limit`](ErrorKind::Limit) error names, if any.
    pub fn limit_setting(&self) -> Option<&'static str> {
        self.limit
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message, without the kind.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({}: {})", self.kind.code(), self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_code() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(kind.code()), Some(kind));
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.code()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
        }
        assert!(serde_json::from_str::<ErrorKind>("\"nope\"").is_err());
    }
}
