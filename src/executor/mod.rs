//! The run pipeline: resolve references, authorize and fetch secrets, build the run's
//! redactor, execute the action, redact everything that leaves, record the run. It knows
//! every capability and owns none; no plaintext outlives [`Executor::run`], and nothing
//! it returns or logs holds one.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actions::code::CodeRuntime;
use crate::actions::http::HttpSender;
use crate::actions::{Action, ActionKind};
use crate::error::{Error, ErrorKind};
pub use crate::model::LiveLog;
use crate::model::{OrgId, RunId, SecretId, Timestamp, UserId, now};
use crate::redact;
use crate::secrets::SecretStore;
use crate::store::OrgVersion;

/// One action to run, as the orchestrator (or `hush run`) hands it over.
#[derive(Clone, Debug)]
pub struct RunRequest {
    /// The run's id.
    pub run_id: RunId,
    /// The org the run belongs to.
    pub org: OrgId,
    /// The user on whose behalf it runs; secrets are authorized against them.
    pub actor: UserId,
    /// The action.
    pub action: Action,
    /// The run's inputs (a JSON object, seen as `inputs` in templates).
    pub inputs: Value,
}

/// Where a run stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    /// Waiting to run.
    Queued,
    /// Running.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Finished with an error.
    Failed,
}

/// A secret a run used, by id and name (never its value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretUse {
    /// The secret's id.
    pub id: SecretId,
    /// Its name at the time of the run.
    pub name: String,
}

/// Why a run failed: the error's kind code and its (redacted) message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// What kind of failure, serialized as its code (e.g. `denied`).
    pub code: ErrorKind,
    /// The message, redacted.
    pub message: String,
    /// For `limit_exceeded`: the spec setting that was hit (for metrics; not stored).
    #[serde(skip)]
    pub limit: Option<&'static str>,
}

impl RunError {
    /// `e` with its message passed through `redactor`.
    fn redacted(e: &Error, redactor: &redact::Redactor) -> Self {
        RunError {
            code: e.kind(),
            message: redactor.redact_str(e.message()).into_owned(),
            limit: e.limit_setting(),
        }
    }
}

/// The record of one run. Every string in it is already redacted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The run's id.
    pub id: RunId,
    /// The org.
    pub org: OrgId,
    /// The actor.
    pub actor: UserId,
    /// `send_api_request` or `run_code`.
    pub action_kind: ActionKind,
    /// How it ended.
    pub status: RunStatus,
    /// When it started.
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: Timestamp,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: Timestamp,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// The action's result (for Send API Request: `{status, headers, body, truncated}`;
    /// for Run Code: the output the component returned).
    pub result: Option<Value>,
    /// What the run did, step by step.
    pub logs: Vec<String>,
    /// Why it failed.
    pub error: Option<RunError>,
    /// The secrets it used.
    pub secrets_used: Vec<SecretUse>,
    /// The action as written, with secrets named by name (see [`crate::actions::http::echo`]; a Run Code
    /// spec names no values, so it is shown as is).
    pub request: Arc<Value>,
}

/// What [`Executor::run_live`] returns.
#[derive(Clone, Debug)]
pub struct LiveRun {
    /// The run's record.
    pub record: RunRecord,
    /// Whether it failed because the secret store was unavailable while resolving its
    /// secrets, before its action did anything (so running it again sends nothing twice).
    /// Every other failure, a target that cannot be reached included, is the run's own.
    pub store_unavailable: bool,
}

/// Runs actions. Shared by every run: the secret store and the HTTP client are pooled;
/// the secrets, redactor and limits of a run live only inside [`Executor::run`].
#[derive(Clone)]
pub struct Executor {
    secrets: std::sync::Arc<SecretStore>,
    http: HttpSender,
    code: Option<std::sync::Arc<CodeRuntime>>,
    /// Built redactors by the exact set of secrets (id, version, name) a run used, so
    /// repeated runs of an action do not rebuild their automaton.
    redactors: std::sync::Arc<redact::RedactorCache<Vec<(SecretId, u32, String)>>>,
}

impl Executor {
    /// An executor over `secrets`, sending through `http`.
    pub fn new(secrets: std::sync::Arc<SecretStore>, http: HttpSender) -> Self {
        Executor {
            secrets,
            http,
            code: None,
            redactors: std::sync::Arc::default(),
        }
    }

    /// The secret store this executor resolves from (shared with the API's secret routes).
    pub fn secrets(&self) -> &std::sync::Arc<SecretStore> {
        &self.secrets
    }

    /// This executor, running Run Code actions on `code`.
    pub fn with_code(mut self, code: std::sync::Arc<CodeRuntime>) -> Self {
        self.code = Some(code);
        self
    }

    /// Checks what can be checked of `action` before it is saved or dispatched, beyond
    /// its shape: today, that inline Run Code compiles (no secret is resolved for it).
    ///
    /// # Errors
    /// [`Invalid`](crate::error::ErrorKind::Invalid) naming `code`, with the line and
    /// column of a syntax error.
    pub async fn check(&self, action: &Action) -> crate::error::Result<()> {
        match (action, &self.code) {
            (Action::RunCode(spec), Some(code)) => code.check(spec).await,
            _ => Ok(()),
        }
    }

    /// Runs `request` to the end and returns its record; a failure is a `failed` record,
    /// never an `Err`.
    pub async fn run(&self, request: RunRequest) -> RunRecord {
        self.run_live(request, None).await.record
    }

    /// [`Executor::run`], also sending each log line to `live` as soon as it is redacted
    /// (for server-sent events while the run goes on), and saying whether the run failed
    /// because the secret store was unavailable before the action did anything.
    pub async fn run_live(&self, request: RunRequest, live: Option<LiveLog>) -> LiveRun {
        self.run_seen(request, live, None).await
    }

    /// [`Executor::run_live`] for a run that knows the org's data version `seen` from a
    /// round trip made after every change it must see (storing or starting it): its
    /// secrets resolve from the store's cache when nothing changed since (see
    /// [`crate::store::Backend::read_seen`]).
    pub async fn run_seen(
        &self,
        request: RunRequest,
        live: Option<LiveLog>,
        seen: Option<OrgVersion>,
    ) -> LiveRun {
        let started_at = now();
        let clock = Instant::now();
        let mut trail = Trail {
            logs: Logs {
                lines: Vec::new(),
                live,
                sent: 0,
            },
            secrets_used: Vec::new(),
            store_unavailable: false,
        };
        let outcome = self.execute(&request, seen.as_ref(), &mut trail).await;
        let Trail {
            mut logs,
            secrets_used,
            store_unavailable,
        } = trail;
        let (status, result, error) = match outcome {
            Ok(result) => (RunStatus::Succeeded, Some(result), None),
            Err(e) => {
                // The message is redacted already; nothing else is left unsent.
                logs.lines.push(format!("failed: {}", e.message));
                logs.send_rest();
                (RunStatus::Failed, None, Some(e))
            }
        };
        let logs = logs.lines;
        let limit = error.as_ref().and_then(|e| e.limit);
        crate::metrics::run_ended(
            request.action.kind().as_str(),
            if status == RunStatus::Succeeded {
                "succeeded"
            } else {
                "failed"
            },
            clock.elapsed().as_secs_f64(),
            limit,
        );
        let shown = match &request.action {
            Action::SendApiRequest(spec) => {
                let names: Vec<(SecretId, String)> = secrets_used
                    .iter()
                    .map(|s| (s.id.clone(), s.name.clone()))
                    .collect();
                self.http.templates().echo(spec, &names)
            }
            Action::RunCode(spec) => Arc::new(serde_json::to_value(spec).unwrap_or(Value::Null)),
        };
        let record = RunRecord {
            id: request.run_id.clone(),
            org: request.org.clone(),
            actor: request.actor.clone(),
            action_kind: request.action.kind(),
            status,
            started_at,
            finished_at: now(),
            duration_ms: u64::try_from(clock.elapsed().as_millis()).unwrap_or(u64::MAX),
            result,
            logs,
            error,
            secrets_used,
            request: shown,
        };
        LiveRun {
            record,
            store_unavailable,
        }
    }

    /// Every message pushed to the trail's logs and every error returned is redacted here.
    async fn execute(
        &self,
        request: &RunRequest,
        seen: Option<&OrgVersion>,
        trail: &mut Trail,
    ) -> Result<Value, RunError> {
        let Trail {
            logs,
            secrets_used,
            store_unavailable,
        } = trail;
        if !request.inputs.is_object() {
            return Err(Error::invalid("inputs", "they must be a JSON object").into());
        }
        let refs = request.action.references_in(self.http.templates())?;
        let resolved = if refs.is_empty() {
            Vec::new()
        } else {
            self.secrets
                .resolve_seen(&request.org, &request.actor, &refs, &request.run_id, seen)
                .await
                .inspect_err(|e| *store_unavailable = e.kind() == ErrorKind::Unavailable)?
        };
        for s in &resolved {
            secrets_used.push(SecretUse {
                id: s.meta.id.clone(),
                name: s.meta.name.clone(),
            });
        }
        if !resolved.is_empty() {
            logs.lines.push(format!(
                "resolved {} secret(s): {}",
                resolved.len(),
                resolved
                    .iter()
                    .map(|s| format!("{:?}", s.meta.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        // Each resolved secret holds its value in the process-wide redactor (for process
        // logs) until it is dropped below; this redactor covers the run's own output.
        let key = resolved
            .iter()
            .map(|s| (s.meta.id.clone(), s.meta.version, s.meta.name.clone()))
            .collect();
        let redactor = self.redactors.get_or_build(key, || {
            resolved
                .iter()
                .map(|s| (s.meta.name.as_str(), s.value.expose().as_bytes()))
        });
        logs.flush(&redactor);
        let spec = match &request.action {
            Action::SendApiRequest(spec) => spec,
            Action::RunCode(spec) => {
                let Some(code) = &self.code else {
                    return Err(
                        Error::internal("this executor does not run Run Code actions").into(),
                    );
                };
                let outcome = code
                    .execute(
                        spec,
                        &request.org,
                        &request.inputs,
                        &resolved,
                        redactor.clone(),
                        logs.live.clone(),
                    )
                    .await;
                drop(resolved);
                logs.lines.extend(outcome.logs);
                logs.sent += outcome.live_sent;
                logs.flush(&redactor);
                return outcome
                    .result
                    .map_err(|e| RunError::redacted(&e, &redactor));
            }
        };
        let outcome = self
            .http
            .execute(spec, &request.inputs, &resolved, &redactor)
            .await;
        drop(resolved);
        let result = outcome.map_err(|e| RunError::redacted(&e, &redactor))?;
        logs.lines.push(format!(
            "the target answered {}{}",
            result.status,
            if result.truncated {
                " (body truncated)"
            } else {
                ""
            }
        ));
        let mut value = result.into_json();
        redact::redact_json(&redactor, &mut value);
        logs.flush(&redactor);
        Ok(value)
    }
}

/// What a run leaves besides its result, filled in as it goes: its log lines, the
/// secrets it used, and whether it failed for want of the secret store (while resolving,
/// before its action did anything).
struct Trail {
    logs: Logs,
    secrets_used: Vec<SecretUse>,
    store_unavailable: bool,
}

/// A run's log lines, and how many of them went out live.
struct Logs {
    lines: Vec<String>,
    live: Option<LiveLog>,
    sent: usize,
}

impl Logs {
    /// Redacts the lines not yet sent and sends them.
    fn flush(&mut self, redactor: &redact::Redactor) {
        let from = self.sent.min(self.lines.len());
        for line in &mut self.lines[from..] {
            *line = redactor.redact_str(line).into_owned();
        }
        self.send_rest();
    }

    /// Sends the lines not yet sent, as they are.
    fn send_rest(&mut self) {
        if let Some(live) = &self.live {
            let from = self.sent.min(self.lines.len());
            for line in &self.lines[from..] {
                let _ = live.send(line.clone());
            }
        }
        self.sent = self.lines.len();
    }
}

impl From<Error> for RunError {
    /// For errors raised before any secret is resolved (their messages hold none).
    fn from(e: Error) -> Self {
        RunError {
            code: e.kind(),
            message: e.message().to_owned(),
            limit: e.limit_setting(),
        }
    }
}
