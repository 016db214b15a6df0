//! Process logging (tracing), with every line passed through the global redactor.
//! It owns the subscriber setup and the redacting writer; it never writes a line that has
//! not been through [`crate::redact::global`]'s redactor.
//!
//! `log` records (redis-rs and others log through the `log` crate) are bridged into tracing
//! by the subscriber's `LogTracer`, so they take the same redacted path.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::redact::{self, Redactor};

/// Installs the process's tracing subscriber (once; later calls do nothing): filter from
/// `RUST_LOG` (default `info`), human format, or JSON when `HUSH_LOG_FORMAT=json`, written
/// to stderr, every line redacted.
pub fn init() {
    use std::io::IsTerminal as _;
    let ansi = io::stderr().is_terminal();
    let _ = init_with_writer(RedactingMakeWriter::new(io::stderr).ansi(ansi));
}

/// Like [`init`], writing to `make_writer` instead of stderr (tests capture output here).
/// Lines are redacted before they reach `make_writer`. Also routes `log` records into
/// tracing.
///
/// # Errors
///
/// When a global subscriber or `log` logger is already installed.
pub fn init_with_writer<M>(make_writer: RedactingMakeWriter<M>) -> Result<(), crate::Error>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    install(make_writer, filter)
}

/// Like [`init_with_writer`], at the levels `directives` names (`RUST_LOG` syntax, e.g.
/// `trace`) whatever the environment says.
///
/// # Errors
///
/// When a global subscriber or `log` logger is already installed.
pub fn init_with_writer_at<M>(
    make_writer: RedactingMakeWriter<M>,
    directives: &str,
) -> Result<(), crate::Error>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    install(make_writer, EnvFilter::new(directives))
}

fn install<M>(make_writer: RedactingMakeWriter<M>, filter: EnvFilter) -> Result<(), crate::Error>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let json = std::env::var("HUSH_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    // `try_init` also installs tracing-log's `LogTracer` (tracing-subscriber's default
    // `tracing-log` feature), so `log` records reach the same redacted writer.
    subscriber(make_writer, filter, json)
        .try_init()
        .map_err(|e| crate::Error::internal(format!("installing the log subscriber: {e}")))
}

/// The subscriber [`init`] installs, built without installing it (for scoped use with
/// `tracing::subscriber::with_default`): `filter`, human or `json` format, redacted lines
/// written to `make_writer`.
pub fn subscriber<M>(
    make_writer: RedactingMakeWriter<M>,
    filter: EnvFilter,
    json: bool,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    M: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    let ansi = make_writer.ansi;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(make_writer);
    if json {
        Box::new(builder.json().finish())
    } else {
        Box::new(builder.with_ansi(ansi).finish())
    }
}

/// A [`MakeWriter`] whose writers buffer one event, redact it with the global registry's
/// redactor (or a fixed one, for tests), and pass it to the inner writer in one write.
pub struct RedactingMakeWriter<M> {
    inner: M,
    redactor: Option<Arc<Redactor>>,
    ansi: bool,
}

impl<M> RedactingMakeWriter<M> {
    /// Redacts with [`redact::global`]'s current redactor, fetched per event.
    pub fn new(inner: M) -> Self {
        RedactingMakeWriter {
            inner,
            redactor: None,
            ansi: false,
        }
    }

    /// Redacts with `redactor` instead of the global registry's.
    pub fn with_redactor(inner: M, redactor: Arc<Redactor>) -> Self {
        RedactingMakeWriter {
            inner,
            redactor: Some(redactor),
            ansi: false,
        }
    }

    /// Colours in the human format (for a terminal). Off by default.
    pub fn ansi(mut self, yes: bool) -> Self {
        self.ansi = yes;
        self
    }
}

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for RedactingMakeWriter<M> {
    type Writer = RedactingEventWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingEventWriter {
            inner: self.inner.make_writer(),
            redactor: self.redactor.clone(),
            buf: Vec::new(),
        }
    }
}

/// Buffers one event; on drop (or flush) redacts it and writes it to the inner writer.
pub struct RedactingEventWriter<W: Write> {
    inner: W,
    redactor: Option<Arc<Redactor>>,
    buf: Vec<u8>,
}

impl<W: Write> RedactingEventWriter<W> {
    fn write_out(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let redactor = match &self.redactor {
            Some(r) => Arc::clone(r),
            None => redact::global().redactor(),
        };
        let mut out = Vec::with_capacity(self.buf.len() + 32);
        redactor.redact_into(&self.buf, &mut out);
        // The unredacted event must not linger in memory.
        zeroize::Zeroize::zeroize(&mut self.buf);
        self.inner.write_all(&out)?;
        self.inner.flush()
    }
}

impl<W: Write> Write for RedactingEventWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        // A flush mid-event would emit a part line that might split a secret; the event is
        // written whole on drop.
        Ok(())
    }
}

impl<W: Write> Drop for RedactingEventWriter<W> {
    fn drop(&mut self) {
        let _ = self.write_out();
    }
}

/// A cloneable in-memory sink, for tests that capture every log line.
#[derive(Clone, Default)]
pub struct CaptureWriter(Arc<Mutex<Vec<u8>>>);

impl CaptureWriter {
    /// An empty capture.
    pub fn new() -> Self {
        Self::default()
    }

    /// Everything written so far, as text (lossy).
    pub fn contents(&self) -> String {
        let buf = self.0.lock().unwrap_or_else(|p| p.into_inner());
        String::from_utf8_lossy(&buf).into_owned()
    }
}

impl Write for CaptureWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for CaptureWriter {
    type Writer = CaptureWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
