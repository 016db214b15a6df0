//! `hush run`: runs one action file for a user of an org and prints its run record. It
//! reads inputs from an argument or a file and never prints anything the executor did
//! not already redact.

use std::path::PathBuf;

use clap::Args;

use super::{Out, open, org, user};
use crate::actions::Action;
use crate::actions::http::NetworkPolicy;
use crate::error::{Error, ErrorKind, Result};
use crate::executor::{RunRequest, RunStatus};
use crate::model::RunId;

/// `hush run ACTION.json --org O --as USER [--inputs JSON | --inputs-file PATH]`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The action file (JSON), e.g. actions/create-charge.json.
    action: PathBuf,
    /// The org the run belongs to.
    #[arg(long)]
    org: String,
    /// The user the run acts for; secrets are authorized against them.
    #[arg(long = "as")]
    actor: String,
    /// The run's inputs as a JSON object.
    #[arg(long, conflicts_with = "inputs_file")]
    inputs: Option<String>,
    /// A file holding the run's inputs as a JSON object.
    #[arg(long)]
    inputs_file: Option<PathBuf>,
    /// The run id (default: a fresh one).
    #[arg(long)]
    run_id: Option<String>,
}

/// Runs the action. A failed run is an error in text mode (exit code 4 when refused,
/// 3 for an unknown secret, else 6) and a record with status `failed` in JSON mode.
pub async fn run(args: RunArgs, out: &Out) -> Result<()> {
    let text = std::fs::read_to_string(&args.action).map_err(|e| {
        Error::invalid(
            "action",
            format!("cannot read {}: {}", args.action.display(), e.kind()),
        )
    })?;
    let action = Action::from_local_json(&text)?;
    let inputs_text = match (&args.inputs, &args.inputs_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            Error::invalid(
                "--inputs-file",
                format!("cannot read {}: {}", path.display(), e.kind()),
            )
        })?,
        (None, None) => "{}".to_owned(),
    };
    let inputs: serde_json::Value = serde_json::from_str(&inputs_text)
        .map_err(|e| Error::invalid("inputs", format!("not JSON: {e}")))?;
    let run_id = match &args.run_id {
        Some(id) => RunId::parse_field("--run-id", id)?,
        None => RunId::parse(&format!(
            "run-{}",
            crate::model::SecretId::generate().as_str()[4..].to_owned()
        ))?,
    };
    let request = RunRequest {
        run_id,
        org: org(&args.org)?,
        actor: user(&args.actor)?,
        action,
        inputs,
    };
    let hush = open().await?;
    let executor = hush.executor(NetworkPolicy::from_env()?)?;
    // Inline code that does not compile is refused (exit code 2) before anything runs.
    executor.check(&request.action).await?;
    let record = executor.run(request).await;
    hush.secrets.flush().await;
    out.value(&record, || {
        let mut lines = vec![format!(
            "run {} {:?} in {} ms",
            record.id, record.status, record.duration_ms
        )];
        lines.extend(record.logs.iter().map(|l| format!("  {l}")));
        if let Some(result) = &record.result {
            lines.push(serde_json::to_string_pretty(result).unwrap_or_default());
        }
        lines.join("\n")
    });
    // With --json the record (status `failed`, its error) is the whole answer.
    match &record.error {
        Some(e) if record.status == RunStatus::Failed && !out.is_json() => {
            let message = format!("the run failed: {}", e.message);
            Err(match e.code {
                ErrorKind::Denied => Error::denied(message),
                ErrorKind::NotFound => Error::not_found(message),
                ErrorKind::Limit | ErrorKind::Trapped | ErrorKind::ActionFailed => {
                    Error::new(ErrorKind::ActionFailed, message)
                }
                _ => Error::unavailable(message),
            })
        }
        _ => Ok(()),
    }
}
