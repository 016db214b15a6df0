//! `hush serve`: opens the store and serves the HTTP API ([`crate::api`]) until SIGTERM
//! or Ctrl-C. It prints where it listens; it never prints a token or a value.

use clap::Args;

use super::{Out, open};
use crate::actions::http::NetworkPolicy;
use crate::api::{self, ApiState};
use crate::error::{Error, Result};

/// `hush serve [--listen ADDR] [--max-body-bytes N]`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "HUSH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Refuse request bodies larger than this with 413.
    #[arg(long, env = "HUSH_MAX_BODY_BYTES", default_value_t = api::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
}

/// Serves until a shutdown signal, then flushes the audit trail.
pub async fn run(args: ServeArgs, out: &Out) -> Result<()> {
    let hush = open().await?;
    let state = ApiState::from_hush(&hush, NetworkPolicy::from_env()?)?
        .with_max_body_bytes(args.max_body_bytes);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| {
            Error::invalid("--listen", format!("cannot listen on {}: {e}", args.listen))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("the listener has no address: {e}")))?;
    out.value(
        &serde_json::json!({"listening": addr.to_string(), "store": hush.backend.describe()}),
        || {
            format!(
                "hush serve: listening on http://{addr} ({})",
                hush.backend.describe()
            )
        },
    );
    tracing::info!(%addr, "serving the API");
    let served = api::serve(listener, state).await;
    hush.secrets.flush().await;
    served.map_err(|e| Error::unavailable(format!("the server stopped: {e}")))
}
