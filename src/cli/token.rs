//! `hush token create|list|revoke`: API tokens for `hush serve`. A token's text is
//! printed once, by `create`, on stdout; never again, and never to a log.

use clap::{Args, Subcommand};

use super::{Out, open, org, user};
use crate::error::Result;
use crate::tokens::{Principal, TokenRecord, Tokens};

/// `hush token …`.
#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token for a user (acts only as that user) or a service principal (acts
    /// for any member of the org). Prints the token once: store it now.
    Create {
        /// The org.
        #[arg(long)]
        org: String,
        #[command(flatten)]
        principal: PrincipalArgs,
    },
    /// List an org's tokens (ids and principals; never the tokens).
    List {
        /// The org.
        #[arg(long)]
        org: String,
    },
    /// Revoke a token by id (tok_…); it stops working at once.
    Revoke {
        /// The org.
        #[arg(long)]
        org: String,
        /// The token's id, as `create` and `list` print it.
        id: String,
    },
}

#[derive(Args, Debug)]
#[group(required = true, multiple = false)]
pub struct PrincipalArgs {
    /// The user the token acts as.
    #[arg(long)]
    user: Option<String>,
    /// The service principal's name (e.g. the orchestrator).
    #[arg(long)]
    service: Option<String>,
}

fn describe(record: &TokenRecord) -> String {
    format!(
        "{}  {:<32} created {}",
        record.id,
        record.principal.to_string(),
        record
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    )
}

/// Runs a token command.
pub async fn run(cmd: TokenCommand, out: &Out) -> Result<()> {
    match cmd {
        TokenCommand::Create { org: o, principal } => {
            let o = org(&o)?;
            let principal = match (&principal.user, &principal.service) {
                (Some(u), _) => Principal::User { user: user(u)? },
                (None, Some(s)) => Principal::service(s)?,
                (None, None) => unreachable!("clap requires --user or --service"),
            };
            let hush = open().await?;
            let issued = Tokens::new(hush.backend.clone())
                .create(&o, principal)
                .await?;
            let mut json = serde_json::to_value(&issued.record).expect("a record serializes");
            json["token"] = serde_json::Value::String(issued.token.as_str().to_owned());
            out.value(&json, || {
                format!(
                    "created token {} for {} of {o}; it is shown only now, store it:\n{}",
                    issued.record.id,
                    issued.record.principal,
                    issued.token.as_str()
                )
            });
        }
        TokenCommand::List { org: o } => {
            let o = org(&o)?;
            let records = Tokens::new(open().await?.backend.clone()).list(&o).await?;
            out.value(&records, || {
                records.iter().map(describe).collect::<Vec<_>>().join("\n")
            });
        }
        TokenCommand::Revoke { org: o, id } => {
            let o = org(&o)?;
            let record = Tokens::new(open().await?.backend.clone())
                .revoke(&o, &id)
                .await?;
            out.value(&serde_json::json!({"revoked": record}), || {
                format!("revoked token {} ({})", record.id, record.principal)
            });
        }
    }
    Ok(())
}
