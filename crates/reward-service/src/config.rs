//! How the service runs: where it listens, who may call it, its limits and where it keeps
//! its state.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Limits that keep one client from exhausting the service.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Largest request body, bytes (413 above it).
    pub max_body_bytes: usize,
    /// Most items (responses to score, pairs to route, feedback entries) per request (413
    /// above it).
    pub max_items: usize,
    /// Requests handled at once; more are answered 503 with `Retry-After` at once, so
    /// memory stays bounded by this × `max_body_bytes`.
    pub max_in_flight: usize,
    /// Seconds a 503 asks the client to wait.
    pub retry_after_s: u64,
    /// Routes awaiting feedback kept at most; the oldest are dropped beyond it (a client
    /// that never sends feedback cannot grow the state without bound). Each holds its
    /// context: memory ≈ max_pending × d × 8 bytes (65,536 × 576 ≈ 300 MB at most).
    pub max_pending: usize,
    /// Most items one backend call of an RM combines from queued requests
    /// (micro-batching; a single larger request is still scored whole).
    pub max_batch_items: usize,
    /// Scores each RM keeps cached (the cache is emptied when a call would overflow it).
    pub cache_items: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: 8 << 20,
            max_items: 1024,
            max_in_flight: 64,
            retry_after_s: 1,
            max_pending: 1 << 16,
            max_batch_items: 256,
            cache_items: 1 << 16,
        }
    }
}

/// What the router learns from besides clients' `POST /feedback` (always accepted). Both
/// signals apply to `/route_pairs` (a pair is what an RM's label is about); `/get_reward`
/// items learn from client feedback only.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Learning {
    /// A verifier for requests that carry a `label` (and, for `synthetic`, a `category`):
    /// each routed pair it decides — exactly one of the two responses correct — rewards the
    /// routed RM with 1 if that RM preferred the correct response, else 0 (a tie is not a
    /// preference), at once. Undecided pairs stay open for client feedback.
    pub verifier: Option<(answer_check::VerifierTask, Option<String>)>,
    /// Share of routed pairs audited, in [0, 1]: every other available RM also scores the
    /// pair, and the routed RM is rewarded with 1 if its verdict equals their majority
    /// verdict, 0 if not (a tie among them, or no other RM, decides nothing). Costs K× RM
    /// calls on the audited pairs. Which pairs are audited is a seeded function of the route
    /// id (reproducible).
    pub audit_fraction: f64,
    /// Seed of the audit draw.
    pub audit_seed: u64,
}

/// The service's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceConfig {
    /// Where to listen (127.0.0.1 by default).
    pub bind: SocketAddr,
    /// The bearer token every request must carry (`Authorization: Bearer …`); required when
    /// `bind` is not a loopback address.
    pub token: Option<String>,
    /// Request limits.
    pub limits: Limits,
    /// The state folder: journal.jsonl (every route and feedback event, appended) and
    /// snapshot/ (the router, replaced whole).
    pub state_dir: PathBuf,
    /// Snapshot after this many applied feedback calls (and on shutdown).
    pub snapshot_every: u64,
    /// Rewards the service derives itself.
    pub learning: Learning,
}

impl ServiceConfig {
    /// A config listening on 127.0.0.1:`port` with default limits.
    pub fn local(port: u16, state_dir: PathBuf) -> Self {
        Self {
            bind: SocketAddr::from(([127, 0, 0, 1], port)),
            token: None,
            limits: Limits::default(),
            state_dir,
            snapshot_every: 100,
            learning: Learning::default(),
        }
    }

    /// Checks the config: a token when listening beyond loopback, limits above zero.
    pub fn check(&self) -> Result<()> {
        if !self.bind.ip().is_loopback() && self.token.is_none() {
            return Err(Error::Config(format!(
                "binding {} exposes the service beyond this machine: set a bearer token \
                 (--token or RM_SERVICE_TOKEN)",
                self.bind
            )));
        }
        if self.token.as_deref().is_some_and(str::is_empty) {
            return Err(Error::Config("the bearer token is empty".into()));
        }
        let limits = &self.limits;
        for (name, value) in [
            ("max_body_bytes", limits.max_body_bytes),
            ("max_items", limits.max_items),
            ("max_in_flight", limits.max_in_flight),
            ("max_pending", limits.max_pending),
            ("max_batch_items", limits.max_batch_items),
            ("cache_items", limits.cache_items),
        ] {
            if value == 0 {
                return Err(Error::Config(format!("limit {name} must be > 0")));
            }
        }
        let fraction = self.learning.audit_fraction;
        if !(0.0..=1.0).contains(&fraction) {
            return Err(Error::Config(format!(
                "audit fraction {fraction} is not in [0, 1]"
            )));
        }
        if self.snapshot_every == 0 {
            return Err(Error::Config("snapshot_every must be > 0".into()));
        }
        Ok(())
    }
}
