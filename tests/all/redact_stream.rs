//! The streaming adapters: `StreamRedactor` holds back only what could still become a
//! match, `RedactingWriter` redacts across `write` calls, `flush` never releases a partial
//! match, and `finish`/drop release the tail.

use std::io::Write;
use std::sync::Arc;

use hush::redact::{RedactingWriter, Redactor, StreamRedactor};

const V: &str = "stream-secret-0042";

fn redactor() -> Arc<Redactor> {
    Arc::new(Redactor::new([("s", V)]))
}

#[test]
fn a_secret_split_across_writes_is_redacted() {
    let mut w = RedactingWriter::new(redactor(), Vec::new());
    for piece in ["log: stream-sec", "ret-00", "42 done\n"] {
        w.write_all(piece.as_bytes()).unwrap();
    }
    let out = w.finish().unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "log: [REDACTED:s] done\n");
}

#[test]
fn flush_keeps_a_partial_match_held_back() {
    let mut w = RedactingWriter::new(redactor(), Vec::new());
    w.write_all(b"password stream-secret-00").unwrap();
    w.flush().unwrap();
    assert_eq!(w.get_ref().as_slice(), b"password ");
    w.write_all(b"42").unwrap();
    let out = w.finish().unwrap();
    assert_eq!(out, b"password [REDACTED:s]");
}

#[test]
fn drop_releases_a_tail_that_never_completed() {
    let sink = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    struct Sink(std::rc::Rc<std::cell::RefCell<Vec<u8>>>);
    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.borrow_mut().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    {
        let mut w = RedactingWriter::new(redactor(), Sink(sink.clone()));
        w.write_all(b"end stream-secret-00").unwrap();
    }
    assert_eq!(sink.borrow().as_slice(), b"end stream-secret-00");
}

#[test]
fn nothing_is_held_when_the_tail_starts_no_pattern() {
    let mut s = StreamRedactor::new(redactor());
    let out = s.push(b"plain text with no prefix ###");
    assert_eq!(out, b"plain text with no prefix ###");
    assert_eq!(s.held_len(), 0);
    let out = s.push(b"x stream-");
    assert_eq!(out, b"x ");
    assert_eq!(s.held_len(), "stream-".len());
}

#[test]
fn held_bytes_never_exceed_the_longest_pattern() {
    let r = redactor();
    let mut s = StreamRedactor::new(Arc::clone(&r));
    let mut out = Vec::new();
    // Feed byte by byte a text full of near-misses.
    let text = format!("{}{}X{}", &V[..10], &V[..17], V).repeat(20);
    for b in text.as_bytes() {
        s.push_into(std::slice::from_ref(b), &mut out);
        assert!(s.held_len() < r.max_pattern_len());
    }
    out.extend(s.finish());
    assert_eq!(out, r.redact_bytes(text.as_bytes()).as_ref());
    assert!(!String::from_utf8_lossy(&out).contains(V));
}

#[test]
fn invalid_utf8_streams_without_panic_or_bypass() {
    let r = Arc::new(Redactor::new([("b", &b"\xff\xfe-binary-\x80secret"[..])]));
    let mut s = StreamRedactor::new(Arc::clone(&r));
    let mut out = Vec::new();
    let text = b"\xc3\x28 \xff\xfe-binary-\x80secret \xe2\x82".to_vec();
    for chunk in text.chunks(3) {
        s.push_into(chunk, &mut out);
    }
    out.extend(s.finish());
    assert_eq!(out, b"\xc3\x28 [REDACTED:b] \xe2\x82");
}
