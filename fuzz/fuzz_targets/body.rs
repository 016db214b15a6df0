//! The body of the `stream_redact` fuzz target, shared with a stable-Rust test harness
//! (`tests/redact_fuzz_body.rs`): builds a redactor from input-derived secrets, pushes
//! input-derived text in input-derived chunks, and panics if a raw value survives or the
//! stream disagrees with one-shot redaction. It only reads its input.

use std::sync::Arc;

use hush::redact::{Redactor, StreamRedactor};

/// Splits `data` into secrets, chunk sizes and text, and checks the redactor on them.
pub fn check(data: &[u8]) {
    let mut input = Input(data);
    let n = usize::from(input.byte() % 4) + 1;
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for i in 0..n {
        let len = usize::from(input.byte() % 48) + 1;
        let value = input.take(len).to_vec();
        if !value.is_empty() {
            secrets.push((format!("s{i}"), value));
        }
    }
    let chunk_sizes: Vec<usize> = input
        .take(4)
        .iter()
        .map(|&b| usize::from(b % 17) + 1)
        .collect();
    // The text: remaining bytes, with secrets spliced in where a 0xFF byte says so.
    let mut text = Vec::new();
    let mut which = 0;
    for &b in input.rest() {
        if b == 0xFF && !secrets.is_empty() {
            text.extend_from_slice(&secrets[which % secrets.len()].1);
            which += 1;
        } else {
            text.push(b);
        }
    }

    let r = Arc::new(Redactor::new(secrets.iter().map(|(k, v)| (k, v))));
    let one_shot = r.redact_bytes(&text).into_owned();
    let mut stream = StreamRedactor::new(Arc::clone(&r));
    let mut out = Vec::new();
    let mut pos = 0;
    let mut c = 0;
    while pos < text.len() {
        let size = chunk_sizes
            .get(c % chunk_sizes.len().max(1))
            .copied()
            .unwrap_or(7);
        let end = (pos + size).min(text.len());
        stream.push_into(&text[pos..end], &mut out);
        assert!(stream.held_len() < r.max_pattern_len().max(1));
        pos = end;
        c += 1;
    }
    out.extend(stream.finish());
    assert_eq!(out, one_shot, "stream and one-shot redaction differ");

    let labels = label_spans(&out);
    for (_, value) in &secrets {
        let mut from = 0;
        while let Some(at) = find(&out[from..], value) {
            let span = from + at..from + at + value.len();
            // Text next to a label (or a label itself) can spell a value by coincidence;
            // anything else is a leak.
            let touches_label = labels
                .iter()
                .any(|l| l.start < span.end && span.start < l.end);
            assert!(touches_label, "a raw secret value survived redaction");
            from = span.start + 1;
        }
    }
}

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn byte(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }
    fn rest(self) -> &'a [u8] {
        self.0
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Where `[REDACTED:s<digits>]` labels sit in `out`.
fn label_spans(out: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(at) = find(&out[from..], b"[REDACTED:s") {
        let start = from + at;
        let mut end = start + b"[REDACTED:s".len();
        while end < out.len() && out[end].is_ascii_digit() {
            end += 1;
        }
        if end < out.len() && out[end] == b']' {
            spans.push(start..end + 1);
        }
        from = start + 1;
    }
    spans
}
