//! Redaction of structured values: JSON documents (keys and strings, in place), HTTP
//! header lists and error chains. Output stays well-formed; it never drops a field silently.

use serde_json::{Map, Value};

use super::engine::Redactor;

/// Redacts every object key, string and number of `value` in place; the result is still
/// valid JSON. A number that holds a secret becomes a string label. Two keys that redact
/// to the same text are kept apart by a ` #2`, ` #3`… suffix instead of overwriting.
pub fn redact_json(redactor: &Redactor, value: &mut Value) {
    if redactor.is_empty() {
        return;
    }
    redact_json_value(redactor, value, &mut String::new());
}

/// `scratch` holds a number's text, reused so that numbers cost no allocation.
fn redact_json_value(redactor: &Redactor, value: &mut Value, scratch: &mut String) {
    match value {
        Value::String(s) => {
            if let std::borrow::Cow::Owned(r) = redactor.redact_str(s) {
                *s = r;
            }
        }
        Value::Number(n) => {
            use std::fmt::Write as _;
            scratch.clear();
            let _ = write!(scratch, "{n}");
            if let std::borrow::Cow::Owned(r) = redactor.redact_str(scratch) {
                *value = Value::String(r);
            }
        }
        Value::Array(items) => {
            for item in items {
                redact_json_value(redactor, item, scratch);
            }
        }
        Value::Object(map) => {
            let keys_change = map.keys().any(|k| redactor.is_match(k.as_bytes()));
            if keys_change {
                let old = std::mem::take(map);
                let mut fresh = Map::with_capacity(old.len());
                for (k, v) in old {
                    let mut key = redactor.redact_str(&k).into_owned();
                    if fresh.contains_key(&key) {
                        let base = key.clone();
                        let mut n = 2;
                        while fresh.contains_key(&key) {
                            key = format!("{base} #{n}");
                            n += 1;
                        }
                    }
                    fresh.insert(key, v);
                }
                *map = fresh;
            }
            for v in map.values_mut() {
                redact_json_value(redactor, v, scratch);
            }
        }
        Value::Null | Value::Bool(_) => {}
    }
}

/// Redacts header names and values. Values need not be UTF-8 (bytes that are not become
/// U+FFFD after redaction, never the original bytes).
///
/// ```
/// use hush::redact::{Redactor, redact_headers};
///
/// let r = Redactor::new([("token", "tok_0123456789")]);
/// let h = redact_headers(&r, [("Authorization", "Bearer tok_0123456789".as_bytes())]);
/// assert_eq!(h, vec![("Authorization".to_string(), "Bearer [REDACTED:token]".to_string())]);
/// ```
pub fn redact_headers<I, N, V>(redactor: &Redactor, headers: I) -> Vec<(String, String)>
where
    I: IntoIterator<Item = (N, V)>,
    N: AsRef<str>,
    V: AsRef<[u8]>,
{
    headers
        .into_iter()
        .map(|(name, value)| {
            let name = redactor.redact_str(name.as_ref()).into_owned();
            let value = redactor.redact_bytes(value.as_ref());
            (name, String::from_utf8_lossy(&value).into_owned())
        })
        .collect()
}

/// Redacts a header list in place.
pub fn redact_header_pairs(redactor: &Redactor, headers: &mut [(String, String)]) {
    for (name, value) in headers {
        for s in [name, value] {
            if let std::borrow::Cow::Owned(r) = redactor.redact_str(s) {
                *s = r;
            }
        }
    }
}

/// The error and every `source()` below it, joined by `": "`, redacted.
pub fn redact_error(redactor: &Redactor, error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    redactor.redact_str(&text).into_owned()
}
