//! Log lines through the host: kept in the run's logs, capped and redacted there.

use crate::bindings::hush::action::log::{self as host, Level};

/// Writes lines to the run's logs. The host caps them and redacts every secret of the run
/// from them, but a line is still best kept free of anything sensitive.
///
/// Lines also reach the run's logs through stdout and stderr (`println!`, `eprintln!`),
/// without a level.
#[derive(Clone, Copy, Debug, Default)]
pub struct Log {
    _private: (),
}

impl Log {
    pub(crate) fn new() -> Self {
        Log { _private: () }
    }

    /// Logs `message` at trace level.
    pub fn trace(&self, message: &str) {
        host::log(Level::Trace, message);
    }

    /// Logs `message` at debug level.
    pub fn debug(&self, message: &str) {
        host::log(Level::Debug, message);
    }

    /// Logs `message` at info level.
    pub fn info(&self, message: &str) {
        host::log(Level::Info, message);
    }

    /// Logs `message` at warn level.
    pub fn warn(&self, message: &str) {
        host::log(Level::Warn, message);
    }

    /// Logs `message` at error level.
    pub fn error(&self, message: &str) {
        host::log(Level::Error, message);
    }
}
