//! The redaction engine: removes every known encoding of every used secret value from output.
//! It owns matching and replacement only; it never logs, prints or stores a value.
//!
//! - [`Redactor`]: built from `(name, value)` pairs; redacts bytes and text in one shot.
//! - [`StreamRedactor`] and [`RedactingWriter`]: the same over chunked output.
//! - [`redact_json`], [`redact_headers`], [`redact_error`]: structured data.
//! - [`registry::global`]: the process-wide set of held values, read by telemetry.
//! - [`RedactorCache`]: built redactors kept by a caller key (secret ids and versions).
//!
//! ```
//! use hush::redact::Redactor;
//!
//! let r = Redactor::new([("api", "s3cr3t-t0ken-value")]);
//! let out = r.redact_str(r#"{"auth":"czNjcjN0LXQwa2VuLXZhbHVl","url":"/x?k=s3cr3t-t0ken-value"}"#);
//! assert_eq!(out, r#"{"auth":"[REDACTED:api]","url":"/x?k=[REDACTED:api]"}"#);
//! ```

mod cache;
mod engine;
pub(crate) mod registry;
mod stream;
mod structured;
pub(crate) mod variants;

pub use cache::{DEFAULT_CAPACITY, RedactorCache};
pub use engine::Redactor;
pub use registry::{Lease, Registry, global};
pub use stream::{RedactingWriter, StreamRedactor};
pub use structured::{redact_error, redact_header_pairs, redact_headers, redact_json};
pub use variants::variants;

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_and_sync() {
        assert_send_sync::<Redactor>();
        assert_send_sync::<StreamRedactor>();
        assert_send_sync::<RedactingWriter<Vec<u8>>>();
        assert_send_sync::<Registry>();
        assert_send_sync::<Lease>();
        assert_send_sync::<RedactorCache<Vec<(String, u64)>>>();
    }

    #[test]
    fn nested_secret_gets_the_outer_name() {
        let r = Redactor::new([("inner", "secret-inner"), ("outer", "xx-secret-inner-xx")]);
        assert_eq!(
            r.redact_str("a xx-secret-inner-xx b"),
            "a [REDACTED:outer] b"
        );
    }

    #[test]
    fn stream_matches_one_shot_at_every_split() {
        let r = std::sync::Arc::new(Redactor::new([
            ("a", "alpha-bravo-charlie"),
            ("b", "charlie-delta-echo"),
        ]));
        let text = b"x alpha-bravo-charlie-delta-echo y YWxwaGEtYnJhdm8tY2hhcmxpZQ== z";
        let want = r.redact_bytes(text).into_owned();
        for i in 0..text.len() {
            for j in i..text.len() {
                let mut s = StreamRedactor::new(r.clone());
                let mut out = s.push(&text[..i]);
                out.extend(s.push(&text[i..j]));
                out.extend(s.push(&text[j..]));
                out.extend(s.finish());
                assert_eq!(out, want, "split at {i},{j}");
            }
        }
    }
}
