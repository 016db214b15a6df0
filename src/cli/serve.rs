//! `hush serve` and `hush worker`: open the stores and serve the HTTP API ([`crate::api`])
//! and/or drain the work queue ([`crate::runs::queue`]) until SIGTERM or Ctrl-C, then
//! finish the requests and runs in flight. With Redis (`HUSH_REDIS_URL`) run history and
//! the queue live there, shared by every process; on the embedded store `hush serve`
//! keeps them in its memory and drains the queue itself, and `hush worker` (which needs a
//! shared queue) refuses. They print where they listen; never a token or a value.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Args;

use super::{Out, open};
use crate::actions::http::NetworkPolicy;
use crate::api::{self, ApiState};
use crate::app::Hush;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::runs::Runs;
use crate::runs::memory::MemoryRuns;
use crate::runs::redis::RedisRuns;
use crate::runs::worker::{self, WorkerConfig};

/// `hush serve [--listen ADDR] [--worker] …`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The address to listen on.
    #[arg(long, env = "HUSH_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Refuse request bodies larger than this with 413.
    #[arg(long, env = "HUSH_MAX_BODY_BYTES", default_value_t = api::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Refuse queued dispatch (503) while this many entries wait in the queue.
    #[arg(long, env = "HUSH_MAX_QUEUE", default_value_t = crate::runs::queue::DEFAULT_MAX_QUEUE)]
    max_queue: usize,
    /// Also drain the work queue in this process (like `hush worker`).
    #[arg(long)]
    worker: bool,
    #[command(flatten)]
    work: WorkArgs,
}

/// `hush worker [--concurrency N] …`.
#[derive(Args, Debug)]
pub struct WorkArgs {
    /// Runs one worker holds at once.
    #[arg(long, env = "HUSH_WORKER_CONCURRENCY", default_value_t = 64)]
    concurrency: usize,
    /// Milliseconds a queue entry may sit idle (its worker gone) before another worker
    /// claims it.
    #[arg(long, env = "HUSH_VISIBILITY_TIMEOUT_MS", default_value_t = 30_000)]
    visibility_timeout_ms: u64,
    /// Starts of one run before it is failed as a dead letter.
    #[arg(long, env = "HUSH_MAX_ATTEMPTS", default_value_t = 5)]
    max_attempts: u32,
    /// Days a run's record and events are kept.
    #[arg(long, env = "HUSH_RUN_RETENTION_DAYS", default_value_t = 7)]
    retention_days: u64,
    /// This worker's consumer name (default: host name and process id).
    #[arg(long, env = "HUSH_WORKER_NAME")]
    name: Option<String>,
    /// `hush worker` only: serve `/healthz` and `/metrics` (Prometheus) on this address.
    #[arg(long = "metrics-listen", env = "HUSH_WORKER_METRICS_LISTEN")]
    metrics_listen: Option<String>,
}

impl WorkArgs {
    fn config(&self) -> Result<WorkerConfig> {
        if self.concurrency == 0 || self.max_attempts == 0 || self.visibility_timeout_ms < 100 {
            return Err(Error::invalid(
                "worker settings",
                "--concurrency and --max-attempts must be at least 1, --visibility-timeout-ms at least 100",
            ));
        }
        Ok(WorkerConfig {
            name: self
                .name
                .clone()
                .unwrap_or_else(worker::default_worker_name),
            concurrency: self.concurrency,
            visibility: Duration::from_millis(self.visibility_timeout_ms),
            max_attempts: self.max_attempts,
        })
    }
}

/// Where `hush serve` keeps runs.
enum RunsAt {
    /// In Redis, shared with every `hush worker`.
    Redis(Box<RedisRuns>),
    /// In this process (the embedded store), drained here.
    Memory(Arc<MemoryRuns>),
}

impl RunsAt {
    fn shared(&self) -> Runs {
        match self {
            RunsAt::Redis(runs) => Arc::new((**runs).clone()),
            RunsAt::Memory(runs) => Arc::clone(runs) as Runs,
        }
    }
}

fn retention(work: &WorkArgs) -> Duration {
    Duration::from_secs(work.retention_days.max(1) * 24 * 3600)
}

/// Opens hush and its run store: in Redis when `HUSH_REDIS_URL` is set, else in memory.
async fn open_with_runs(work: &WorkArgs) -> Result<(Hush, RunsAt)> {
    let hush = open().await?;
    // A long-lived process: reads of unchanged data need no round trip.
    hush.backend.keep_coherent();
    let runs = match Config::from_env().redis_url {
        Some(url) => RunsAt::Redis(Box::new(
            RedisRuns::connect(&url, retention(work))
                .await?
                .with_final_records(hush.backend.final_records()),
        )),
        None => RunsAt::Memory(Arc::new(MemoryRuns::new(retention(work)))),
    };
    Ok((hush, runs))
}

/// A flag set on SIGTERM or Ctrl-C.
fn stop_flag() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    tokio::spawn(async move {
        api::shutdown_signal().await;
        flag.store(true, Ordering::Relaxed);
    });
    stop
}

/// Serves until a shutdown signal, then flushes the audit trail.
pub async fn run(args: ServeArgs, out: &Out) -> Result<()> {
    let (hush, runs) = open_with_runs(&args.work).await?;
    let policy = NetworkPolicy::from_env()?;
    let state = ApiState::from_hush(&hush, runs.shared(), policy.clone())?
        .with_max_body_bytes(args.max_body_bytes)
        .with_max_queue(args.max_queue);
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| {
            Error::invalid("--listen", format!("cannot listen on {}: {e}", args.listen))
        })?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::internal(format!("the listener has no address: {e}")))?;
    let in_process = matches!(runs, RunsAt::Memory(_));
    let worker = match runs {
        RunsAt::Redis(runs) if args.worker => {
            let config = args.work.config()?;
            let executor = hush.executor(policy)?;
            Some(tokio::spawn(worker::work(
                *runs,
                executor,
                config,
                stop_flag(),
            )))
        }
        RunsAt::Memory(runs) => {
            let executor = hush.executor(policy)?;
            let concurrency = args.work.config()?.concurrency;
            Some(tokio::spawn(async move {
                MemoryRuns::drain(runs, executor, concurrency, stop_flag()).await;
                Ok(())
            }))
        }
        RunsAt::Redis(_) => None,
    };
    let draining = worker.is_some();
    out.value(
        &serde_json::json!({"listening": addr.to_string(), "store": hush.backend.describe(), "worker": draining}),
        || {
            format!(
                "hush serve: listening on http://{addr} ({}){}",
                hush.backend.describe(),
                if in_process {
                    "; runs are kept in this process's memory and run here"
                } else if draining {
                    ", draining the work queue"
                } else {
                    ""
                }
            )
        },
    );
    tracing::info!(%addr, "serving the API");
    let served = api::serve(listener, state).await;
    if let Some(worker) = worker {
        let _ = worker.await;
    }
    hush.secrets.flush().await;
    hush.backend.stop_coherent().await;
    served.map_err(|e| Error::unavailable(format!("the server stopped: {e}")))
}

/// Drains the work queue until a shutdown signal, then finishes the runs it holds.
pub async fn work(args: WorkArgs, out: &Out) -> Result<()> {
    let config = args.config()?;
    let Some(url) = Config::from_env().redis_url else {
        return Err(Error::invalid(
            "HUSH_REDIS_URL",
            "hush worker drains the work queue that hush serve processes share in Redis: set HUSH_REDIS_URL (e.g. redis://127.0.0.1:6379); on the embedded store, hush serve runs queued runs itself",
        ));
    };
    let hush = open().await?;
    hush.backend.keep_coherent();
    let runs = RedisRuns::connect(&url, retention(&args)).await?;
    let executor = hush.executor(NetworkPolicy::from_env()?)?;
    out.value(
        &serde_json::json!({"worker": config.name, "concurrency": config.concurrency}),
        || {
            format!(
                "hush worker {}: draining the work queue ({} at once; {})",
                config.name,
                config.concurrency,
                hush.backend.describe()
            )
        },
    );
    if let Some(addr) = &args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::invalid("--metrics-listen", format!("cannot listen on {addr}: {e}"))
        })?;
        tracing::info!(%addr, "serving /healthz and /metrics");
        tokio::spawn(async move { axum::serve(listener, api::operations_app()).await });
    }
    let worked = worker::work(runs, executor, config, stop_flag()).await;
    hush.secrets.flush().await;
    hush.backend.stop_coherent().await;
    worked
}
