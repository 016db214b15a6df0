//! The encodings of one secret value that the redactor searches for; pure byte functions,
//! and never logs, prints or stores what it computes.
//!
//! Every function here returns candidate patterns; `spellings` (and [`variants`], its
//! bytes) applies the length rule (only the raw value and its trimmed form may be shorter
//! than [`MIN_VARIANT_LEN`]) and removes duplicates. A spelling marks the hex digits a
//! writer may put in either case; the redactor matches those ignoring case.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

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

/// One pattern of a value and how the redactor compares it with text. (No `Debug`: it
/// holds an encoding of a value.)
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Spelling {
    /// The pattern; where it holds hex digits they are lower case.
    pub(crate) bytes: Vec<u8>,
    /// `hex[i]`: byte `i` is a hex digit that a writer may spell in either case (every
    /// such byte is matched ignoring ASCII case). Empty: the pattern is matched exactly.
    pub(crate) hex: Vec<bool>,
    /// For a spelling that starts with an escape's fixed syntax (`\u00`, `&#x`), how many
    /// leading bytes say where it may start: the same for every value, so a searcher for
    /// starts can share them. `None`: any prefix.
    pub(crate) lead: Option<usize>,
}

impl Spelling {
    fn exact(bytes: Vec<u8>) -> Spelling {
        Spelling {
            bytes,
            hex: Vec::new(),
            lead: None,
        }
    }

    fn lead(mut self, n: usize) -> Spelling {
        self.lead = Some(n);
        self
    }

    /// Whether some byte may be written in either case.
    pub(crate) fn folds(&self) -> bool {
        self.hex.iter().any(|&h| h)
    }

    /// The pattern with every foldable hex digit in upper case.
    fn upper(&self) -> Vec<u8> {
        self.bytes
            .iter()
            .zip(self.hex.iter().chain(std::iter::repeat(&false)))
            .map(|(&b, &h)| if h { b.to_ascii_uppercase() } else { b })
            .collect()
    }
}

/// Builds a [`Spelling`] whose hex digits are marked as foldable.
#[derive(Default)]
struct Speller {
    bytes: Vec<u8>,
    hex: Vec<bool>,
}

impl Speller {
    fn byte(&mut self, b: u8, hex: bool) -> &mut Self {
        self.bytes.push(b);
        self.hex.push(hex);
        self
    }

    fn text(&mut self, s: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(s);
        self.hex.extend(std::iter::repeat_n(false, s.len()));
        self
    }

    /// `digits` lower-case hex digits of `n`.
    fn hex(&mut self, n: u32, digits: usize) -> &mut Self {
        for i in (0..digits).rev() {
            let d = (n >> (4 * i)) & 0xf;
            self.bytes.push(b"0123456789abcdef"[d as usize]);
            self.hex.push(d >= 10);
        }
        self
    }

    fn done(self) -> Spelling {
        if self.hex.iter().any(|&h| h) {
            Spelling {
                bytes: self.bytes,
                hex: self.hex,
                lead: None,
            }
        } else {
            Spelling::exact(self.bytes)
        }
    }
}

/// Every pattern that stands for `value`, as bytes: the raw value first, then its other
/// spellings; a spelling whose hex digits may be in either case comes in lower and in
/// upper case (the redactor itself matches such digits in any mix of cases).
/// Deduplicated; every entry but the raw value (and a trimmed raw value) is at least
/// `MIN_VARIANT_LEN` bytes long. Empty for an empty value.
pub fn variants(value: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for s in spellings(value) {
        let upper = s.upper();
        for v in [s.bytes, upper] {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

/// Every spelling of `value` the redactor searches for (see [`variants`]); a spelling
/// that differs from another only in the case of foldable hex digits is listed once.
pub(crate) fn spellings(value: &[u8]) -> Vec<Spelling> {
    if value.is_empty() {
        return Vec::new();
    }
    let mut out = vec![Spelling::exact(value.to_vec())];
    let trimmed = value.trim_ascii();
    // A server trims white space around a header value and may echo it so; the trimmed
    // value is a raw value of its own, with every encoding of it.
    let trimmed_too = trimmed.len() != value.len() && trimmed.len() >= MIN_TRIMMED_LEN;
    if trimmed_too {
        out.push(Spelling::exact(trimmed.to_vec()));
    }
    let mut add = |candidate: Spelling| {
        if candidate.bytes.len() < MIN_VARIANT_LEN {
            return;
        }
        match out.iter().position(|s| s.bytes == candidate.bytes) {
            // The same bytes matched exactly and ignoring the case of hex digits: keep
            // the wider.
            Some(i) if !out[i].folds() && candidate.folds() => out[i] = candidate,
            Some(_) => {}
            None => out.push(candidate),
        }
    };
    for v in derived(value) {
        add(v);
    }
    if trimmed_too {
        for v in derived(trimmed) {
            add(v);
        }
    }
    out
}

/// A trimmed value shorter than this is not searched for on its own.
const MIN_TRIMMED_LEN: usize = 4;

/// Every spelling of `value` but the raw bytes, before the length rule.
fn derived(value: &[u8]) -> Vec<Spelling> {
    let mut out: Vec<Spelling> = Vec::new();
    for line in lines(value) {
        out.push(Spelling::exact(line.to_vec()));
    }
    out.extend(case_and_host_forms(value));
    // A JSON document holding the value, base64-encoded (a token, a cookie): the string
    // as serde_json writes it, and in its ASCII-only form.
    let json = json_escapes(value);
    for v in json.iter().take(2) {
        if v.bytes != value {
            out.extend(base64_encodings(&v.bytes).into_iter().map(Spelling::exact));
        }
    }
    out.extend(json);
    out.extend(url_encodings(value));
    out.extend(base64_encodings(value).into_iter().map(Spelling::exact));
    out.extend(hex_encodings(value));
    out.extend(xml_escapes(value));
    out
}

/// The value lower-cased (ASCII, and Unicode when it is text), and as a host name comes
/// out of a URL parser: lower-cased, IDNA-mapped and punycode-encoded (`xn--…`), when
/// the value can be a host at all.
fn case_and_host_forms(value: &[u8]) -> Vec<Spelling> {
    let mut out = vec![Spelling::exact(value.to_ascii_lowercase())];
    let Ok(text) = std::str::from_utf8(value) else {
        return out;
    };
    out.push(Spelling::exact(text.to_lowercase().into_bytes()));
    let mut host = |s: &str| {
        if let Ok(url::Host::Domain(d)) = url::Host::parse(s) {
            out.push(Spelling::exact(d.into_bytes()));
        }
    };
    host(text);
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
/// ASCII-only form (`\u00e9`, surrogate pairs), `\/` for `/`, Rust's `Debug` form, the
/// JSON and `Debug` forms escaped once more by JSON, and every character written as a
/// `\uXXXX` escape (as some JSON and JavaScript encoders write all text), also escaped
/// once more. serde_json's form comes first, the ASCII-only form second. A value that is
/// not UTF-8 cannot appear in JSON text as such and yields nothing.
fn json_escapes(value: &[u8]) -> Vec<Spelling> {
    let Ok(text) = std::str::from_utf8(value) else {
        return Vec::new();
    };
    let quoted = serde_json::Value::String(text.to_owned()).to_string();
    let plain = quoted[1..quoted.len() - 1].to_owned();
    let ascii = |slash: bool| {
        let mut s = Speller::default();
        for c in plain.chars() {
            if c == '/' && slash {
                s.text(b"\\/");
            } else if c.is_ascii() {
                s.text(&[c as u8]);
            } else {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    s.text(b"\\u").hex(u32::from(*unit), 4);
                }
            }
        }
        s.done()
    };
    // Every character as `\uXXXX`, and that escaped once more (`\\uXXXX`).
    let every = |prefix: &[u8]| {
        let mut s = Speller::default();
        for c in text.chars() {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                s.text(prefix).hex(u32::from(*unit), 4);
            }
        }
        s.done()
    };
    let slash = plain.replace('/', "\\/");
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
    let mut out = vec![Spelling::exact(plain.clone().into_bytes())];
    out.extend([
        ascii(false),
        ascii(true),
        every(b"\\u").lead(4),
        every(b"\\\\u").lead(4),
    ]);
    out.extend(
        [slash, debug, json_twice, debug_json]
            .into_iter()
            .map(|s| Spelling::exact(s.into_bytes())),
    );
    out
}

/// Percent-encodings under the sets in common use (everything but alphanumerics,
/// RFC 3986, WHATWG form, `encodeURIComponent`, Python `quote`), each also encoded once
/// more (`%2520`); and the form encodings with `+` for space as WHATWG/Java, Python
/// `quote_plus`/Go `QueryEscape`/Ruby `CGI.escape` and PHP `urlencode` write them, also
/// encoded twice. Hex digits match in either case.
fn url_encodings(value: &[u8]) -> Vec<Spelling> {
    let raw = Spelling::exact(value.to_vec());
    let mut out = Vec::new();
    for set in [
        NON_ALPHANUMERIC,
        URL_STRICT,
        URL_FORM,
        URL_COMPONENT,
        URL_PATH,
    ] {
        let once = percent_encoded(&raw, set, false);
        out.push(percent_encoded(&once, set, false));
        out.push(once);
    }
    for set in [URL_FORM, URL_QUERY_PLUS, URL_PHP] {
        let once = percent_encoded(&raw, set, true);
        out.push(percent_encoded(&once, set, false));
        out.push(percent_encoded(&once, URL_STRICT, false));
        out.push(once);
    }
    out
}

/// Python `urllib.parse.quote` (default `safe='/'`): RFC 3986 plus `/` kept.
const URL_PATH: &AsciiSet = &URL_STRICT.remove(b'/');

/// Python `quote_plus`, Go `QueryEscape`, Ruby `CGI.escape`: keep `- _ . ~`, space as `+`.
const URL_QUERY_PLUS: &AsciiSet = URL_STRICT;

/// PHP `urlencode`: keeps `- _ .` (encodes `~`), space as `+`.
const URL_PHP: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

/// `input` with every byte in `set` (and every non-ASCII byte) written `%xx`, and a space
/// as `+` when `plus`; hex digits of `input` that stay keep their mark.
fn percent_encoded(input: &Spelling, set: &'static AsciiSet, plus: bool) -> Spelling {
    let mut s = Speller::default();
    for (i, &b) in input.bytes.iter().enumerate() {
        if plus && b == b' ' {
            s.text(b"+");
        } else if percent_encoding::percent_encode(&[b], set)
            .next()
            .is_some_and(|piece| piece.starts_with('%'))
        {
            s.text(b"%").hex(u32::from(b), 2);
        } else {
            s.byte(b, input.hex.get(i).copied().unwrap_or(false));
        }
    }
    s.done()
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

/// Hex: the bytes as hex digits, which match in either case.
fn hex_encodings(value: &[u8]) -> Vec<Spelling> {
    let mut plain = Speller::default();
    for &b in value {
        plain.hex(u32::from(b), 2);
    }
    vec![plain.done()]
}

/// How an XML/HTML escaper writes a character it escapes numerically.
#[derive(Clone, Copy)]
enum Numeric {
    /// Left as it is.
    Raw,
    /// `&#233;`
    Dec,
    /// `&#xe9;` (hex digits in either case)
    Hex,
}

fn numeric_entity(s: &mut Speller, c: char, how: Numeric) {
    match how {
        Numeric::Raw => {
            let mut buf = [0u8; 4];
            s.text(c.encode_utf8(&mut buf).as_bytes());
        }
        Numeric::Dec => {
            s.text(format!("&#{};", u32::from(c)).as_bytes());
        }
        Numeric::Hex => {
            let n = u32::from(c);
            let digits = (32 - n.leading_zeros()).div_ceil(4).max(1) as usize;
            s.text(b"&#x").hex(n, digits).text(b";");
        }
    }
}

/// XML/HTML escapes: `& < >` with quotes in each common spelling (`&quot;`/`&#34;`,
/// `&#39;`/`&apos;`/`&#x27;`, PHP's `&#039;`), text-content escaping that leaves quotes
/// alone, each with non-ASCII characters kept or as numeric entities (Python's
/// `xmlcharrefreplace`); every character as a decimal or hex entity; and numeric entities
/// for just the five special characters, or for every character that is not a letter or
/// digit (as OWASP-style encoders write them).
fn xml_escapes(value: &[u8]) -> Vec<Spelling> {
    let text = std::str::from_utf8(value).ok();
    let special = |c: char| matches!(c, '&' | '<' | '>' | '"' | '\'');
    let non_ascii = !value.is_ascii();
    let mut out = Vec::new();
    if value.iter().any(|&b| special(char::from(b))) {
        const QUOTES: [(&str, &str); 7] = [
            ("&quot;", "&#39;"),
            ("&quot;", "&apos;"),
            ("&quot;", "&#x27;"),
            ("&quot;", "&#039;"),
            ("&#34;", "&#39;"),
            ("&#x22;", "&#x27;"),
            ("\"", "'"),
        ];
        for (dq, sq) in QUOTES {
            let mut s = Speller::default();
            for &b in value {
                s.text(match b {
                    b'&' => b"&amp;",
                    b'<' => b"&lt;",
                    b'>' => b"&gt;",
                    b'"' => dq.as_bytes(),
                    b'\'' => sq.as_bytes(),
                    _ => std::slice::from_ref(&b),
                });
            }
            out.push(s.done());
            // Non-ASCII characters as numeric entities too (Python's xmlcharrefreplace).
            let Some(text) = text.filter(|_| non_ascii) else {
                continue;
            };
            for rest in [Numeric::Dec, Numeric::Hex] {
                let mut s = Speller::default();
                for c in text.chars() {
                    let named: &str = match c {
                        '&' => "&amp;",
                        '<' => "&lt;",
                        '>' => "&gt;",
                        '"' => dq,
                        '\'' => sq,
                        c => {
                            let how = if c.is_ascii() { Numeric::Raw } else { rest };
                            numeric_entity(&mut s, c, how);
                            continue;
                        }
                    };
                    s.text(named.as_bytes());
                }
                out.push(s.done());
            }
        }
    }
    let Some(text) = text else {
        return out;
    };
    let every = |escape: &dyn Fn(char) -> bool, how: Numeric, rest: Numeric| {
        let mut s = Speller::default();
        for c in text.chars() {
            if escape(c) {
                numeric_entity(&mut s, c, how);
            } else if !c.is_ascii() {
                numeric_entity(&mut s, c, rest);
            } else {
                numeric_entity(&mut s, c, Numeric::Raw);
            }
        }
        s.done()
    };
    for how in [Numeric::Dec, Numeric::Hex] {
        out.push(every(&|_: char| true, how, how).lead(3));
        for rest in [Numeric::Raw, how] {
            if !non_ascii && !matches!(rest, Numeric::Raw) {
                continue;
            }
            out.push(every(&special, how, rest));
            out.push(every(&|c: char| !c.is_alphanumeric(), how, rest));
        }
    }
    out
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
        let short = variants(b"abc");
        assert_eq!(short[0], b"abc");
        assert!(short[1..].iter().all(|v| v.len() >= MIN_VARIANT_LEN));
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
