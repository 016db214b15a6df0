//! Structured redaction: JSON keys and values in place, header lists, error chains.

use hush::redact::{Redactor, redact_error, redact_header_pairs, redact_headers, redact_json};
use serde_json::json;

const V: &str = "structured-secret-777";

#[test]
fn json_keys_strings_and_numbers_are_redacted_and_stay_valid() {
    let r = Redactor::new([("s", V), ("n", "12345678901")]);
    let mut doc = json!({
        "token": V,
        V: "key was secret",
        "nested": [{"auth": format!("Bearer {V}")}, 12345678901u64, true, null],
        "clean": "nothing",
    });
    redact_json(&r, &mut doc);
    let text = doc.to_string();
    assert!(!text.contains(V) && !text.contains("12345678901"), "{text}");
    assert_eq!(doc["token"], "[REDACTED:s]");
    assert_eq!(doc["[REDACTED:s]"], "key was secret");
    assert_eq!(doc["nested"][0]["auth"], "Bearer [REDACTED:s]");
    assert_eq!(doc["nested"][1], "[REDACTED:n]");
    assert_eq!(doc["clean"], "nothing");
    let reparsed: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(reparsed, doc);
}

#[test]
fn json_keys_that_collide_after_redaction_are_both_kept() {
    let r = Redactor::new([("s", V)]);
    let mut doc = json!({ V: 1, format!("x{V}"): 2, "[REDACTED:s]": 3 });
    redact_json(&r, &mut doc);
    let obj = doc.as_object().unwrap();
    assert_eq!(obj.len(), 3);
    assert!(!doc.to_string().contains(V));
}

#[test]
fn header_values_and_names_are_redacted() {
    let r = Redactor::new([("s", V)]);
    let basic = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!("user:{V}"),
    );
    let out = redact_headers(
        &r,
        vec![
            ("Authorization", format!("Basic {basic}").into_bytes()),
            ("X-Api-Key", V.as_bytes().to_vec()),
            ("Accept", b"application/json".to_vec()),
        ],
    );
    assert!(out[0].1.starts_with("Basic ") && out[0].1.contains("[REDACTED:s]"));
    assert_eq!(out[1].1, "[REDACTED:s]");
    assert_eq!(out[2].1, "application/json");
    let mut pairs = vec![("Cookie".to_string(), format!("sid={V}"))];
    redact_header_pairs(&r, &mut pairs);
    assert_eq!(pairs[0].1, "sid=[REDACTED:s]");
}

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner(String);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request failed")
    }
}
impl std::fmt::Display for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "bad token {}", self.0)
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}
impl std::error::Error for Inner {}

#[test]
fn error_chains_are_walked_and_redacted() {
    let r = Redactor::new([("s", V)]);
    let e = Outer(Inner(V.to_string()));
    assert_eq!(
        redact_error(&r, &e),
        "request failed: bad token [REDACTED:s]"
    );
}
