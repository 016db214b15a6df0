//! `hush run`: runs one action file for a user of an org and prints its run record. It
//! reads inputs from an argument or a file and never prints anything the executor did
//! not already redact.

use std::path::PathBuf;

use clap::Args;

use super::{Out, cannot_read, check_readable_file, open, org, user};
use crate::actions::Action;
use crate::actions::code::ComponentRef;
use crate::actions::http::NetworkPolicy;
use crate::error::{Error, Result};
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

/// Runs the action. The record is printed (as JSON with `--json`); a run that ended
/// `failed` then exits with its error kind's code, with or without `--json` (the one
/// rule of `exit_code`), so a script can tell success from failure by the exit code.
pub async fn run(args: RunArgs, out: &Out) -> Result<()> {
    let text = std::fs::read_to_string(&args.action)
        .map_err(|e| cannot_read("action", &args.action, &e))?;
    let action = Action::from_local_json(&text)?;
    // Everything that can be checked without the store is checked before any secret is
    // resolved (and an allowed resolve audited): a component file that is missing,
    // unreadable or not a regular file fails here.
    if let Action::RunCode(code) = &action
        && let Some(ComponentRef::Path(path)) = &code.component
    {
        check_readable_file("component", path)?;
    }
    let inputs_text = match (&args.inputs, &args.inputs_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            std::fs::read_to_string(path).map_err(|e| cannot_read("--inputs-file", path, &e))?
        }
        (None, None) => "{}".to_owned(),
    };
    let inputs: serde_json::Value = serde_json::from_str(&inputs_text)
        .map_err(|e| Error::invalid("inputs", format!("not JSON: {e}")))?;
    let run_id = match &args.run_id {
        Some(id) => RunId::parse_field("--run-id", id)?,
        None => crate::runs::new_run_id(),
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
            "run {} {} in {} ms",
            record.id,
            status_name(record.status),
            record.duration_ms
        )];
        lines.extend(record.logs.iter().map(|l| format!("  {l}")));
        if let Some(result) = &record.result {
            lines.push(serde_json::to_string_pretty(result).unwrap_or_default());
        }
        lines.join("\n")
    });
    match &record.error {
        Some(e) if record.status == RunStatus::Failed => {
            // With --json the record printed above is the whole answer: no second document.
            if out.is_json() {
                out.mark_reported();
            }
            Err(Error::new(e.code, format!("the run failed: {}", e.message)))
        }
        _ => Ok(()),
    }
}

/// `succeeded`, `failed`, …: the status as the run record and the API spell it.
fn status_name(status: RunStatus) -> String {
    serde_json::to_value(status)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
