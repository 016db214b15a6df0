//! The redaction engine: removes every known encoding of every used secret value from output.
