//! Counters and histograms of the handler, served by `GET /api/metrics` in the Prometheus text
//! exposition format (0.0.4), with the official `prometheus-client` crate.
//!
//! They replace per-request log lines as the default way to watch the service (those are
//! opt-in, `TOPTEN_LOG_REQUESTS`). The hot path stays cheap: a request costs one read-locked
//! hash lookup per family and atomic adds (a histogram observation takes a short uncontended
//! lock); label values are `&'static str` (the route *template*, never the raw path, so the
//! label set stays small) and the status code.
//!
//! The store's circuit breaker (Cosmos DB) is seen from the answers it causes: a read the
//! breaker refused is a `StoreError::Unavailable` saying so, with the time it stays open, and
//! `topten_store_breaker_open` is 1 until then.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use topten_store::WriteStats;

/// Content type of the exposition.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: &'static str,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

fn latency_histogram() -> Histogram {
    // 50 µs .. ~1.6 s: a cached GET is tens of microseconds, a Cosmos read milliseconds.
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

fn foldin_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 16))
}

/// The handler's metrics (one per [`crate::AppState`]).
pub struct Metrics {
    registry: Registry,
    requests: Family<HttpLabels, Counter>,
    latency: Family<HttpLabels, Histogram, fn() -> Histogram>,
    store_errors: Family<KindLabels, Counter>,
    connection_errors: Family<KindLabels, Counter>,
    events_accepted: Counter,
    events_stored: Counter,
    foldin: Histogram,
    foldin_errors: Counter,
    /// Item fold-ins (one per batch of items solved together), their items and failures.
    item_foldin: Histogram,
    items_folded_in: Counter,
    item_foldin_errors: Counter,
    /// What retention passes deleted, by kind (`events`, `item_changes`, `answer_counts`).
    retention_deleted: Family<KindLabels, Counter>,
    /// Events whose `recommendationId` did not check, by reason (stored unattributed).
    unattributed_ids: Family<ReasonLabels, Counter>,
    breaker_open: Gauge,
    /// Epoch milliseconds until which the breaker was last seen open.
    breaker_open_until_ms: AtomicU64,
    request_units: Gauge<f64, AtomicU64>,
    store_throttled: Gauge,
    store_retries: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("topten");
        let requests = Family::<HttpLabels, Counter>::default();
        let latency = Family::<HttpLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let store_errors = Family::<KindLabels, Counter>::default();
        let connection_errors = Family::<KindLabels, Counter>::default();
        let m = Metrics {
            registry: Registry::default(),
            requests,
            latency,
            store_errors,
            connection_errors,
            events_accepted: Counter::default(),
            events_stored: Counter::default(),
            foldin: foldin_histogram(),
            foldin_errors: Counter::default(),
            item_foldin: foldin_histogram(),
            items_folded_in: Counter::default(),
            item_foldin_errors: Counter::default(),
            retention_deleted: Family::default(),
            unattributed_ids: Family::default(),
            breaker_open: Gauge::default(),
            breaker_open_until_ms: AtomicU64::new(0),
            request_units: Gauge::default(),
            store_throttled: Gauge::default(),
            store_retries: Gauge::default(),
        };
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            m.requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time from request head to response, by route template, method and status",
            m.latency.clone(),
        );
        registry.register(
            "http_connection_errors",
            "Connections closed without an answer (header_timeout: no complete request head within TOPTEN_HEADER_TIMEOUT_MS, also on idle kept-alive connections)",
            m.connection_errors.clone(),
        );
        registry.register(
            "store_errors",
            "Store failures behind an answer (unavailable, breaker_open, other) or a fold-in write-back",
            m.store_errors.clone(),
        );
        registry.register(
            "store_breaker_open",
            "1 while the store's circuit breaker is known to be open (Cosmos DB), else 0",
            m.breaker_open.clone(),
        );
        registry.register(
            "store_request_units",
            "Request units charged by the store so far (Cosmos DB)",
            m.request_units.clone(),
        );
        registry.register(
            "store_throttled",
            "Store writes answered 429 and retried so far (Cosmos DB)",
            m.store_throttled.clone(),
        );
        registry.register(
            "store_retries",
            "Store retries of any cause so far (Cosmos DB)",
            m.store_retries.clone(),
        );
        registry.register(
            "events_accepted",
            "Events accepted by POST /api/events (valid batches, duplicates included)",
            m.events_accepted.clone(),
        );
        registry.register(
            "events_stored",
            "Events stored (accepted minus duplicates by eventId)",
            m.events_stored.clone(),
        );
        registry.register(
            "foldin_duration_seconds",
            "Time to fold one user's events into the active version and write their list back",
            m.foldin.clone(),
        );
        registry.register(
            "foldin_errors",
            "Fold-in write-backs that failed (the events were stored)",
            m.foldin_errors.clone(),
        );
        registry.register(
            "item_foldin_duration_seconds",
            "Time to solve a batch of items' factors from their live events and store them",
            m.item_foldin.clone(),
        );
        registry.register(
            "items_folded_in",
            "Item factors solved from live events",
            m.items_folded_in.clone(),
        );
        registry.register(
            "item_foldin_errors",
            "Item fold-ins that failed (the events were stored)",
            m.item_foldin_errors.clone(),
        );
        registry.register(
            "retention_deleted",
            "What this instance's retention passes deleted, by kind",
            m.retention_deleted.clone(),
        );
        registry.register(
            "unattributed_ids",
            "Events stored unattributed because their recommendationId did not check, by reason (malformed, signature, unknown_version, not_listed, outside_window)",
            m.unattributed_ids.clone(),
        );
        // Every reason shows from the start, at 0: a dashboard can rate it without a gap.
        for reason in topten_edge::answer_id::Rejected::ALL {
            drop(m.unattributed_ids.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            }));
        }
        Metrics { registry, ..m }
    }

    /// Counts one answered request.
    pub fn request(&self, route: &'static str, method: &'static str, status: u16, took: Duration) {
        let labels = HttpLabels {
            route,
            method,
            status,
        };
        self.requests.get_or_create(&labels).inc();
        self.latency
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Counts a connection closed without an answer.
    pub fn connection_error(&self, kind: &'static str) {
        self.connection_errors
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    /// Counts a store failure; `breaker_open_for` when the store's breaker refused the call.
    pub fn store_error(&self, kind: &'static str, breaker_open_for: Option<Duration>) {
        self.store_errors.get_or_create(&KindLabels { kind }).inc();
        if let Some(d) = breaker_open_for {
            let until = now_ms() + d.as_millis() as u64;
            self.breaker_open_until_ms
                .fetch_max(until, Ordering::Relaxed);
        }
    }

    /// Counts a batch of events.
    pub fn events(&self, accepted: usize, stored: usize) {
        self.events_accepted.inc_by(accepted as u64);
        self.events_stored.inc_by(stored as u64);
    }

    /// Records one user's fold-in.
    pub fn foldin(&self, took: Duration, ok: bool) {
        self.foldin.observe(took.as_secs_f64());
        if !ok {
            self.foldin_errors.inc();
            self.store_error("foldin_write", None);
        }
    }

    /// Records an item fold-in of `items` items.
    pub fn item_foldin(&self, took: Duration, items: usize, ok: bool) {
        self.item_foldin.observe(took.as_secs_f64());
        self.items_folded_in.inc_by(items as u64);
        if !ok {
            self.item_foldin_errors.inc();
            self.store_error("item_foldin", None);
        }
    }

    /// Counts events whose id did not check.
    pub fn unattributed_ids(&self, reasons: &[topten_edge::answer_id::Rejected]) {
        for r in reasons {
            self.unattributed_ids
                .get_or_create(&ReasonLabels { reason: r.as_str() })
                .inc();
        }
    }

    /// Counts what a retention pass deleted.
    pub fn swept(&self, swept: &topten_live::retention::Swept) {
        for (kind, n) in [
            ("events", swept.events),
            ("item_changes", swept.item_changes),
            ("answer_counts", swept.answer_counts),
        ] {
            self.retention_deleted
                .get_or_create(&KindLabels { kind })
                .inc_by(n as u64);
        }
    }

    /// The exposition, with the store's own figures read now.
    pub fn render(&self, write_stats: Option<WriteStats>) -> String {
        let open = self.breaker_open_until_ms.load(Ordering::Relaxed) > now_ms();
        self.breaker_open.set(open as i64);
        if let Some(w) = write_stats {
            self.request_units.set(w.request_units);
            self.store_throttled.set(w.throttled as i64);
            self.store_retries.set(w.retries as i64);
        }
        let mut out = String::with_capacity(16 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry);
        out
    }
}

fn now_ms() -> u64 {
    topten_model::clock::now_ms().max(0) as u64
}

/// Shared handle.
pub type SharedMetrics = Arc<Metrics>;
