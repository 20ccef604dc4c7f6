//! The service's Prometheus metrics (`GET /metrics`, text exposition format).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric the service exports, registered in one registry.
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint and HTTP status.
    pub requests: IntCounterVec,
    /// Request latency by endpoint, seconds.
    pub latency: HistogramVec,
    /// Items routed to each RM (its share of the traffic).
    pub routed: IntCounterVec,
    /// Feedback items consumed.
    pub feedback_items: IntCounter,
    /// Requests refused because too many were in flight.
    pub overloaded: IntCounter,
    /// Routes awaiting feedback.
    pub pending: IntGauge,
    /// Whether each RM can be called (0: masked).
    pub available: IntGaugeVec,
    /// Bandit updates so far.
    pub updates: IntGauge,
    /// Backend calls per RM (a call scores the items of every request queued for it).
    pub rm_calls: IntCounterVec,
    /// Items scored per RM (cache hits excluded).
    pub rm_items: IntCounterVec,
    /// Items per backend call, per RM (how much micro-batching combines).
    pub rm_batch_items: HistogramVec,
    /// Seconds per request stage: `context` (the export's e(x, a, b)), `route` (the
    /// bandit's selection and the journal write), `score` (waiting for the RMs),
    /// `feedback` (normaliser, update, journal).
    pub stage_seconds: HistogramVec,
    /// Rewards the service derived itself (`verifier` or `audit` learning), by source and
    /// value.
    pub derived_rewards: IntCounterVec,
    /// Audits that failed (an RM call failed; the pairs stayed open).
    pub audit_failures: IntCounter,
}

impl Metrics {
    /// The metrics, registered.
    pub fn new() -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "rm_service_requests_total",
                "Requests by endpoint and status",
            ),
            &["endpoint", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("rm_service_request_seconds", "Request latency, seconds")
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16).expect("valid buckets")),
            &["endpoint"],
        )
        .expect("valid metric");
        let routed = IntCounterVec::new(
            Opts::new(
                "rm_service_routed_total",
                "Items routed to each reward model",
            ),
            &["rm"],
        )
        .expect("valid metric");
        let feedback_items =
            IntCounter::new("rm_service_feedback_items_total", "Feedback items consumed")
                .expect("valid metric");
        let overloaded = IntCounter::new(
            "rm_service_overloaded_total",
            "Requests refused with 503 because too many were in flight",
        )
        .expect("valid metric");
        let pending = IntGauge::new("rm_service_pending_routes", "Routes awaiting feedback")
            .expect("valid metric");
        let available = IntGaugeVec::new(
            Opts::new(
                "rm_service_rm_available",
                "1 if the reward model can be called, 0 if masked",
            ),
            &["rm"],
        )
        .expect("valid metric");
        let updates = IntGauge::new("rm_service_bandit_updates", "Bandit updates so far")
            .expect("valid metric");
        let rm_calls = IntCounterVec::new(
            Opts::new(
                "rm_service_rm_calls_total",
                "Backend calls per reward model",
            ),
            &["rm"],
        )
        .expect("valid metric");
        let rm_items = IntCounterVec::new(
            Opts::new("rm_service_rm_items_total", "Items scored per reward model"),
            &["rm"],
        )
        .expect("valid metric");
        let rm_batch_items = HistogramVec::new(
            HistogramOpts::new(
                "rm_service_rm_batch_items",
                "Items per backend call (requests combined by micro-batching)",
            )
            .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).expect("valid buckets")),
            &["rm"],
        )
        .expect("valid metric");
        let stage_seconds = HistogramVec::new(
            HistogramOpts::new(
                "rm_service_stage_seconds",
                "Seconds per request stage (context, route, score, feedback)",
            )
            .buckets(prometheus::exponential_buckets(0.00001, 2.0, 20).expect("valid buckets")),
            &["stage"],
        )
        .expect("valid metric");
        let derived_rewards = IntCounterVec::new(
            Opts::new(
                "rm_service_derived_rewards_total",
                "Rewards the service derived from verifier labels or audits, by source and value",
            ),
            &["source", "value"],
        )
        .expect("valid metric");
        let audit_failures = IntCounter::new(
            "rm_service_audit_failures_total",
            "Audits that failed (their pairs stay open for feedback)",
        )
        .expect("valid metric");
        let registry = Registry::new();
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(routed.clone()),
            Box::new(feedback_items.clone()),
            Box::new(overloaded.clone()),
            Box::new(pending.clone()),
            Box::new(available.clone()),
            Box::new(updates.clone()),
            Box::new(rm_calls.clone()),
            Box::new(rm_items.clone()),
            Box::new(rm_batch_items.clone()),
            Box::new(stage_seconds.clone()),
            Box::new(derived_rewards.clone()),
            Box::new(audit_failures.clone()),
        ] {
            registry.register(collector).expect("names are unique");
        }
        Self {
            registry,
            requests,
            latency,
            routed,
            feedback_items,
            overloaded,
            pending,
            available,
            updates,
            rm_calls,
            rm_items,
            rm_batch_items,
            stage_seconds,
            derived_rewards,
            audit_failures,
        }
    }

    /// Every metric in Prometheus' text format.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buffer)
            .expect("text encoding of gathered metrics");
        String::from_utf8(buffer).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
