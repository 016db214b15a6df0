//! hush: a workflow action runtime.

pub mod error;
pub mod model;
pub mod redact;
pub mod telemetry;

pub use error::{Error, Result};
