//! The Run Code action spec: its JSON shape, defaults, bounds and validation. It owns
//! the shape only; it never loads a component or touches a secret value.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::SecretId;
use crate::secrets::HostPattern;

/// The wall-clock limit of a run when the spec gives none, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;
/// The longest wall-clock limit a spec may ask for, in milliseconds (5 minutes).
pub const MAX_TIMEOUT_MS: u64 = 300_000;
/// The memory limit of a run when the spec gives none, in MiB.
pub const DEFAULT_MEMORY_MB: u64 = 64;
/// The largest memory limit a spec may ask for, in MiB.
pub const MAX_MEMORY_MB: u64 = 1024;
/// The output cap when the spec gives none, in bytes (1 MiB).
pub const DEFAULT_MAX_OUTPUT_BYTES: u64 = 1 << 20;
/// The largest output cap a spec may ask for (16 MiB).
pub const MAX_OUTPUT_BYTES: u64 = 16 << 20;
/// The cap on log bytes (log lines plus stdout and stderr) when the spec gives none (1 MiB).
pub const DEFAULT_MAX_LOG_BYTES: u64 = 1 << 20;
/// The largest log cap a spec may ask for (16 MiB).
pub const MAX_LOG_BYTES: u64 = 16 << 20;
/// The cap on HTTP calls per run when the spec gives none.
pub const DEFAULT_MAX_HTTP_CALLS: u32 = 20;
/// The largest HTTP call cap a spec may ask for.
pub const MAX_HTTP_CALLS: u32 = 1_000;
/// The cap on each HTTP response body a guest reads, when the spec gives none (1 MiB).
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 1 << 20;
/// The most secrets one action may bind.
pub const MAX_BINDINGS: usize = 32;
/// The largest inline `code`, in bytes (256 KiB).
pub const MAX_CODE_BYTES: usize = 256 << 10;

/// The language of inline `code`, run by one of hush's own runner components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    /// An ES module whose default export is `async function run(input, ctx)`, run by the
    /// QuickJS runner (`runners/javascript`).
    Javascript,
}

/// What a Run Code action runs: a component, or inline code in a language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program<'a> {
    /// A WebAssembly component of the `hush:action` world.
    Component(&'a ComponentRef),
    /// Inline code, run by hush's runner for `language`.
    Code {
        /// The language.
        language: Language,
        /// The source text.
        code: &'a str,
    },
}

/// The action's kind tag: always `run_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CodeKind {
    /// A WebAssembly component.
    RunCode,
}

/// Where the component comes from: `sha256:<hex>` (added with `hush component add`) or,
/// for development, a local path to a `.wasm` file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ComponentRef {
    /// A stored component by content hash (64 lower-case hex digits).
    Stored(String),
    /// A file, read when the run starts.
    Path(std::path::PathBuf),
}

impl ComponentRef {
    /// Parses `sha256:<hex>` or a path.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming `component`.
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(hex) = s.strip_prefix("sha256:") {
            if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
                return Err(Error::invalid(
                    "component",
                    "a stored component is `sha256:` and 64 lower-case hex digits",
                ));
            }
            return Ok(ComponentRef::Stored(hex.to_owned()));
        }
        if s.trim().is_empty() {
            return Err(Error::invalid(
                "component",
                "give `sha256:…` (from `hush component add`) or a path to a .wasm file",
            ));
        }
        Ok(ComponentRef::Path(s.into()))
    }
}

impl TryFrom<String> for ComponentRef {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        Self::parse(&s)
    }
}

impl From<ComponentRef> for String {
    fn from(c: ComponentRef) -> String {
        match c {
            ComponentRef::Stored(hex) => format!("sha256:{hex}"),
            ComponentRef::Path(p) => p.display().to_string(),
        }
    }
}

/// A secret bound to the action under a binding name, written `"sec_…"` or
/// `{"id": "sec_…", "reveal": true}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Binding {
    /// The secret's id.
    pub id: SecretId,
    /// Whether the guest may call `reveal` on it (off by default: a revealed value is
    /// in guest memory, where a guest could transform it past the redactor).
    pub reveal: bool,
}

impl<'de> Deserialize<'de> for Binding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Full {
            id: SecretId,
            #[serde(default)]
            reveal: bool,
        }
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => SecretId::parse(&s)
                .map(|id| Binding { id, reveal: false })
                .map_err(|e| D::Error::custom(e.message())),
            v @ serde_json::Value::Object(_) => Full::deserialize(v)
                .map(|f| Binding {
                    id: f.id,
                    reveal: f.reveal,
                })
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                r#"a binding is "sec_…" or {"id": "sec_…", "reveal": true}"#,
            )),
        }
    }
}

/// The limits of one run. Every field has a default and a ceiling.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Wall-clock limit, in milliseconds (default 5 s, at most 5 min).
    pub timeout_ms: u64,
    /// Linear memory limit, in MiB (default 64, at most 1024).
    pub memory_mb: u64,
    /// The output's size cap, in bytes of JSON (default 1 MiB, at most 16 MiB).
    pub max_output_bytes: u64,
    /// The cap on log lines plus stdout and stderr, in bytes (default 1 MiB).
    pub max_log_bytes: u64,
    /// The cap on HTTP calls (default 20, at most 1,000).
    pub max_http_calls: u32,
    /// The cap on each HTTP response body, in bytes (default 1 MiB, at most 16 MiB).
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout_ms: DEFAULT_TIMEOUT_MS,
            memory_mb: DEFAULT_MEMORY_MB,
            max_output_bytes: DEFAULT_MAX_OUTPUT_BYTES,
            max_log_bytes: DEFAULT_MAX_LOG_BYTES,
            max_http_calls: DEFAULT_MAX_HTTP_CALLS,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        }
    }
}

/// A Run Code action, as stored in an `actions/*.json` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeAction {
    /// Always `run_code`.
    pub kind: CodeKind,
    /// A label for people.
    #[serde(default)]
    pub name: String,
    /// The component to run (exclusive with `language` + `code`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub component: Option<ComponentRef>,
    /// The language of `code` (exclusive with `component`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// Inline source code in `language`, at most [`MAX_CODE_BYTES`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Secrets bound by binding name, e.g. `{"stripe": {"id": "sec_…"}}`.
    #[serde(default)]
    pub secrets: BTreeMap<String, Binding>,
    /// Hosts the guest may call (none by default).
    #[serde(default)]
    pub allowed_hosts: Vec<HostPattern>,
    /// The run's limits.
    #[serde(default)]
    pub limits: Limits,
}

impl CodeAction {
    /// Parses and validates a spec from JSON.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming the field that is wrong.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::parse(text)
    }

    pub(crate) fn parse(json: impl crate::actions::SpecJson) -> Result<Self> {
        let spec: CodeAction = json.spec()?;
        spec.validate()?;
        Ok(spec)
    }

    /// What the action runs.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) for a spec that names neither a
    /// component nor code (one [`CodeAction::validate`] refuses).
    pub fn program(&self) -> Result<Program<'_>> {
        match (&self.component, self.language, &self.code) {
            (Some(c), None, None) => Ok(Program::Component(c)),
            (None, Some(language), Some(code)) => Ok(Program::Code { language, code }),
            _ => Err(Error::invalid(
                "component",
                "give either `component`, or `language` and `code`",
            )),
        }
    }

    /// Checks that the spec names a component or code (not both), binding names and
    /// every limit against its ceiling.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming the exact field.
    pub fn validate(&self) -> Result<()> {
        match (&self.component, self.language, &self.code) {
            (Some(_), None, None) | (None, Some(_), Some(_)) => {}
            (Some(_), _, _) => {
                return Err(Error::invalid(
                    "component",
                    "give either `component` or `language` and `code`, not both",
                ));
            }
            (None, None, Some(_)) => {
                return Err(Error::invalid(
                    "language",
                    "inline `code` needs a `language` (javascript)",
                ));
            }
            (None, Some(_), None) => {
                return Err(Error::invalid(
                    "code",
                    "it is missing: `language` needs inline `code`",
                ));
            }
            (None, None, None) => {
                return Err(Error::invalid(
                    "component",
                    "it is missing: give `component` (`sha256:…`), or `language` and `code`",
                ));
            }
        }
        if let Some(code) = &self.code {
            if code.len() > MAX_CODE_BYTES {
                return Err(Error::invalid(
                    "code",
                    format!(
                        "it is {} bytes; inline code is at most {MAX_CODE_BYTES} bytes",
                        code.len()
                    ),
                ));
            }
            if code.trim().is_empty() {
                return Err(Error::invalid("code", "it is empty"));
            }
        }
        if self.secrets.len() > MAX_BINDINGS {
            return Err(Error::invalid(
                "secrets",
                format!("at most {MAX_BINDINGS} secrets may be bound"),
            ));
        }
        for name in self.secrets.keys() {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(Error::invalid(
                    &format!("secrets.{name}"),
                    "a binding name is 1-64 letters, digits, `_` or `-`",
                ));
            }
        }
        let l = &self.limits;
        range("limits.timeout_ms", l.timeout_ms, MAX_TIMEOUT_MS)?;
        range("limits.memory_mb", l.memory_mb, MAX_MEMORY_MB)?;
        range(
            "limits.max_output_bytes",
            l.max_output_bytes,
            MAX_OUTPUT_BYTES,
        )?;
        range("limits.max_log_bytes", l.max_log_bytes, MAX_LOG_BYTES)?;
        range(
            "limits.max_response_bytes",
            l.max_response_bytes,
            super::super::http::spec::MAX_RESPONSE_BYTES,
        )?;
        if l.max_http_calls > MAX_HTTP_CALLS {
            return Err(Error::invalid(
                "limits.max_http_calls",
                format!("{} is out of range 0..={MAX_HTTP_CALLS}", l.max_http_calls),
            ));
        }
        Ok(())
    }

    /// The secret ids the action binds, each once, in binding-name order.
    pub fn references(&self) -> Vec<SecretId> {
        let mut ids: Vec<SecretId> = Vec::new();
        for b in self.secrets.values() {
            if !ids.contains(&b.id) {
                ids.push(b.id.clone());
            }
        }
        ids
    }
}

fn range(field: &str, value: u64, max: u64) -> Result<()> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("{value} is out of range 1..={max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_example_parses_with_defaults_filled_in() {
        let spec = CodeAction::from_json(
            r#"{"kind": "run_code", "name": "Sign payload",
                "component": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
                "secrets": {"stripe": {"id": "sec_aaaaaaaaaaaaaaaaaaaaaaaaaa", "reveal": false}, "hook": "sec_bbbbbbbbbbbbbbbbbbbbbbbbbb"},
                "allowed_hosts": ["api.example.com"],
                "limits": {"timeout_ms": 5000, "memory_mb": 64, "max_output_bytes": 1048576, "max_http_calls": 20}}"#,
        )
        .unwrap();
        assert!(matches!(spec.component, Some(ComponentRef::Stored(ref h)) if h.len() == 64));
        assert!(!spec.secrets["hook"].reveal);
        assert_eq!(spec.limits.max_log_bytes, DEFAULT_MAX_LOG_BYTES);
        assert_eq!(spec.references().len(), 2);
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (
                r#"{"kind": "run_code", "component": "sha256:abc"}"#,
                "component",
            ),
            (r#"{"kind": "run_code", "component": ""}"#, "component"),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "secrets": {"bad name": "sec_aaaaaaaaaaaaaaaaaaaaaaaaaa"}}"#,
                "secrets.bad name",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "secrets": {"k": "nope"}}"#,
                "secrets.k",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "limits": {"timeout_ms": 0}}"#,
                "limits.timeout_ms",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "limits": {"memory_mb": 100000}}"#,
                "limits.memory_mb",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "limits": {"max_http_calls": 5000}}"#,
                "limits.max_http_calls",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "limits": {"fuel": 1}}"#,
                "limits",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "allowed_hosts": ["bad host"]}"#,
                "allowed_hosts",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "extra": 1}"#,
                "extra",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "secrets": {"k": {"id": "sec_aaaaaaaaaaaaaaaaaaaaaaaaaa", "raveal": true}}}"#,
                "secrets.k",
            ),
            (
                r#"{"kind": "run_code", "component": "a.wasm", "secrets": {"k": 7}}"#,
                "secrets.k",
            ),
        ];
        for (json, field) in cases {
            let e = CodeAction::from_json(json).unwrap_err();
            assert!(
                e.message().starts_with(&format!("invalid {field}")),
                "{json}: {}",
                e.message()
            );
        }
    }

    #[test]
    fn every_run_code_example_in_the_actions_folder_is_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("actions");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            // The examples carry a placeholder for the reader's own secret id.
            let text = std::fs::read_to_string(&path)
                .unwrap()
                .replace("sec_REPLACE", "sec_aaaaaaaaaaaaaaaaaaaaaaaaaa");
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["kind"] == "run_code" {
                CodeAction::from_json(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                seen += 1;
            }
        }
        assert!(seen >= 3, "the three example actions");
    }
}
