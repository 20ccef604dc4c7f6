//! The reward service under load (`cargo xtask bench service`): requests/s and p50/p99
//! latency at several numbers of concurrent clients, beside a reference server on the same
//! machine in the same process, and the share of the service's request time each stage
//! takes (read from its own `/metrics`).
//!
//! Workload: a pool of four cheap, real RMs (answer verifiers: `exact`, `gsm8k`, `mmlu`,
//! `regex`, microseconds per item), so that what is measured is the service itself — HTTP,
//! routing (Thompson sampling at v5's prior over constant contexts, with its 1,000 propensity
//! draws), the journal write and micro-batched scoring — not a model. Each client is a thread
//! with a keep-alive connection sending requests back to back:
//! - `get_reward`: OpenRLHF's request with one item (what it sends today);
//! - `route_pairs`: one prompt with 4 responses (6 routed pairs).
//!
//! The reference is the least a server can do for the same request: an axum handler that
//! parses the body and scores every item with one RM of the same pool (no routing, no
//! journal, no metrics). The ratio service / reference is the price of routing as a service.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use answer_check::VerifierTask;
use axum::Json;
use axum::extract::State;
use axum::routing::post;
use bandit::{BanditParams, LinearBandit, Policy, Prior};
use reward_service::{Service, ServiceConfig, ServiceParts};
use rm_pool::backends::verifier::VerifierRm;
use rm_pool::{RewardModel, RmPool, ScoreItem};
use serde::Serialize;
use serde_json::{Value, json};

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceBenchConfig {
    /// Concurrent clients, one level each.
    pub clients: Vec<usize>,
    /// Seconds measured per level (after a warm-up of a quarter of it).
    pub seconds: f64,
    /// The bandit's seed.
    pub seed: u64,
    /// Monte-Carlo draws per Thompson route (v5's 1,000 when `None`).
    pub propensity_draws: Option<usize>,
}

/// One endpoint at one concurrency, on both servers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LoadLevel {
    /// `get_reward` or `route_pairs`.
    pub workload: &'static str,
    /// Concurrent clients.
    pub clients: usize,
    /// The service: requests completed per second.
    pub requests_per_s: f64,
    /// The service: median latency, ms.
    pub p50_ms: f64,
    /// The service: 99th-percentile latency, ms.
    pub p99_ms: f64,
    /// The reference: requests per second.
    pub reference_requests_per_s: f64,
    /// The reference: median latency, ms.
    pub reference_p50_ms: f64,
    /// The reference: 99th-percentile latency, ms.
    pub reference_p99_ms: f64,
    /// Share of the service's in-handler time per stage (`route`: selection + journal;
    /// `score`: waiting for the RMs; `context`), from its own histograms.
    pub stage_share: BTreeMap<String, f64>,
    /// Requests that did not answer 200 (503s under overload would show here).
    pub errors: usize,
}

/// The whole run.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ServiceBench {
    /// One entry per workload × concurrency.
    pub levels: Vec<LoadLevel>,
}

/// Runs every level on a fresh service (state in a temporary folder) and reference server.
pub fn run(config: &ServiceBenchConfig) -> anyhow::Result<ServiceBench> {
    if !(config.seconds.is_finite() && config.seconds > 0.0) {
        anyhow::bail!("seconds must be a positive number, got {}", config.seconds);
    }
    if config.clients.contains(&0) {
        anyhow::bail!("every level needs at least one client");
    }
    let state = tempfile::tempdir()?;
    let service = Service::open(
        ServiceConfig::local(0, state.path().to_path_buf()),
        parts(config)?,
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let service_address = runtime.block_on(start_service(service))?;
    let reference_address = runtime.block_on(start_reference(pool()?))?;
    let mut levels = Vec::new();
    for workload in ["get_reward", "route_pairs"] {
        for &clients in &config.clients {
            let seconds = config.seconds;
            let before = stage_sums(service_address)?;
            let (ours, errors) = load(service_address, workload, clients, seconds)?;
            let after = stage_sums(service_address)?;
            let (reference, _) = load(reference_address, workload, clients, seconds)?;
            let endpoint = format!("/{workload}");
            let total = after.get(&endpoint).copied().unwrap_or(0.0)
                - before.get(&endpoint).copied().unwrap_or(0.0);
            let stage_share = ["context", "route", "score"]
                .into_iter()
                .map(|stage| {
                    let spent = after.get(stage).copied().unwrap_or(0.0)
                        - before.get(stage).copied().unwrap_or(0.0);
                    (
                        stage.to_string(),
                        if total > 0.0 { spent / total } else { 0.0 },
                    )
                })
                .collect();
            levels.push(LoadLevel {
                workload,
                clients,
                requests_per_s: ours.requests_per_s,
                p50_ms: ours.p50_ms,
                p99_ms: ours.p99_ms,
                reference_requests_per_s: reference.requests_per_s,
                reference_p50_ms: reference.p50_ms,
                reference_p99_ms: reference.p99_ms,
                stage_share,
                errors,
            });
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(1));
    Ok(ServiceBench { levels })
}

/// The four verifier RMs.
fn pool() -> anyhow::Result<RmPool> {
    let rms: Vec<Box<dyn RewardModel>> = vec![
        Box::new(VerifierRm::new("exact", VerifierTask::Exact, None)?),
        Box::new(VerifierRm::new("gsm8k", VerifierTask::Gsm8k, None)?),
        Box::new(VerifierRm::new("mmlu", VerifierTask::Mmlu, None)?),
        Box::new(VerifierRm::new(
            "regex",
            VerifierTask::Regex,
            Some(r"(\d+)"),
        )?),
    ];
    Ok(RmPool::new(rms)?)
}

/// Thompson sampling at v5's parameters over constant contexts, a small prior per RM.
fn parts(config: &ServiceBenchConfig) -> anyhow::Result<ServiceParts> {
    let pool = pool()?;
    let prior = Prior::new(
        pool.names()
            .into_iter()
            .enumerate()
            .map(|(k, name)| (name, vec![0.1 * k as f64]))
            .collect(),
    )?;
    let mut params = BanditParams::bayesian_v5();
    if let Some(draws) = config.propensity_draws {
        params.propensity_draws = draws;
    }
    Ok(ServiceParts {
        bandit: LinearBandit::new(Policy::Thompson, prior, params, config.seed)?,
        normalizer: None,
        pool,
        context_fn: None,
    })
}

async fn start_service(service: Arc<Service>) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(reward_service::serve(
        service,
        listener,
        std::future::pending(),
    ));
    Ok(address)
}

/// The reference: parse, score with RM 0 of the pool, answer.
async fn start_reference(pool: RmPool) -> anyhow::Result<SocketAddr> {
    let pool = Arc::new(Mutex::new(pool));
    let app = axum::Router::new()
        .route("/get_reward", post(reference_get_reward))
        .route("/route_pairs", post(reference_route_pairs))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

fn reference_score(pool: &Mutex<RmPool>, items: &[ScoreItem]) -> Vec<f32> {
    let mut pool = pool
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    pool.score(0, items).unwrap_or_default()
}

async fn reference_get_reward(
    State(pool): State<Arc<Mutex<RmPool>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let items: Vec<ScoreItem> = body["query"]
        .as_array()
        .map(|queries| {
            queries
                .iter()
                .map(|q| {
                    ScoreItem::single_turn("", q.as_str().unwrap_or_default()).with_reference("4")
                })
                .collect()
        })
        .unwrap_or_default();
    let scores = tokio::task::spawn_blocking(move || reference_score(&pool, &items))
        .await
        .unwrap_or_default();
    Json(json!({"rewards": scores, "scores": scores}))
}

async fn reference_route_pairs(
    State(pool): State<Arc<Mutex<RmPool>>>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let prompt = body["prompt"].as_str().unwrap_or_default().to_string();
    let responses: Vec<String> = body["responses"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let n = responses.len();
    let items: Vec<ScoreItem> = (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .flat_map(|(a, b)| [a, b])
        .map(|r| ScoreItem::single_turn(prompt.clone(), responses[r].clone()).with_reference("4"))
        .collect();
    let scores = tokio::task::spawn_blocking(move || reference_score(&pool, &items))
        .await
        .unwrap_or_default();
    Json(json!({"scores": scores}))
}

/// Requests/s and latency quantiles of one load level.
struct Measured {
    requests_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// The request body of `workload`; `i` varies the text so that no score is cached.
fn body(workload: &str, i: usize) -> String {
    match workload {
        "get_reward" => json!({
            "query": [format!("What is 2+2? The answer is {}", i % 10)],
            "prompts": ["What is 2+2?"],
            "labels": ["4"],
        }),
        _ => json!({
            "prompt": format!("What is 2+2? (request {i})"),
            "responses": ["4", "It is 4.", "5", format!("{i}")],
            "label": "4",
        }),
    }
    .to_string()
}

/// `clients` threads send `workload` requests back to back for a warm-up and then
/// `seconds`; returns the measured level and the non-200 count.
fn load(
    address: SocketAddr,
    workload: &'static str,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<(Measured, usize)> {
    let url = format!("http://{address}/{workload}");
    let warm_up = Duration::from_secs_f64(seconds / 4.0);
    let measured = Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let results: Vec<(Vec<f64>, usize)> = std::thread::scope(|scope| -> anyhow::Result<_> {
        let handles: Vec<_> = (0..clients)
            .map(|client| {
                let url = url.clone();
                scope.spawn(move || {
                    let agent: ureq::Agent = ureq::Agent::config_builder()
                        .http_status_as_error(false)
                        .build()
                        .into();
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    let mut i = client * 1_000_000;
                    // A request counts if it was sent inside the measured window.
                    while start.elapsed() < warm_up + measured {
                        let sent = Instant::now();
                        let ok = agent
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .send(body(workload, i))
                            .is_ok_and(|mut r| {
                                r.status() == 200 && r.body_mut().read_to_string().is_ok()
                            });
                        i += 1;
                        if sent.duration_since(start) < warm_up {
                            continue;
                        }
                        if ok {
                            latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                        } else {
                            errors += 1;
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .map_err(|_| anyhow::anyhow!("a client thread of the bench panicked"))
            })
            .collect()
    })?;
    let errors = results.iter().map(|(_, e)| e).sum();
    let mut latencies: Vec<f64> = results.into_iter().flat_map(|(l, _)| l).collect();
    if latencies.is_empty() {
        anyhow::bail!("no request to {url} succeeded in {seconds} s");
    }
    latencies.sort_by(f64::total_cmp);
    let quantile = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    Ok((
        Measured {
            requests_per_s: latencies.len() as f64 / seconds,
            p50_ms: quantile(0.5),
            p99_ms: quantile(0.99),
        },
        errors,
    ))
}

/// The service's cumulative seconds per stage and per endpoint, from `/metrics`.
fn stage_sums(address: SocketAddr) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = ureq::get(&format!("http://{address}/metrics"))
        .call()?
        .body_mut()
        .read_to_string()?;
    let mut sums = BTreeMap::new();
    for line in text.lines() {
        for prefix in [
            "rm_service_stage_seconds_sum{stage=\"",
            "rm_service_request_seconds_sum{endpoint=\"",
        ] {
            if let Some(rest) = line.strip_prefix(prefix)
                && let Some((name, value)) = rest.split_once("\"} ")
            {
                sums.insert(name.to_string(), value.trim().parse::<f64>()?);
            }
        }
    }
    Ok(sums)
}
