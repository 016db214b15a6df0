//! Redaction of chunked output (guest stdout/stderr, log streams, bodies read in pieces):
//! [`StreamRedactor`] and the [`RedactingWriter`] built on it. It never emits a byte that
//! could still turn out to be part of a secret, and never flushes a partial match early.
//!
//! After each chunk the stream emits everything up to the start of the longest suffix that
//! is a prefix of some pattern, ASCII case aside (at most `max_pattern_len - 1` bytes are
//! held, and none when no pattern can continue the text). A merged span that started before that point and runs
//! into the held bytes is remembered as covered, so the held part is never emitted twice
//! and never emitted in the clear. The output equals one-shot redaction of the whole stream
//! for any way of cutting it into chunks.

use std::io::{self, Write};
use std::sync::Arc;

use super::engine::{Hit, Redactor, sort_hits};

/// Redacts a byte stream pushed in arbitrary chunks (not necessarily UTF-8).
///
/// ```
/// use std::sync::Arc;
/// use hush::redact::{Redactor, StreamRedactor};
///
/// let r = Arc::new(Redactor::new([("db", "correct-horse-battery")]));
/// let mut s = StreamRedactor::new(r);
/// let mut out = s.push(b"password: correct-hor");
/// out.extend(s.push(b"se-battery\n"));
/// out.extend(s.finish());
/// assert_eq!(out, b"password: [REDACTED:db]\n");
/// ```
pub struct StreamRedactor {
    redactor: Arc<Redactor>,
    /// Bytes received but not yet emitted (or emitted as part of a label, see `covered`).
    pending: Vec<u8>,
    /// How many leading bytes of `pending` are already inside an emitted label.
    covered: usize,
    hits: Vec<Hit>,
}

impl StreamRedactor {
    /// A stream over `redactor`'s secrets.
    pub fn new(redactor: Arc<Redactor>) -> StreamRedactor {
        StreamRedactor {
            redactor,
            pending: Vec::new(),
            covered: 0,
            hits: Vec::new(),
        }
    }

    /// Takes the next chunk and returns the output that is now final.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(chunk.len() + 64);
        self.push_into(chunk, &mut out);
        out
    }

    /// Takes the next chunk and appends the output that is now final to `out`.
    pub fn push_into(&mut self, chunk: &[u8], out: &mut Vec<u8>) {
        if self.redactor.is_empty() {
            out.extend_from_slice(chunk);
            return;
        }
        if self.pending.is_empty() {
            // Common case: nothing held, so work on the chunk in place and keep only its tail.
            let cut = chunk.len() - self.redactor.hold_len(chunk);
            let cursor = scan_and_emit(&self.redactor, &mut self.hits, chunk, cut, 0, out);
            self.pending.extend_from_slice(&chunk[cut..]);
            self.covered = cursor - cut;
            return;
        }
        self.pending.extend_from_slice(chunk);
        let hold = self.redactor.hold_len(&self.pending);
        let cut = self.pending.len() - hold;
        self.drain_until(cut, out);
    }

    /// Ends the stream, returning the held-back tail (redacted).
    pub fn finish(mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.finish_into(&mut out);
        out
    }

    /// Ends the current stream into `out`; the redactor can then start a new stream.
    pub fn finish_into(&mut self, out: &mut Vec<u8>) {
        let cut = self.pending.len();
        self.drain_until(cut, out);
        self.covered = 0;
    }

    /// How many bytes are currently held back.
    pub fn held_len(&self) -> usize {
        self.pending.len() - self.covered.min(self.pending.len())
    }

    /// The redactor this stream uses.
    pub fn redactor(&self) -> &Arc<Redactor> {
        &self.redactor
    }

    /// Emits `pending[..cut]`, keeping the rest for the next chunk.
    fn drain_until(&mut self, cut: usize, out: &mut Vec<u8>) {
        let cursor = scan_and_emit(
            &self.redactor,
            &mut self.hits,
            &self.pending,
            cut,
            self.covered,
            out,
        );
        self.covered = cursor - cut;
        if cut == self.pending.len() {
            self.pending.clear();
        } else {
            self.pending.drain(..cut);
        }
    }
}

/// Finds and orders every match in `hay`, then emits `hay[cursor..cut]` redacted; returns
/// the new cursor (see `Redactor::emit`), which is never below `cut`.
fn scan_and_emit(
    redactor: &Redactor,
    hits: &mut Vec<Hit>,
    hay: &[u8],
    cut: usize,
    cursor: usize,
    out: &mut Vec<u8>,
) -> usize {
    hits.clear();
    redactor.collect_hits(hay, hits);
    sort_hits(hits);
    redactor.emit(hay, hits, cut, cursor, out)
}

impl std::fmt::Debug for StreamRedactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamRedactor")
            .field("redactor", &self.redactor)
            .field("held_len", &self.held_len())
            .finish()
    }
}

/// A [`Write`] that redacts everything written through it before it reaches `inner`.
///
/// `flush` flushes `inner` but keeps the held-back bytes (they may be the start of a
/// secret); [`RedactingWriter::finish`] or dropping the writer emits them.
pub struct RedactingWriter<W: Write> {
    stream: StreamRedactor,
    inner: Option<W>,
    buf: Vec<u8>,
}

impl<W: Write> RedactingWriter<W> {
    /// Wraps `inner`, redacting `redactor`'s secrets.
    pub fn new(redactor: Arc<Redactor>, inner: W) -> RedactingWriter<W> {
        RedactingWriter {
            stream: StreamRedactor::new(redactor),
            inner: Some(inner),
            buf: Vec::new(),
        }
    }

    /// Emits the held-back tail and returns the inner writer.
    ///
    /// # Errors
    ///
    /// Any error from writing to or flushing the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.finish_stream()?;
        Ok(self
            .inner
            .take()
            .expect("inner writer present until finish"))
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        self.inner
            .as_ref()
            .expect("inner writer present until finish")
    }

    fn finish_stream(&mut self) -> io::Result<()> {
        self.buf.clear();
        self.stream.finish_into(&mut self.buf);
        if let Some(inner) = self.inner.as_mut() {
            inner.write_all(&self.buf)?;
            inner.flush()?;
        }
        Ok(())
    }
}

impl<W: Write> Write for RedactingWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.clear();
        self.stream.push_into(data, &mut self.buf);
        if let Some(inner) = self.inner.as_mut() {
            inner.write_all(&self.buf)?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.inner.as_mut() {
            Some(inner) => inner.flush(),
            None => Ok(()),
        }
    }
}

impl<W: Write> Drop for RedactingWriter<W> {
    fn drop(&mut self) {
        if self.inner.is_some() {
            let _ = self.finish_stream();
        }
    }
}

impl<W: Write> std::fmt::Debug for RedactingWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedactingWriter")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}
