//! A run's limits as the host keeps them: the breach that ends a run ([`Breach`], which
//! names its setting as a value), the ledger of logs and stdio every host call and the
//! stdio capture count against ([`Shared`]), and the memory limiter. Both the WIT host
//! (`host.rs`) and the sandbox (`sandbox.rs`) import this file; it imports neither, and
//! it never holds a secret.

use std::sync::{Arc, Mutex};

/// The most resources (secret handles, requests) a guest may hold at once.
pub(super) const MAX_RESOURCES: usize = 10_000;

/// A limit a run went past. Each ends the run with its own message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Breach {
    /// The wall-clock limit, in milliseconds.
    Timeout(u64),
    /// The memory limit, in MiB.
    Memory(u64),
    /// The log cap (log lines, stdout and stderr), in bytes.
    Logs(u64),
    /// The cap on HTTP calls.
    HttpCalls(u32),
    /// The output cap, in bytes.
    Output(u64),
    /// Too many live resource handles.
    Resources,
    /// Too many bytes of unsent requests held by the host.
    RequestBytes(usize),
}

impl Breach {
    /// The spec setting this limit is, e.g. `limits.timeout_ms` (none for the host's own
    /// caps on handles and held request bytes).
    pub fn setting(&self) -> Option<&'static str> {
        match self {
            Breach::Timeout(_) => Some("limits.timeout_ms"),
            Breach::Memory(_) => Some("limits.memory_mb"),
            Breach::Logs(_) => Some("limits.max_log_bytes"),
            Breach::HttpCalls(_) => Some("limits.max_http_calls"),
            Breach::Output(_) => Some("limits.max_output_bytes"),
            Breach::Resources | Breach::RequestBytes(_) => None,
        }
    }

    /// A message for people, naming the limit and its setting.
    pub fn message(&self) -> String {
        match self {
            Breach::Timeout(ms) => {
                format!("the action ran past its time limit of {ms} ms (limits.timeout_ms)")
            }
            Breach::Memory(mb) => {
                format!("the action went past its memory limit of {mb} MiB (limits.memory_mb)")
            }
            Breach::Logs(bytes) => format!(
                "the action wrote more than {bytes} bytes of logs, stdout and stderr (limits.max_log_bytes)"
            ),
            Breach::HttpCalls(n) => {
                format!("the action made more than {n} HTTP calls (limits.max_http_calls)")
            }
            Breach::Output(bytes) => format!(
                "the action returned more than {bytes} bytes of output (limits.max_output_bytes)"
            ),
            Breach::Resources => format!(
                "the action held more than {MAX_RESOURCES} secret or request handles at once"
            ),
            Breach::RequestBytes(bytes) => format!(
                "the action had the host hold more than {} MiB of unsent requests at once",
                bytes >> 20
            ),
        }
    }
}

/// What a run writes besides its output, shared by the host calls and the stdio capture.
pub(super) struct Shared {
    pub lines: Vec<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    used: u64,
    cap: u64,
    pub breach: Option<Breach>,
    /// Log lines already sent live (the first ones of `lines`).
    pub live_sent: usize,
}

impl Shared {
    pub fn new(cap: u64) -> Self {
        Shared {
            lines: Vec::new(),
            stdout: Vec::new(),
            stderr: Vec::new(),
            used: 0,
            cap,
            breach: None,
            live_sent: 0,
        }
    }

    /// Counts `n` more bytes against the cap.
    pub fn take(&mut self, n: usize) -> Result<(), Breach> {
        let n = u64::try_from(n).unwrap_or(u64::MAX);
        if self.used.saturating_add(n) > self.cap {
            return Err(Breach::Logs(self.cap));
        }
        self.used += n;
        Ok(())
    }
}

/// Records `breach` as the run's (the first one recorded stays) and returns the trap that
/// ends the run with its message.
pub(super) fn record(shared: &Mutex<Shared>, breach: Breach) -> wasmtime::Error {
    let message = breach.message();
    shared
        .lock()
        .expect("run output lock")
        .breach
        .get_or_insert(breach);
    wasmtime::format_err!("{message}")
}

/// Refuses linear memory (and table) growth past the run's limit, and records it.
pub(super) struct MemoryLimiter {
    pub limit: usize,
    pub mb: u64,
    pub shared: Arc<Mutex<Shared>>,
}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            return Err(record(&self.shared, Breach::Memory(self.mb)));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
