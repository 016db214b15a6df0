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
        Self::parse(text).and_then(Self::without_path)
    }

    /// Parses and validates a spec already read as a JSON value, as
    /// [`Action::from_json`] does (a worker takes a queued run's spec so, without printing
    /// and reading it again).
    ///
    /// # Errors
    /// As [`Action::from_json`].
    pub fn from_value(spec: serde_json::Value) -> Result<Self> {
        Self::parse(spec).and_then(Self::without_path)
    }

    /// Parses and validates a spec as [`Action::from_json`] does, but also takes a Run
    /// Code component as a path to a local `.wasm` file: for `hush run` alone, whose
    /// user owns the machine it reads.
    ///
    /// # Errors
    /// As [`Action::from_json`], but for the component.
    pub fn from_local_json(text: &str) -> Result<Self> {
        Self::parse(text)
    }

    /// Refuses a Run Code component given as a path on this machine.
    fn without_path(action: Self) -> Result<Self> {
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

    fn parse(spec: impl SpecJson) -> Result<Self> {
        match spec.kind()?.as_deref() {
            Some("send_api_request") => http::HttpAction::parse(spec).map(Action::SendApiRequest),
            Some("run_code") => code::CodeAction::parse(spec).map(Action::RunCode),
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

/// A spec's JSON, as text or as a value already parsed: what a spec of either kind is
/// read from.
pub(crate) trait SpecJson {
    /// The `kind` field, if any.
    fn kind(&self) -> Result<Option<String>>;
    /// Deserializes the spec, naming the exact field (e.g. `limits.timeout_ms`) when it
    /// is wrong.
    fn spec<T: serde::de::DeserializeOwned>(self) -> Result<T>;
}

#[derive(Deserialize)]
struct Kind {
    kind: Option<String>,
}

impl SpecJson for &str {
    fn kind(&self) -> Result<Option<String>> {
        let kind: Kind = serde_json::from_str(self).map_err(|e| Error::invalid("action", e))?;
        Ok(kind.kind)
    }

    fn spec<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        spec_at_path(serde_path_to_error::deserialize(
            &mut serde_json::Deserializer::from_str(self),
        ))
    }
}

impl SpecJson for serde_json::Value {
    fn kind(&self) -> Result<Option<String>> {
        let kind = Kind::deserialize(self).map_err(|e| Error::invalid("action", e))?;
        Ok(kind.kind)
    }

    fn spec<T: serde::de::DeserializeOwned>(self) -> Result<T> {
        spec_at_path(serde_path_to_error::deserialize(self))
    }
}

fn spec_at_path<T>(
    parsed: std::result::Result<T, serde_path_to_error::Error<serde_json::Error>>,
) -> Result<T> {
    parsed.map_err(|e| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use serde_json::json;

    /// The field an `Invalid` error names: its message up to the first `:`.
    fn field(e: &Error) -> &str {
        assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
        e.message().split(':').next().unwrap()
    }

    #[test]
    fn a_spec_read_as_a_value_is_taken_and_refused_as_the_same_spec_read_as_text() {
        let component = format!("sha256:{}", "a".repeat(64));
        let taken = [
            json!({"kind": "send_api_request", "name": "Charge", "method": "POST",
                "url": "https://api.stripe.com/v1/charges",
                "headers": [{"name": "Authorization",
                    "value": "Bearer {{secret \"sec_aaaaaaaaaaaaaaaaaaaaaaaaaa\"}}"}],
                "body": {"type": "json", "value": {"amount": "{{inputs.amount}}"}}}),
            json!({"kind": "run_code", "name": "Sign", "component": component}),
        ];
        for spec in taken {
            let from_text = Action::from_json(&spec.to_string()).unwrap();
            assert_eq!(Action::from_value(spec).unwrap(), from_text);
        }
        let refused = [
            (json!({"name": "no kind"}), "invalid kind"),
            (json!({"kind": "send_email"}), "invalid kind"),
            (json!({"kind": 7}), "invalid action"),
            (json!(["send_api_request"]), "invalid action"),
            (
                json!({"kind": "send_api_request", "name": "x", "method": "GET", "url": 5}),
                "invalid url",
            ),
            (
                json!({"kind": "send_api_request", "name": "x", "method": "GET",
                    "url": "https://example.com/{{secret \"not-an-id\"}}"}),
                "invalid url",
            ),
            (
                json!({"kind": "run_code", "name": "x", "component": "/tmp/guest.wasm"}),
                "invalid component",
            ),
        ];
        for (spec, expected) in refused {
            let from_text = Action::from_json(&spec.to_string()).unwrap_err();
            let from_value = Action::from_value(spec.clone()).unwrap_err();
            assert_eq!(field(&from_text), expected, "{spec}: {from_text}");
            assert_eq!(field(&from_value), expected, "{spec}: {from_value}");
        }
    }
}
