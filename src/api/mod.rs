//! `hush serve`: the HTTP API for orchestrators and run viewers (axum). It parses,
//! authenticates (bearer tokens, [`crate::tokens`]), decides who may act for whom, and
//! calls the executor; it owns no run logic and never answers or logs a secret value or a token.
//!
//! [`app`] builds the router over an [`ApiState`] (tests drive it over a real socket or
//! with `oneshot`); [`serve`] runs it on a listener until SIGTERM or Ctrl-C.
//!
//! | route | answers |
//! | --- | --- |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 when the store answers, else 503 |
//! | `GET /metrics` | Prometheus metrics |
//! | `POST /v1/runs` | queues an action for an actor (202), or runs it with `?wait=true` |
//! | `GET /v1/runs` | a page of the org's runs (by workflow run, status; cursor) |
//! | `GET /v1/runs/{id}` | one run of the caller's org |
//! | `GET /v1/runs/{id}/events` | the run's status changes and log lines (server-sent events) |
//! | `/v1/secrets…` | secret keys, metadata only (`secrets`) |
//! | `/v1/users…`, `/v1/groups…` | the org's directory (`directory`) |
//! | `/v1/actions…` | saved actions (`actions`) |
//! | `GET /v1/me` | who the caller is: org, principal, the member acted for (`me`) |
//! | `GET /v1/openapi.json` | the OpenAPI 3.1 document of every route (`openapi`) |
//! | `GET /`, `GET /ui/…` | the web page (`src/web`) |
//!
//! Every refusal is `{"error": {"code", "message"}}` (`error::ApiError`).

pub(crate) mod actions;
pub(crate) mod auth;
pub(crate) mod directory;
pub(crate) mod error;
pub(crate) mod me;
pub(crate) mod openapi;
pub(crate) mod runs;
pub(crate) mod secrets;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use crate::app::Hush;
use crate::directory::Directory;
use crate::error::Result;
use crate::executor::Executor;
use crate::runs::Runs;
use crate::runs::queue::DEFAULT_MAX_QUEUE;
use crate::saved::SavedActions;
use crate::secrets::SecretStore;
use crate::store::Backend;
use crate::tokens::Tokens;
use error::{ApiError, ErrorCode};

/// The default request body limit: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1 << 20;

/// What every request handler shares: the store, the directory, tokens, the run store
/// (history and queue) and the executor. Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    backend: Arc<dyn Backend>,
    directory: Directory,
    tokens: Tokens,
    runs: Runs,
    executor: Executor,
    secrets: Arc<SecretStore>,
    saved: SavedActions,
    max_body_bytes: usize,
    max_queue: usize,
}

impl ApiState {
    /// State over `backend`, keeping runs in `runs` and running actions on `executor`.
    pub fn new(backend: Arc<dyn Backend>, runs: Runs, executor: Executor) -> Self {
        ApiState {
            directory: Directory::new(Arc::clone(&backend)),
            tokens: Tokens::new(Arc::clone(&backend)),
            runs,
            secrets: Arc::clone(executor.secrets()),
            saved: SavedActions::new(Arc::clone(&backend)),
            backend,
            executor,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_queue: DEFAULT_MAX_QUEUE,
        }
    }

    /// State over an opened hush, with its run store and executor.
    ///
    /// # Errors
    /// When the executor cannot be set up (see [`Hush::executor`]).
    pub fn from_hush(
        hush: &Hush,
        runs: Runs,
        policy: crate::actions::http::NetworkPolicy,
    ) -> Result<Self> {
        Ok(Self::new(
            Arc::clone(&hush.backend),
            runs,
            hush.executor(policy)?,
        ))
    }

    /// Refuses queued dispatch (503) while the work stream holds `entries` or more.
    pub fn with_max_queue(mut self, entries: usize) -> Self {
        self.max_queue = entries;
        self
    }

    /// Refuses request bodies over `bytes` with 413.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// The API's router.
pub fn app(state: ApiState) -> Router {
    let max_body = state.max_body_bytes;
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/v1/runs", post(runs::dispatch).get(runs::list))
        .route("/v1/runs/{id}", get(runs::get))
        .route("/v1/runs/{id}/events", get(runs::events))
        .merge(secrets::routes())
        .merge(directory::routes())
        .merge(actions::routes())
        .merge(me::routes())
        .merge(openapi::routes())
        .merge(crate::web::routes())
        .fallback(|| async { ApiError::not_found("no such route") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(log_refusals))
        .layer(middleware::map_response(|mut response: Response| async {
            api_headers(&mut response);
            response
        }))
        .with_state(state)
}

/// The headers every API response carries unless its handler set them: answers are not
/// cached (they describe secrets and runs), not sniffed, and send no referrer.
fn api_headers(response: &mut Response) {
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CACHE_CONTROL, "no-store"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}

/// The operations routes of a process without the API (`hush worker --listen`):
/// `/healthz` and `/metrics`.
pub fn operations_app() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(state): State<ApiState>) -> Result<impl IntoResponse, ApiError> {
    state.backend.ping().await?;
    state.runs.ping().await?;
    Ok(axum::Json(serde_json::json!({"status": "ready"})))
}

async fn metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        crate::metrics::render(),
    )
}

/// Logs every refused request by method, path, status and error code: never its body,
/// query string or headers.
async fn log_refusals(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_client_error() || status.is_server_error() {
        let code = response.extensions().get::<ErrorCode>().map_or("", |c| c.0);
        tracing::info!(%method, %path, status = status.as_u16(), code, "refused request");
    }
    response
}

/// Serves `app(state)` on `listener` until SIGTERM or Ctrl-C, then finishes the requests
/// in flight.
///
/// # Errors
/// When the listener fails.
pub async fn serve(listener: tokio::net::TcpListener, state: ApiState) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    // Small answers and server-sent events go out at once, not after the client's delayed
    // ACK (Nagle's algorithm held each event about 40 ms).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app(state))
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}
