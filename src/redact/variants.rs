//! The encodings of one secret value that the redactor searches for; pure byte functions,
//! and never logs, prints or stores what it computes.
//!
//! Every function here returns candidate patterns; [`variants`] applies the length rule
//! (only the raw value may be shorter than [`MIN_VARIANT_LEN`]) and removes duplicates.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// A derived pattern shorter than this is dropped: it would redact innocent text.
pub const MIN_VARIANT_LEN: usize = 8;

/// RFC 3986: everything but the unreserved characters `A-Z a-z 0-9 - . _ ~`.
const URL_STRICT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// WHATWG `application/x-www-form-urlencoded`: keeps `* - . _`, space becomes `+`.
const URL_FORM: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// JavaScript `encodeURIComponent`: keeps `- _ . ! ~ * ' ( )`.
const URL_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Every pattern that stands for `value`: the raw bytes first, then the trimmed lines of a
/// multi-line value and the JSON, URL, base64, hex and XML encodings. Deduplicated; every
/// entry but the raw value is at least [`MIN_VARIANT_LEN`] bytes long. Empty for an empty
/// value.
pub fn variants(value: &[u8]) -> Vec<Vec<u8>> {
    if value.is_empty() {
        return Vec::new();
    }
    let mut out: Vec<Vec<u8>> = vec![value.to_vec()];
    let mut add = |candidate: Vec<u8>| {
        if candidate.len() >= MIN_VARIANT_LEN && !out.contains(&candidate) {
            out.push(candidate);
        }
    };
    for line in lines(value) {
        add(line.to_vec());
    }
    for v in json_escapes(value) {
        add(v);
    }
    for v in url_encodings(value) {
        add(v);
    }
    for v in base64_encodings(value) {
        add(v);
    }
    add(hex::encode(value).into_bytes());
    add(hex::encode_upper(value).into_bytes());
    for v in xml_escapes(value) {
        add(v);
    }
    out
}

/// The lines of a multi-line value, each trimmed of ASCII whitespace (`\r\n` and `\n`).
fn lines(value: &[u8]) -> Vec<&[u8]> {
    if !value.contains(&b'\n') && !value.contains(&b'\r') {
        return Vec::new();
    }
    value
        .split(|&b| b == b'\n' || b == b'\r')
        .map(<[u8]>::trim_ascii)
        .filter(|line| !line.is_empty())
        .collect()
}

/// The body of a JSON string literal holding `value` (no quotes): serde_json's form, the
/// ASCII-only form (`\u00e9`, surrogate pairs) in lower and upper case, `\/` for `/`,
/// Rust's `Debug` form, and the JSON and `Debug` forms escaped once more by JSON.
/// A value that is not UTF-8 cannot appear in JSON text as such and yields nothing.
fn json_escapes(value: &[u8]) -> Vec<Vec<u8>> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Vec::new();
    };
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    let plain = quoted[1..quoted.len() - 1].to_owned();
    let mut ascii_lower = String::with_capacity(plain.len());
    let mut ascii_upper = String::with_capacity(plain.len());
    for c in plain.chars() {
        if c.is_ascii() {
            ascii_lower.push(c);
            ascii_upper.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                ascii_lower.push_str(&format!("\\u{unit:04x}"));
                ascii_upper.push_str(&format!("\\u{unit:04X}"));
            }
        }
    }
    let slash = plain.replace('/', "\\/");
    let ascii_slash = ascii_lower.replace('/', "\\/");
    // Rust's `{:?}` of a string (a value inside a logged struct), and each of those forms
    // escaped once more, as a JSON log line does with a field that is already escaped.
    let debug = format!("{text:?}");
    let debug = debug[1..debug.len() - 1].to_owned();
    let twice = |s: &str| {
        let q = serde_json::Value::String(s.to_owned()).to_string();
        q[1..q.len() - 1].to_owned()
    };
    let json_twice = twice(&plain);
    let debug_json = twice(&debug);
    [
        plain,
        ascii_lower,
        ascii_upper,
        slash,
        ascii_slash,
        debug,
        json_twice,
        debug_json,
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect()
}

/// Percent-encodings under the four sets in common use (everything but alphanumerics,
/// RFC 3986, form, `encodeURIComponent`), each with upper- and lower-case
/// hex digits, plus the form encoding with `+` for space.
fn url_encodings(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for set in [NON_ALPHANUMERIC, URL_STRICT, URL_FORM, URL_COMPONENT] {
        let upper = percent_encoding::percent_encode(value, set).to_string();
        out.push(lowercase_percent_hex(&upper).into_bytes());
        out.push(upper.into_bytes());
    }
    let form = form_encode(value);
    out.push(lowercase_percent_hex(&form).into_bytes());
    out.push(form.into_bytes());
    // Most encoders work on UTF-8 text; keep the strict encoding of a UTF-8 value too.
    if let Ok(text) = std::str::from_utf8(value) {
        out.push(
            utf8_percent_encode(text, URL_STRICT)
                .to_string()
                .into_bytes(),
        );
    }
    out
}

/// `application/x-www-form-urlencoded`: space as `+`, everything else as in [`URL_FORM`].
fn form_encode(value: &[u8]) -> String {
    value
        .split(|&b| b == b' ')
        .map(|part| percent_encoding::percent_encode(part, URL_FORM).to_string())
        .collect::<Vec<_>>()
        .join("+")
}

/// Lower-cases the two hex digits after every `%`.
fn lowercase_percent_hex(encoded: &str) -> String {
    let mut out = encoded.as_bytes().to_vec();
    let mut i = 0;
    while i < out.len() {
        if out[i] == b'%' {
            for b in out.iter_mut().skip(i + 1).take(2) {
                b.make_ascii_lowercase();
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("percent-encoded text is ASCII")
}

/// Base64 in the standard and URL-safe alphabets: the whole value, padded and unpadded, and
/// for each of the three byte alignments inside a larger blob the stable core — the
/// characters that depend only on the value's own bits.
fn base64_encodings(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        STANDARD.encode(value).into_bytes(),
        STANDARD_NO_PAD.encode(value).into_bytes(),
        URL_SAFE.encode(value).into_bytes(),
        URL_SAFE_NO_PAD.encode(value).into_bytes(),
    ];
    for core in base64_cores(value) {
        let url: Vec<u8> = core
            .iter()
            .map(|&c| match c {
                b'+' => b'-',
                b'/' => b'_',
                c => c,
            })
            .collect();
        out.push(core);
        out.push(url);
    }
    out
}

/// For each offset `o` in 0..3: encode `o` unknown bytes followed by `value`, and keep the
/// characters whose 6 bits lie wholly inside the value: from `ceil(8o/6)` up to
/// `floor(8(o+n)/6)`. A value of 8 bytes or more keeps at least 8 characters.
pub(crate) fn base64_cores(value: &[u8]) -> Vec<Vec<u8>> {
    let n = value.len();
    (0..3usize)
        .map(|o| {
            let mut buf = vec![0u8; o];
            buf.extend_from_slice(value);
            let encoded = STANDARD_NO_PAD.encode(&buf).into_bytes();
            let start = (8 * o).div_ceil(6);
            let end = (8 * (o + n)) / 6;
            if start >= end {
                Vec::new()
            } else {
                encoded[start..end].to_vec()
            }
        })
        .collect()
}

/// XML/HTML entity escapes: `& < >` always, quotes in each common spelling
/// (`&quot;`/`&#34;`, `&#39;`/`&apos;`/`&#x27;`), and text-content escaping that leaves
/// quotes alone.
fn xml_escapes(value: &[u8]) -> Vec<Vec<u8>> {
    if !value
        .iter()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        return Vec::new();
    }
    const QUOTES: [(&[u8], &[u8]); 6] = [
        (b"&quot;", b"&#39;"),
        (b"&quot;", b"&apos;"),
        (b"&quot;", b"&#x27;"),
        (b"&#34;", b"&#39;"),
        (b"&#x22;", b"&#x27;"),
        (b"\"", b"'"),
    ];
    QUOTES
        .iter()
        .map(|(dq, sq)| {
            let mut out = Vec::with_capacity(value.len() + 16);
            for &b in value {
                match b {
                    b'&' => out.extend_from_slice(b"&amp;"),
                    b'<' => out.extend_from_slice(b"&lt;"),
                    b'>' => out.extend_from_slice(b"&gt;"),
                    b'"' => out.extend_from_slice(dq),
                    b'\'' => out.extend_from_slice(sq),
                    b => out.push(b),
                }
            }
            out
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_cores_appear_inside_basic_auth_blobs_at_every_alignment() {
        let secret = b"hunter2-password";
        for prefix in ["u:", "us:", "use:", "user:", "a", ""] {
            let mut blob = prefix.as_bytes().to_vec();
            blob.extend_from_slice(secret);
            blob.extend_from_slice(b"@tail");
            let encoded = STANDARD.encode(&blob);
            let found = base64_cores(secret)
                .iter()
                .any(|core| encoded.as_bytes().windows(core.len()).any(|w| w == core));
            assert!(found, "prefix {prefix:?}");
        }
    }

    #[test]
    fn base64_cores_of_eight_bytes_keep_at_least_eight_chars() {
        for core in base64_cores(b"12345678") {
            assert!(core.len() >= 8, "{}", core.len());
        }
    }

    #[test]
    fn variants_are_deduplicated_and_long_enough() {
        let all = variants(b"abcdefgh");
        for (i, v) in all.iter().enumerate() {
            assert!(i == 0 || v.len() >= MIN_VARIANT_LEN);
            assert_eq!(all.iter().filter(|w| *w == v).count(), 1);
        }
        assert_eq!(variants(b"abc"), vec![b"abc".to_vec()]);
        assert!(variants(b"").is_empty());
    }

    #[test]
    fn lower_and_upper_percent_hex_both_present() {
        let all = variants(b"a b/c?d=e&f");
        assert!(all.contains(&b"a%20b%2Fc%3Fd%3De%26f".to_vec()));
        assert!(all.contains(&b"a%20b%2fc%3fd%3de%26f".to_vec()));
        assert!(all.contains(&b"a+b%2Fc%3Fd%3De%26f".to_vec()));
    }
}
