//! Example action `hmac-sign`: signs the input payload with HMAC-SHA256, webhook style,
//! keyed with the secret bound as `signing_key`. The host computes the HMAC
//! ([`hush_guest::Secret::hmac_sha256`]), so the key never enters this component: its
//! binding needs no `"reveal"`, and no approval from the secret's managers.

use base64::Engine as _;
use hush_guest::{Ctx, Error};
use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Deserialize)]
struct Input {
    /// What to sign: a string is signed as its bytes, any other JSON as its compact form.
    payload: Value,
    /// Signed as `<timestamp>.<payload>` when given (replay protection, as Stripe does).
    timestamp: Option<u64>,
}

#[derive(Serialize)]
struct Output {
    algorithm: &'static str,
    signed_bytes: usize,
    signature_hex: String,
    signature_base64: String,
    /// A ready-made header value: `t=<timestamp>,v1=<hex>` or `v1=<hex>`.
    signature_header: String,
}

fn run(input: Input, ctx: &Ctx) -> Result<Output, Error> {
    let key = ctx.secret("signing_key")?;
    let payload = match &input.payload {
        Value::String(s) => s.clone(),
        other => serde_json::to_string(other)?,
    };
    let signed = match input.timestamp {
        Some(t) => format!("{t}.{payload}"),
        None => payload,
    };

    let signature = key.hmac_sha256(signed.as_bytes());
    let signature_hex = hex::encode(signature);
    let signature_header = match input.timestamp {
        Some(t) => format!("t={t},v1={signature_hex}"),
        None => format!("v1={signature_hex}"),
    };
    ctx.log().info(&format!(
        "signed {} bytes: {signature_header}",
        signed.len()
    ));
    Ok(Output {
        algorithm: "HMAC-SHA256",
        signed_bytes: signed.len(),
        signature_base64: base64::engine::general_purpose::STANDARD.encode(signature),
        signature_hex,
        signature_header,
    })
}

hush_guest::export!(run);
