//! Process metrics in Prometheus text format (`prometheus-client`): runs by kind and
//! status, run durations, sandbox limit breaches, redactions and Redis errors. Labels are
//! fixed words (kinds, statuses, limit names); never an id, a name or a value.

use std::sync::OnceLock;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels whose values are fixed words (kinds, statuses, outcomes): no allocation per run.
type Labels = Vec<(&'static str, &'static str)>;
/// Labels whose value is read from a message (a limit's setting name).
type OwnedLabels = Vec<(&'static str, String)>;

struct Metrics {
    registry: Registry,
    runs: Family<Labels, Counter>,
    durations: Family<Labels, Histogram, fn() -> Histogram>,
    breaches: Family<OwnedLabels, Counter>,
    redactions: Counter,
    redis_errors: Counter,
    deliveries: Family<Labels, Counter>,
    read_cache: Family<Labels, Counter>,
}

fn duration_histogram() -> Histogram {
    // 1 ms to about 65 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 17))
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("hush");
        let runs = Family::<Labels, Counter>::default();
        registry.register(
            "runs",
            "Runs that ended, by action kind and status",
            runs.clone(),
        );
        let durations = Family::<Labels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        registry.register(
            "run_duration_seconds",
            "Wall time of runs, by action kind",
            durations.clone(),
        );
        let breaches = Family::<OwnedLabels, Counter>::default();
        registry.register(
            "sandbox_limit_breaches",
            "Runs ended by a limit, by the limit's setting",
            breaches.clone(),
        );
        let redactions = Counter::default();
        registry.register(
            "redactions",
            "Occurrences of secret values redacted from output, logs and errors",
            redactions.clone(),
        );
        let redis_errors = Counter::default();
        registry.register(
            "redis_errors",
            "Redis commands that failed",
            redis_errors.clone(),
        );
        let deliveries = Family::<Labels, Counter>::default();
        registry.register(
            "queue_deliveries",
            "Queue entries a worker handled, by outcome",
            deliveries.clone(),
        );
        let read_cache = Family::<Labels, Counter>::default();
        registry.register(
            "read_cache",
            "Reads a run made at a known data version, by whether the cache answered (hit) or Redis did (miss)",
            read_cache.clone(),
        );
        Metrics {
            read_cache,
            registry,
            runs,
            durations,
            breaches,
            redactions,
            redis_errors,
            deliveries,
        }
    })
}

/// Counts a run that ended: its kind, status, wall time, and the limit that ended it (the
/// setting named in a `limit_exceeded` message, e.g. `limits.max_http_calls`).
pub fn run_ended(kind: &'static str, status: &'static str, seconds: f64, limit: Option<&str>) {
    let m = metrics();
    m.runs
        .get_or_create(&vec![("kind", kind), ("status", status)])
        .inc();
    m.durations
        .get_or_create(&vec![("kind", kind)])
        .observe(seconds);
    if let Some(limit) = limit {
        m.breaches
            .get_or_create(&vec![("limit", limit.to_owned())])
            .inc();
    }
}

/// Counts `n` redacted occurrences of secret values.
pub fn redacted(n: usize) {
    metrics().redactions.inc_by(n as u64);
}

/// Counts a read made at a known data version: answered from the cache or not.
pub fn read_cache(hit: bool) {
    metrics()
        .read_cache
        .get_or_create(&vec![("outcome", if hit { "hit" } else { "miss" })])
        .inc();
}

/// Counts a failed Redis command.
pub fn redis_error() {
    metrics().redis_errors.inc();
}

/// Counts a queue entry a worker handled: `ran`, `store_unavailable`, `already_final`, `duplicate`, `dead_lettered`,
/// `gone` or `superseded`.
pub fn delivery(outcome: &'static str) {
    metrics()
        .deliveries
        .get_or_create(&vec![("outcome", outcome)])
        .inc();
}

/// Every metric, in the Prometheus text format.
pub fn render() -> String {
    let mut text = String::new();
    encode(&mut text, &metrics().registry).expect("writing to a String cannot fail");
    text
}
