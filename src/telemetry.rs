//! Process logging (tracing), with every line passed through the global redactor.
