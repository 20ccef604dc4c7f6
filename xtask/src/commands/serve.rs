//! `cargo xtask serve`: the pool and a router as an HTTP reward service
//! (`reward_service::build_parts`, `Service::open`, `reward_service::run`).

use std::net::SocketAddr;
use std::path::PathBuf;

use answer_check::VerifierTask;
use anyhow::Result;
use clap::Args;
use reward_service::{
    Learning, Limits, RouterOptions, Service, ServiceConfig, ServiceStrategy, build_parts,
};

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The reward-model pool (TOML, docs/FORMATS.md); remote RMs (vLLM, OpenRLHF servers)
    /// enter through its `http` kind.
    #[arg(long, value_name = "POOL.toml")]
    pool: PathBuf,
    /// The offline router's export (its prior and context function), for bayesian-v5,
    /// bayesian-v4 and offline-only.
    #[arg(long, value_name = "DIR")]
    router: Option<PathBuf>,
    /// bayesian-v5 (the default with --router), bayesian-v4, offline-only, random (the
    /// default without), single:RM.
    #[arg(long)]
    strategy: Option<ServiceStrategy>,
    /// Where to listen; anything but loopback needs --token.
    #[arg(long, default_value = "127.0.0.1:8000")]
    bind: SocketAddr,
    /// The bearer token clients must send.
    #[arg(long, env = "RM_SERVICE_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// The state folder (journal.jsonl, snapshot/); a restart continues from it.
    #[arg(long, value_name = "DIR", default_value = "runs/serve")]
    state: PathBuf,
    /// The bandit's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Monte-Carlo draws behind each Thompson route's logged propensities (default 1,000:
    /// standard error ≤ 1.6 points; the bulk of a route's cost; 0 logs none).
    #[arg(long, value_name = "N")]
    propensity_draws: Option<usize>,
    /// Newest normalised advantages v5's quantile rescaling keeps (the trainer keeps a
    /// run's whole history; a service runs indefinitely).
    #[arg(long, value_name = "N", default_value_t = RouterOptions::default().normalizer_window)]
    normalizer_window: usize,
    /// Items (responses, pairs, feedback entries) per request at most.
    #[arg(long, default_value_t = Limits::default().max_items)]
    max_items: usize,
    /// Request body size at most, bytes.
    #[arg(long, default_value_t = Limits::default().max_body_bytes)]
    max_body_bytes: usize,
    /// Requests handled at once; more get 503 with Retry-After.
    #[arg(long, default_value_t = Limits::default().max_in_flight)]
    max_in_flight: usize,
    /// Items one RM call combines from queued requests (micro-batching; a soft limit).
    #[arg(long, default_value_t = Limits::default().max_batch_items)]
    max_batch_items: usize,
    /// Routes awaiting feedback kept (oldest dropped first); each holds its context.
    #[arg(long, default_value_t = Limits::default().max_pending)]
    max_pending: usize,
    /// Scores each RM keeps cached.
    #[arg(long, default_value_t = Limits::default().cache_items)]
    cache_items: usize,
    /// Snapshot the router after this many feedback calls (and on SIGTERM).
    #[arg(long, default_value_t = 100)]
    snapshot_every: u64,
    /// Learn from a verifier: /route_pairs requests with a `label` reward the routed RM
    /// with 1 when it preferred the response the verifier marks correct (gsm8k, mmlu,
    /// exact, regex, synthetic).
    #[arg(long, value_name = "TASK")]
    verifier: Option<VerifierTask>,
    /// The pattern of `--verifier regex`.
    #[arg(long, value_name = "REGEX", requires = "verifier")]
    verifier_pattern: Option<String>,
    /// Share of routed pairs audited by every RM; the routed RM is rewarded for agreeing
    /// with their majority (K× calls on those pairs).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.0)]
    audit: f64,
}

/// Builds the service and serves until SIGTERM or Ctrl-C.
pub fn run(args: ServeArgs) -> Result<()> {
    let strategy = args.strategy.unwrap_or(if args.router.is_some() {
        ServiceStrategy::BayesianV5
    } else {
        ServiceStrategy::Random
    });
    let options = RouterOptions {
        seed: args.seed,
        propensity_draws: args.propensity_draws,
        normalizer_window: args.normalizer_window,
    };
    let parts = build_parts(&args.pool, args.router.as_deref(), &strategy, options)?;
    let config = ServiceConfig {
        bind: args.bind,
        token: args.token,
        limits: Limits {
            max_items: args.max_items,
            max_body_bytes: args.max_body_bytes,
            max_in_flight: args.max_in_flight,
            max_batch_items: args.max_batch_items,
            max_pending: args.max_pending,
            cache_items: args.cache_items,
            ..Limits::default()
        },
        state_dir: args.state,
        snapshot_every: args.snapshot_every,
        learning: Learning {
            verifier: args.verifier.map(|task| (task, args.verifier_pattern)),
            audit_fraction: args.audit,
            audit_seed: args.seed,
        },
    };
    let service = Service::open(config, parts)?;
    eprintln!(
        "serving {strategy:?} over [{}] on http://{} (POST /get_reward, /route_pairs, /feedback; GET /healthz, /metrics)",
        service.names().join(", "),
        args.bind
    );
    reward_service::run(service)?;
    Ok(())
}
