//! Example action `hmac-sign`: reveals the secret bound as `signing_key` (its binding must
//! say `"reveal": true`) to sign the input payload with HMAC-SHA256, webhook style. Asked
//! to (`demo_redaction`), it also writes the key to its log and output, to show that the
//! host redacts a revealed value; it never does so otherwise.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use hush_guest::{Ctx, Error};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::Sha256;

#[derive(Deserialize)]
struct Input {
    /// What to sign: a string is signed as its bytes, any other JSON as its compact form.
    payload: Value,
    /// Signed as `<timestamp>.<payload>` when given (replay protection, as Stripe does).
    timestamp: Option<u64>,
    /// Log and return the key too, so the run shows it redacted.
    #[serde(default)]
    demo_redaction: bool,
}

#[derive(Serialize)]
struct Output {
    algorithm: &'static str,
    signed_bytes: usize,
    signature_hex: String,
    signature_base64: String,
    /// A ready-made header value: `t=<timestamp>,v1=<hex>` or `v1=<hex>`.
    signature_header: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    demo_key: Option<String>,
}

fn run(input: Input, ctx: &Ctx) -> Result<Output, Error> {
    let key = ctx.secret("signing_key")?.reveal()?;
    let payload = match &input.payload {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other)?,
    };
    let signed = match input.timestamp {
        Some(t) => format!("{t}.{payload}"),
        None => payload,
    };

    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
        .map_err(|e| Error::new("bad_key", e.to_string()))?;
    mac.update(signed.as_bytes());
    let signature = mac.finalize().into_bytes();
    let signature_hex = hex::encode(signature);
    let signature_header = match input.timestamp {
        Some(t) => format!("t={t},v1={signature_hex}"),
        None => format!("v1={signature_hex}"),
    };
    ctx.log().info(&format!(
        "signed {} bytes: {signature_header}",
        signed.len()
    ));

    let demo_key = input.demo_redaction.then(|| {
        ctx.log().warn(&format!("demo_redaction: the key is {key}"));
        println!("demo_redaction (stdout): {key}");
        key.clone()
    });
    Ok(Output {
        algorithm: "HMAC-SHA256",
        signed_bytes: signed.len(),
        signature_base64: base64::engine::general_purpose::STANDARD.encode(signature),
        signature_hex,
        signature_header,
        demo_key,
    })
}

hush_guest::export!(run);
