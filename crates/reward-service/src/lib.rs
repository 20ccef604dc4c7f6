//! Reward-model routing as an HTTP reward service, for RLHF engines that scale out (OpenRLHF,
//! verl, TRL): each item or candidate pair is routed to one RM of the pool by the bandit,
//! scored by it, and — when the client sends losses or rewards back by route id — the bandit
//! learns, as in the in-process trainer.
//!
//! | endpoint | body | answer |
//! |---|---|---|
//! | `POST /get_reward` | OpenRLHF's `{"query", "prompts", "labels"}` | `rewards`, `scores`, `extra_logs` (route id, arm, propensity per item), `routes` |
//! | `POST /route_pairs` | a prompt, its responses, optional pairs | per pair: route id, RM, propensity, both scores, the preferred response |
//! | `POST /feedback` | `{"items": [{"route_id", "loss" or "reward"}]}` | items applied and consumed, bandit updates so far |
//! | `GET /healthz` | — | RMs, their availability, pending routes, updates |
//! | `GET /metrics` | — | Prometheus text: requests, latency, routes per RM, masked RMs, … |
//!
//! ```text
//! request ─▶ token ─▶ size / in-flight limits (413 / 503 + Retry-After)
//!         ─▶ contexts (the export's e(x, a, b); e(x, y, y) for single items)
//!         ─▶ RouterCore::route ─▶ journal.jsonl (flushed) ─▶ one pool call per routed RM
//! feedback ─▶ all-or-nothing checks ─▶ normaliser ─▶ bandit update ─▶ journal ─▶ 200
//!          └▶ every N calls: snapshot/ replaced whole (and on SIGTERM)
//! restart ─▶ snapshot/ + the journal's later events replayed (selections redone and checked)
//! ```
//!
//! Key design decision: the journal, not the snapshot, is the source of truth. Every event
//! is flushed before its request is answered, so a process killed at any point restarts
//! with every acknowledged feedback applied; snapshots only bound the replay.

pub mod api;
mod config;
mod core;
mod error;
mod journal;
mod metrics;
mod routing_log;
mod scorer;
mod server;
mod strategy;

pub use crate::{
    api::FeedbackSource,
    config::{Learning, Limits, ServiceConfig},
    core::{Applied, Routed, RouterCore},
    error::{Error, Result},
    journal::{Event, JOURNAL_FILE, Journal, RoutedItem, SNAPSHOT_DIR},
    metrics::Metrics,
    routing_log::{ROUTING_LOG_FILE, RoutingLog, RoutingRow},
    scorer::{PendingScores, Scorer},
    server::{Service, ServiceParts, app, run, serve, shutdown_signal},
    strategy::{RouterOptions, ServiceStrategy, build_parts, build_parts_with_pool},
};
