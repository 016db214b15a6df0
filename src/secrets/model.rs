//! The secret value type, and the secret key's metadata model (re-exported from
//! [`crate::model::secret`], where it sits below every room that reads it).
//!
//! [`SecretValue`] is the only type that holds a plaintext. It zeroizes on drop, is not
//! `Serialize`, and prints `[REDACTED]` from `Debug` and `Display`.

use std::fmt;

use zeroize::Zeroizing;

use crate::error::{Error, Result};
pub use crate::model::secret::*;

/// The shortest value hush accepts: shorter values cannot be redacted reliably.
pub const MIN_VALUE_BYTES: usize = 8;
/// The longest value hush accepts.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// A decrypted (or about-to-be-encrypted) secret value.
pub struct SecretValue(Zeroizing<String>);

impl SecretValue {
    /// Validates a value: 8 bytes to 64 KiB of UTF-8 without NUL.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming `value` and saying which rule
    /// failed (never echoing the value).
    pub fn new(value: impl Into<String>) -> Result<Self> {
        let value = Zeroizing::new(value.into());
        if value.len() < MIN_VALUE_BYTES {
            return Err(Error::invalid(
                "value",
                format!(
                    "it is {} bytes; a secret value must be at least {MIN_VALUE_BYTES} bytes, \
                     because a shorter value cannot be redacted reliably from output",
                    value.len()
                ),
            ));
        }
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::invalid(
                "value",
                format!(
                    "it is {} bytes; the limit is {MAX_VALUE_BYTES} bytes (64 KiB)",
                    value.len()
                ),
            ));
        }
        if value.contains('\0') {
            return Err(Error::invalid("value", "it contains a NUL byte"));
        }
        Ok(SecretValue(value))
    }

    /// Validates raw bytes (from stdin or a file): they must be UTF-8. One trailing
    /// newline (`\n` or `\r\n`), as left by `echo` or an editor, is removed first.
    ///
    /// # Errors
    /// As [`SecretValue::new`], or when the bytes are not UTF-8.
    pub fn from_input(bytes: Zeroizing<Vec<u8>>) -> Result<Self> {
        let mut end = bytes.len();
        if bytes[..end].ends_with(b"\n") {
            end -= 1;
            if bytes[..end].ends_with(b"\r") {
                end -= 1;
            }
        }
        let text = std::str::from_utf8(&bytes[..end])
            .map_err(|_| Error::invalid("value", "it is not valid UTF-8"))?;
        Self::new(text.to_owned())
    }

    /// Validated bytes from decryption.
    pub(crate) fn from_utf8(mut bytes: Zeroizing<Vec<u8>>) -> std::result::Result<Self, ()> {
        std::str::from_utf8(&bytes).map_err(|_| ())?;
        // Moves the buffer instead of copying it, so no unzeroized copy is left behind.
        let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|_| ())?;
        Ok(SecretValue(Zeroizing::new(text)))
    }

    /// The plaintext. Call this only at the point of use, and never log or store it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

impl fmt::Display for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_value_never_shows_in_debug_or_display() {
        let v = SecretValue::new("sk_live_abcdef123").unwrap();
        assert_eq!(format!("{v:?} {v}"), "[REDACTED] [REDACTED]");
    }
    #[test]
    fn short_values_are_refused_because_they_cannot_be_redacted() {
        let err = SecretValue::new("1234567").unwrap_err();
        assert!(
            err.message().contains("cannot be redacted reliably"),
            "{err}"
        );
        assert!(!err.message().contains("1234567"), "{err}");
        assert!(SecretValue::new("12345678").is_ok());
    }
    #[test]
    fn one_trailing_newline_from_stdin_is_dropped() {
        let v = SecretValue::from_input(Zeroizing::new(b"abcdefgh\r\n".to_vec())).unwrap();
        assert_eq!(v.expose(), "abcdefgh");
        let v = SecretValue::from_input(Zeroizing::new(b"abcdefgh\n\n".to_vec())).unwrap();
        assert_eq!(v.expose(), "abcdefgh\n");
        assert!(SecretValue::from_input(Zeroizing::new(vec![0xff; 10])).is_err());
    }
}
