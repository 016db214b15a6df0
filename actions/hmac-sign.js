//! Example action `hmac-sign` in JavaScript: has the host HMAC-SHA256-sign the payload with
// the key bound as `signing_key`; the key never enters the code (no `reveal`).
// Input: `payload` (a string, or JSON that is signed as its JSON text), optional `timestamp`.
export default async function run(input, { secrets, log }) {
  const key = secrets.signing_key;
  const payload = typeof input.payload === "string" ? input.payload : JSON.stringify(input.payload);
  const signed = input.timestamp === undefined || input.timestamp === null ? payload : `${input.timestamp}.${payload}`;
  const signatureHex = key.hmacSha256(signed);
  const signatureHeader = input.timestamp == null ? `v1=${signatureHex}` : `t=${input.timestamp},v1=${signatureHex}`;
  const signedBytes = new TextEncoder().encode(signed).length;
  log.info(`signed ${signedBytes} bytes: ${signatureHeader}`);
  return {
    algorithm: "HMAC-SHA256",
    signed_bytes: signedBytes,
    signature_hex: signatureHex,
    signature_base64: key.hmacSha256(signed, "base64"),
    signature_header: signatureHeader,
  };
}
