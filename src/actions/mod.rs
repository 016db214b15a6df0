//! The action kinds hush can run, one module each, and [`Action`], the spec of either. A
//! kind owns its spec, its rendering and its execution; it never fetches secrets itself
//! (the executor hands them in). Specs saved under an id live in [`crate::saved`].

pub mod code;
pub mod http;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::SecretId;

/// The kinds of action, as their `kind` field and run records write them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// `send_api_request`.
    SendApiRequest,
    /// `run_code`.
    RunCode,
}

impl ActionKind {
    /// The kind as written: `send_api_request` or `run_code`.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::SendApiRequest => "send_api_request",
            ActionKind::RunCode => "run_code",
        }
    }
}

impl std::fmt::Display for ActionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An action spec of any kind, told apart by its `kind` field.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Action {
    /// `"kind": "send_api_request"`.
    SendApiRequest(http::HttpAction),
    /// `"kind": "run_code"`.
    RunCode(code::CodeAction),
}

impl Action {
    /// Parses and validates a spec of either kind from JSON, as the API, saved actions
    /// and the queue take it: a Run Code component must be a `sha256:` id of a component
    /// added to the org, never a path on the server's disk.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming the field that is wrong, or
    /// `kind` when it is missing or unknown.
    pub fn from_json(text: &str) -> Result<Self> {
        let action = Self::from_local_json(text)?;
        if let Action::RunCode(spec) = &action
            && let Some(code::ComponentRef::Path(_)) = spec.component
        {
            return Err(Error::invalid(
                "component",
                "give `sha256:…` from `hush component add`: a path to a .wasm file is read \
                 only by `hush run`, on the machine that runs it",
            ));
        }
        Ok(action)
    }

    /// Parses and validates a spec as [`Action::from_json`] does, but also takes a Run
    /// Code component as a path to a local `.wasm` file: for `hush run` alone, whose
    /// user owns the machine it reads.
    ///
    /// # Errors
    /// As [`Action::from_json`], but for the component.
    pub fn from_local_json(text: &str) -> Result<Self> {
        #[derive(serde::Deserialize)]
        struct Kind {
            kind: Option<String>,
        }
        let kind: Kind = serde_json::from_str(text).map_err(|e| Error::invalid("action", e))?;
        match kind.kind.as_deref() {
            Some("send_api_request") => {
                http::HttpAction::from_json(text).map(Action::SendApiRequest)
            }
            Some("run_code") => code::CodeAction::from_json(text).map(Action::RunCode),
            Some(other) => Err(Error::invalid(
                "kind",
                format!("{other:?} is not an action kind (send_api_request, run_code)"),
            )),
            None => Err(Error::invalid(
                "kind",
                "it is missing (send_api_request or run_code)",
            )),
        }
    }

    /// The kind, as written in specs and run records.
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::SendApiRequest(_) => ActionKind::SendApiRequest,
            Action::RunCode(_) => ActionKind::RunCode,
        }
    }

    /// Every secret the action refers to, each once, known before any is fetched.
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) for a template that does not parse.
    pub fn references(&self) -> Result<Vec<SecretId>> {
        self.references_in(http::template::shared())
    }

    /// [`Action::references`], parsing templates through `templates` (which keeps them
    /// for the next run of the same spec).
    ///
    /// # Errors
    /// As [`Action::references`].
    pub fn references_in(&self, templates: &http::Templates) -> Result<Vec<SecretId>> {
        match self {
            Action::SendApiRequest(spec) => templates.references(spec),
            Action::RunCode(spec) => Ok(spec.references()),
        }
    }
}

/// Deserializes a spec of either kind, naming the exact field (e.g. `limits.timeout_ms`)
/// when it is wrong.
pub(crate) fn parse_spec<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { "action" } else { path.as_str() };
        Error::invalid(field, e.inner())
    })
}

impl From<http::HttpAction> for Action {
    fn from(spec: http::HttpAction) -> Self {
        Action::SendApiRequest(spec)
    }
}

impl From<code::CodeAction> for Action {
    fn from(spec: code::CodeAction) -> Self {
        Action::RunCode(spec)
    }
}
