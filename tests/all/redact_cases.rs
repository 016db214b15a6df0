//! A table of redaction cases: every encoding, base64 alignment, overlap and nesting case,
//! multi-line values, labels, and clean text that must pass through unchanged. Each case
//! runs one-shot and through the stream at several chunk sizes.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use hush::redact::{Redactor, StreamRedactor, variants};

enum Expect {
    /// The output must equal this exactly.
    Exact(Vec<u8>),
    /// The output must contain every `needle` and no variant of any secret.
    Redacted(Vec<&'static str>),
}

struct Case {
    name: &'static str,
    secrets: Vec<(&'static str, Vec<u8>)>,
    input: Vec<u8>,
    expect: Expect,
}

fn case(
    name: &'static str,
    secrets: &[(&'static str, &[u8])],
    input: impl Into<Vec<u8>>,
    expect: Expect,
) -> Case {
    Case {
        name,
        secrets: secrets.iter().map(|(n, v)| (*n, v.to_vec())).collect(),
        input: input.into(),
        expect,
    }
}

fn exact(s: impl Into<Vec<u8>>) -> Expect {
    Expect::Exact(s.into())
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const S: &[u8] = b"p@ss w/rd&x=1\"<'>";
const K: &[u8] = b"sk_live_0123456789abcdef";
/// Space, `~` and `*`, which the form encoders treat differently.
const V: &[u8] = b"a b~c*d/e-f_g.h";

/// A value as a URL parser writes a host: lower-cased, IDNA-encoded.
fn idna(value: &str) -> String {
    match url::Host::parse(value).unwrap() {
        url::Host::Domain(d) => d,
        other => panic!("{other:?}"),
    }
}

fn cases() -> Vec<Case> {
    vec![
        // --- raw ---
        case("raw value", &[("key", K)], cat(&[b"token=", K, b";"]), exact("token=[REDACTED:key];")),
        case("raw value at start and end", &[("key", K)], cat(&[K, b" ", K]), exact("[REDACTED:key] [REDACTED:key]")),
        case("raw value repeated back to back", &[("key", K)], cat(&[K, K]), exact("[REDACTED:key][REDACTED:key]")),
        case("name appears in label", &[("stripe-live", K)], cat(&[b"a ", K, b" b"]), exact("a [REDACTED:stripe-live] b")),
        case("short whole value still redacted", &[("pin", b"4821")], "pin=4821!", exact("pin=[REDACTED:pin]!")),
        case("non-utf8 value in non-utf8 text", &[("bin", b"\xff\xfe\x00secret\x80\x81")], b"\x01\xff\xfe\x00secret\x80\x81\x02".to_vec(), exact(b"\x01[REDACTED:bin]\x02".to_vec())),
        // --- JSON ---
        case("json escaped quotes backslash slash", &[("key", br#"pa"ss\wo/rd-1"#)], br#"{"p":"pa\"ss\\wo/rd-1"}"#.to_vec(), exact(r#"{"p":"[REDACTED:key]"}"#)),
        case("json escaped solidus", &[("key", b"a/b/c/d/e/f")], br#"{"p":"a\/b\/c\/d\/e\/f"}"#.to_vec(), exact(r#"{"p":"[REDACTED:key]"}"#)),
        case("json newline escape", &[("key", b"line-one\nline-two")], br#"{"p":"line-one\nline-two"}"#.to_vec(), exact(r#"{"p":"[REDACTED:key]"}"#)),
        case("json ascii-only unicode escape", &[("key", "pässwörd-123".as_bytes())], br#""p\u00e4ssw\u00f6rd-123""#.to_vec(), exact(r#""[REDACTED:key]""#)),
        case("json ascii-only unicode escape upper hex", &[("key", "pässwörd-123".as_bytes())], br#""p\u00E4ssw\u00F6rd-123""#.to_vec(), exact(r#""[REDACTED:key]""#)),
        case("json surrogate pair", &[("key", "emoji-😀-key".as_bytes())], br#""emoji-\ud83d\ude00-key""#.to_vec(), exact(r#""[REDACTED:key]""#)),
        // --- URL ---
        case("url upper hex", &[("key", S)], "q=p%40ss%20w%2Frd%26x%3D1%22%3C%27%3E&z", exact("q=[REDACTED:key]&z")),
        case("url lower hex", &[("key", S)], "q=p%40ss%20w%2frd%26x%3d1%22%3c%27%3e&z", exact("q=[REDACTED:key]&z")),
        case("url form encoding plus for space", &[("key", S)], "q=p%40ss+w%2Frd%26x%3D1%22%3C%27%3E&z", exact("q=[REDACTED:key]&z")),
        case("url form encoding lower hex", &[("key", S)], "q=p%40ss+w%2frd%26x%3d1%22%3c%27%3e&z", exact("q=[REDACTED:key]&z")),
        case("url encodeURIComponent keeps quote", &[("key", S)], "q=p%40ss%20w%2Frd%26x%3D1%22%3C'%3E&z", exact("q=[REDACTED:key]&z")),
        case("url utf8 value", &[("key", "clé-secrète".as_bytes())], "k=cl%C3%A9-secr%C3%A8te", exact("k=[REDACTED:key]")),
        // --- base64 whole value ---
        case("base64 standard padded", &[("key", K)], format!("v={}.", STANDARD.encode(K)), exact("v=[REDACTED:key].")),
        case("base64 standard unpadded", &[("key", K)], format!("v={}.", STANDARD_NO_PAD.encode(K)), exact("v=[REDACTED:key].")),
        case("base64 url-safe padded", &[("key", b"\xfb\xff\xfe>>>???~~~")], format!("v={}.", URL_SAFE.encode(b"\xfb\xff\xfe>>>???~~~")), exact("v=[REDACTED:key].")),
        case("base64 url-safe unpadded", &[("key", b"\xfb\xff\xfe>>>???~~~")], format!("v={}.", URL_SAFE_NO_PAD.encode(b"\xfb\xff\xfe>>>???~~~")), exact("v=[REDACTED:key].")),
        // --- base64 inside a larger blob, three alignments ---
        case("basic auth alignment 0", &[("key", K)], format!("Authorization: Basic {}", STANDARD.encode(cat(&[b"abc:", K]))), Expect::Redacted(vec!["Authorization: Basic ", "[REDACTED:key]"])),
        case("basic auth alignment 1", &[("key", K)], format!("Authorization: Basic {}", STANDARD.encode(cat(&[b"user:", K]))), Expect::Redacted(vec!["Authorization: Basic ", "[REDACTED:key]"])),
        case("basic auth alignment 2", &[("key", K)], format!("Authorization: Basic {}", STANDARD.encode(cat(&[b"users:", K]))), Expect::Redacted(vec!["Authorization: Basic ", "[REDACTED:key]"])),
        case("url-safe blob alignment 1 with suffix", &[("key", b"\xfb\xff\xfe>>>???~~~")], URL_SAFE_NO_PAD.encode(cat(&[b"x", b"\xfb\xff\xfe>>>???~~~", b"tail"])), Expect::Redacted(vec!["[REDACTED:key]"])),
        // --- hex ---
        case("hex lower", &[("key", K)], format!("h={}", hex::encode(K)), exact("h=[REDACTED:key]")),
        case("hex upper", &[("key", K)], format!("h={}", hex::encode_upper(K)), exact("h=[REDACTED:key]")),
        // --- XML / HTML ---
        case("xml quot and #39", &[("key", S)], "<a v=\"p@ss w/rd&amp;x=1&quot;&lt;&#39;&gt;\"/>", exact("<a v=\"[REDACTED:key]\"/>")),
        case("xml apos", &[("key", S)], "<a>p@ss w/rd&amp;x=1&quot;&lt;&apos;&gt;</a>", exact("<a>[REDACTED:key]</a>")),
        case("xml hex apostrophe", &[("key", S)], "<a>p@ss w/rd&amp;x=1&quot;&lt;&#x27;&gt;</a>", exact("<a>[REDACTED:key]</a>")),
        case("html text escaping leaves quotes", &[("key", S)], "<p>p@ss w/rd&amp;x=1\"&lt;'&gt;</p>", exact("<p>[REDACTED:key]</p>")),
        // --- multi-line values ---
        case(
            "multi-line value: each long line alone",
            &[("pem", b"-----BEGIN KEY-----\r\n  MIIBOgIBAAJBAKj34GkxFhD90vcNLYLIn  \r\nabc\r\n-----END KEY-----")],
            "line: MIIBOgIBAAJBAKj34GkxFhD90vcNLYLIn\nshort: abc\nend: -----END KEY-----",
            exact("line: [REDACTED:pem]\nshort: abc\nend: [REDACTED:pem]"),
        ),
        case(
            "multi-line value whole",
            &[("pem", b"first-line-of-key\nsecond-line-of-key")],
            "x first-line-of-key\nsecond-line-of-key y",
            exact("x [REDACTED:pem] y"),
        ),
        // --- overlap and nesting ---
        case("two secrets overlapping: union, first name", &[("a", b"abcdefgh-1234"), ("b", b"1234-ijklmnop")], "<abcdefgh-1234-ijklmnop>", exact("<[REDACTED:a]>")),
        case("overlap order independent of secret order", &[("b", b"1234-ijklmnop"), ("a", b"abcdefgh-1234")], "<abcdefgh-1234-ijklmnop>", exact("<[REDACTED:a]>")),
        case("secret inside secret: outer name", &[("inner", b"inner-secret"), ("outer", b"[outer-inner-secret-x]")], "= [outer-inner-secret-x] =", exact("= [REDACTED:outer] =")),
        case("secret inside secret: inner alone", &[("inner", b"inner-secret"), ("outer", b"[outer-inner-secret-x]")], "= inner-secret =", exact("= [REDACTED:inner] =")),
        case("same start: longest wins", &[("short", b"samestart-1"), ("long", b"samestart-1-and-more")], "(samestart-1-and-more)", exact("([REDACTED:long])")),
        case("variant of one inside another", &[("b", b"innerpass1"), ("a", b"pre-696e6e657270617373312d-post")], "x pre-696e6e657270617373312d-post x", exact("x [REDACTED:a] x")),
        case("hex variant of b alone", &[("b", b"innerpass1"), ("a", b"pre-696e6e657270617373312d-post")], "x 696e6e657270617373312d x", exact("x [REDACTED:b]2d x")),
        case("chain of three overlapping", &[("a", b"aaaa-bbbb"), ("b", b"bbbb-cccc"), ("c", b"cccc-dddd")], "aaaa-bbbb-cccc-dddd!", exact("[REDACTED:a]!")),
        case("adjacent secrets stay two labels", &[("a", b"first-secret"), ("b", b"second-secret")], "first-secretsecond-secret", exact("[REDACTED:a][REDACTED:b]")),
        case("self-overlapping value", &[("r", b"abababab")], "xabababababababx", exact("x[REDACTED:r]x")),
        // --- form encodings: space as `+`, and what each writer keeps ---
        case("form python quote_plus / go QueryEscape keep ~", &[("key", V)], "q=a+b~c%2Ad%2Fe-f_g.h&z", exact("q=[REDACTED:key]&z")),
        case("form php urlencode encodes ~", &[("key", V)], "q=a+b%7Ec%2Ad%2Fe-f_g.h&z", exact("q=[REDACTED:key]&z")),
        case("form whatwg keeps *", &[("key", V)], "q=a+b%7Ec*d%2Fe-f_g.h&z", exact("q=[REDACTED:key]&z")),
        case("python quote keeps /", &[("key", V)], "p=a%20b~c%2Ad/e-f_g.h&z", exact("p=[REDACTED:key]&z")),
        case("double percent-encoding", &[("key", V)], "q=a%2520b~c%252Ad%252Fe-f_g.h&z", exact("q=[REDACTED:key]&z")),
        case("double percent-encoding of the form", &[("key", V)], "q=a%2Bb%257Ec%252Ad%252Fe-f_g.h&z", exact("q=[REDACTED:key]&z")),
        case("percent hex in mixed case", &[("key", S)], "q=p%40ss%20w%2frd%26x%3D1%22%3c%27%3E&z", exact("q=[REDACTED:key]&z")),
        // --- base64 of the JSON-escaped value ---
        case("base64 of the JSON string", &[("key", S)], format!("t={}.", STANDARD.encode(serde_json::to_string(std::str::from_utf8(S).unwrap()).unwrap())), Expect::Redacted(vec!["t=", "[REDACTED:key]"])),
        case("base64 of a JSON document", &[("key", S)], STANDARD.encode(serde_json::json!({"u": 1, "token": std::str::from_utf8(S).unwrap()}).to_string()), Expect::Redacted(vec!["[REDACTED:key]"])),
        // --- HTML numeric entities ---
        case("html decimal entity for every char", &[("key", S)], format!("<i>{}</i>", S.iter().map(|b| format!("&#{b};")).collect::<String>()), exact("<i>[REDACTED:key]</i>")),
        case("html hex entity for every char, mixed case", &[("key", S)], format!("<i>{}</i>", S.iter().enumerate().map(|(i, b)| if i % 2 == 0 { format!("&#x{b:X};") } else { format!("&#x{b:x};") }).collect::<String>()), exact("<i>[REDACTED:key]</i>")),
        case("html numeric entities for the specials only", &[("key", S)], "<p>p@ss w/rd&#38;x=1&#34;&#60;&#39;&#62;</p>", exact("<p>[REDACTED:key]</p>")),
        case("html hex entities for the specials only", &[("key", S)], "<p>p@ss w/rd&#x26;x=1&#x22;&#x3C;&#x27;&#x3e;</p>", exact("<p>[REDACTED:key]</p>")),
        case("php htmlspecialchars &#039;", &[("key", S)], "<p>p@ss w/rd&amp;x=1&quot;&lt;&#039;&gt;</p>", exact("<p>[REDACTED:key]</p>")),
        case("non-ascii as numeric entities (xmlcharrefreplace)", &[("key", "clé&secrète".as_bytes())], "<p>cl&#233;&amp;secr&#232;te</p>", exact("<p>[REDACTED:key]</p>")),
        // --- hex and \u escapes in any case ---
        case("hex mixed case", &[("key", K)], format!("h={}", hex::encode(K).chars().enumerate().map(|(i, c)| if i % 3 == 0 { c.to_ascii_uppercase() } else { c }).collect::<String>()), exact("h=[REDACTED:key]")),
        case("\\u escape of every char, lower hex", &[("key", S)], format!("\"{}\"", S.iter().map(|b| format!("\\u{b:04x}")).collect::<String>()), exact("\"[REDACTED:key]\"")),
        case("\\u escape of every char, upper hex", &[("key", S)], format!("\"{}\"", S.iter().map(|b| format!("\\u{b:04X}")).collect::<String>()), exact("\"[REDACTED:key]\"")),
        case("\\u escape of every char, mixed hex", &[("key", S)], format!("\"{}\"", S.iter().enumerate().map(|(i, b)| if i % 2 == 0 { format!("\\u{b:04X}") } else { format!("\\u{b:04x}") }).collect::<String>()), exact("\"[REDACTED:key]\"")),
        case("\\u escape of every char, escaped again", &[("key", S)], format!("\"{}\"", S.iter().map(|b| format!("\\\\u{b:04x}")).collect::<String>()), exact("\"[REDACTED:key]\"")),
        // --- case, host names, white space ---
        case("lower-cased value (as a host name)", &[("key", b"Sk-Live-Host-Key-42")], "could not resolve host sk-live-host-key-42.example.com", exact("could not resolve host [REDACTED:key].example.com")),
        case("idna form of a value", &[("key", "Sk-Ünï-Host-Key-42".as_bytes())], format!("host {}.example", idna("Sk-Ünï-Host-Key-42")), exact("host [REDACTED:key].example")),
        case("other cases of the value are not the value", &[("key", b"Sk-Live-Host-Key-42")], "SK-LIVE-HOST-KEY-42 sK-lIVE-hOST-kEY-42", exact("SK-LIVE-HOST-KEY-42 sK-lIVE-hOST-kEY-42")),
        case("value with white space around, echoed trimmed", &[("key", b"  padded-secret-42 \t")], "x-echo: padded-secret-42\r\n", exact("x-echo: [REDACTED:key]\r\n")),
        case("value with white space around, trimmed and base64", &[("key", b"  padded-secret-42 \t")], format!("v={}", STANDARD.encode("padded-secret-42")), exact("v=[REDACTED:key]")),
        // --- no secret: byte for byte ---
        case("clean text unchanged", &[("key", K)], "2026-01-01T00:00:00Z INFO request done path=/v1/runs status=200", exact("2026-01-01T00:00:00Z INFO request done path=/v1/runs status=200")),
        case("near miss unchanged", &[("key", K)], "sk_live_0123456789abcdeX sk_live_ sk_live_0123456789abcde", exact("sk_live_0123456789abcdeX sk_live_ sk_live_0123456789abcde")),
        case("invalid utf8 unchanged", &[("key", K)], b"\xff\xfe\xc3 sk_live_\x80".to_vec(), exact(b"\xff\xfe\xc3 sk_live_\x80".to_vec())),
        case("empty input", &[("key", K)], "", exact("")),
        case("empty value ignored", &[("empty", b"")], "nothing here", exact("nothing here")),
    ]
}

fn run_stream(r: &Arc<Redactor>, input: &[u8], chunk: usize) -> Vec<u8> {
    let mut s = StreamRedactor::new(Arc::clone(r));
    let mut out = Vec::new();
    for c in input.chunks(chunk) {
        s.push_into(c, &mut out);
    }
    out.extend(s.finish());
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn every_case_in_the_table_one_shot_and_streamed() {
    let mut failures = Vec::new();
    for c in cases() {
        let r = Arc::new(Redactor::new(c.secrets.iter().map(|(n, v)| (*n, v))));
        let one_shot = r.redact_bytes(&c.input).into_owned();
        match &c.expect {
            Expect::Exact(want) => {
                if &one_shot != want {
                    failures.push(format!(
                        "{}: got {:?}, want {:?}",
                        c.name,
                        String::from_utf8_lossy(&one_shot),
                        String::from_utf8_lossy(want)
                    ));
                }
            }
            Expect::Redacted(needles) => {
                for n in needles {
                    if !contains(&one_shot, n.as_bytes()) {
                        failures.push(format!("{}: lacks {n:?}", c.name));
                    }
                }
                for (_, v) in &c.secrets {
                    for variant in variants(v) {
                        if contains(&one_shot, &variant) {
                            failures.push(format!("{}: a variant survived", c.name));
                        }
                    }
                }
            }
        }
        for chunk in [1, 2, 3, 5, 8, 64] {
            let streamed = run_stream(&r, &c.input, chunk);
            if streamed != one_shot {
                failures.push(format!(
                    "{}: streamed in {chunk}-byte chunks {:?} != one-shot {:?}",
                    c.name,
                    String::from_utf8_lossy(&streamed),
                    String::from_utf8_lossy(&one_shot)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn basic_auth_blob_keeps_at_most_two_chars_of_the_secret_each_side() {
    // Only characters that mix secret bits with neighbouring bits may remain.
    for user in ["abc", "user", "users"] {
        let blob = STANDARD.encode(cat(&[user.as_bytes(), b":", K]));
        let r = Redactor::new([("key", K)]);
        let out = r.redact_str(&blob).into_owned();
        let (before, after) = out.split_once("[REDACTED:key]").expect("label present");
        let user_chars = (user.len() + 1) * 4 / 3;
        assert!(before.len() <= user_chars + 2, "{user}: {out}");
        assert!(after.trim_end_matches('=').len() <= 2, "{user}: {out}");
    }
}

#[test]
fn find_spans_reports_merged_spans_with_names() {
    let r = Redactor::new([("a", &b"abcdefgh-1234"[..]), ("b", &b"1234-ijklmnop"[..])]);
    let spans = r.find_spans(b"..abcdefgh-1234-ijklmnop..abcdefgh-1234");
    assert_eq!(spans, vec![(2..24, "a"), (26..39, "a")]);
}

#[test]
fn str_api_returns_borrowed_when_clean() {
    let r = Redactor::new([("key", K)]);
    assert!(matches!(
        r.redact_str("nothing to see"),
        std::borrow::Cow::Borrowed(_)
    ));
    assert!(!r.is_match(b"nothing to see"));
    assert!(r.is_match(K));
}

/// Deterministic pseudo-random secrets for the large-set tests.
fn many_secrets(n: usize, seed: u64, short_one: bool) -> Vec<(String, Vec<u8>)> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/+=&-_";
    let mut out: Vec<(String, Vec<u8>)> = (0..n)
        .map(|i| {
            let len = 12 + (next() % 20) as usize;
            let v = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            (format!("s{i}"), v)
        })
        .collect();
    if short_one {
        out.push(("pin".into(), b"Zq9".to_vec()));
    }
    out
}

#[test]
fn large_sets_use_every_search_strategy_and_redact_every_secret() {
    for (n, short_one, strategy) in [
        (5, false, "dfa+teddy"),
        (60, false, "dfa+grams"),
        (1200, false, "nfa+grams"),
        (60, true, "dfa"),
        (1200, true, "nfa"),
    ] {
        let secrets = many_secrets(n, 0x5EED + n as u64, short_one);
        let r = Arc::new(Redactor::new(secrets.iter().map(|(k, v)| (k, v))));
        assert_eq!(
            r.search_strategy(),
            strategy,
            "{n} secrets, short: {short_one}"
        );
        let mut text = Vec::new();
        let mut expected_labels = 0;
        for (i, (_, v)) in secrets.iter().enumerate().step_by(7) {
            text.extend_from_slice(format!("line {i} value=").as_bytes());
            let enc = match i % 4 {
                0 => v.clone(),
                1 => STANDARD.encode(cat(&[b"user:", v])).into_bytes(),
                2 => hex::encode(v).into_bytes(),
                _ => percent_encoding::percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                    .to_string()
                    .into_bytes(),
            };
            text.extend_from_slice(&enc);
            text.extend_from_slice(b" end\n");
            expected_labels += 1;
        }
        let out = r.redact_bytes(&text).into_owned();
        for (i, (_, v)) in secrets.iter().enumerate().step_by(7) {
            assert!(!contains(&out, v), "{strategy}: raw secret {i} survived");
            assert!(
                !contains(&out, hex::encode(v).as_bytes()),
                "{strategy}: hex {i}"
            );
        }
        let labels = out.windows(10).filter(|w| w == b"[REDACTED:").count();
        assert!(
            labels >= expected_labels,
            "{strategy}: {labels} < {expected_labels}"
        );
        assert_eq!(run_stream(&r, &text, 7), out, "{strategy}: stream differs");
        assert_eq!(
            run_stream(&r, &text, 4096),
            out,
            "{strategy}: stream differs"
        );
    }
}
