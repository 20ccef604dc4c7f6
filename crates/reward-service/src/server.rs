//! The HTTP service: endpoints, bearer-token check, limits, backpressure and graceful
//! shutdown (a snapshot on the way out).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use answer_check::Verifier;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bandit::LinearBandit;
use lm::ChatMessage;
use rand::{RngExt, SeedableRng};
use rlhf_trainer::{Normalizer, winner};
use rm_pool::{RmPool, ScoreItem, Verdict};
use router_export::{CandidateGroup, ContextFunction};
use serde::de::DeserializeOwned;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::api::{
    ErrorBody, FeedbackItem, FeedbackRequest, FeedbackResponse, FeedbackSource, GetRewardRequest,
    GetRewardResponse, Health, JudgedPair, RouteInfo, RoutePairsRequest, RoutePairsResponse,
};
use crate::config::ServiceConfig;
use crate::core::{Routed, RouterCore};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::scorer::Scorer;

/// What the service routes with: the pool, the bandit (its policy and prior), the loss
/// normaliser and, for contextual routers, the offline router's context function.
pub struct ServiceParts {
    /// The reward models, in arm order.
    pub pool: RmPool,
    /// The router at its prior (a snapshot in the state folder replaces it).
    pub bandit: LinearBandit,
    /// Losses → rewards (`None`: feedback must carry rewards).
    pub normalizer: Option<Normalizer>,
    /// e(x, a, b) for routers over pair contexts (`None`: every item's context is `[1]`).
    pub context_fn: Option<ContextFunction>,
}

/// A running service's shared state.
pub struct Service {
    core: Mutex<RouterCore>,
    scorer: Scorer,
    verifier: Option<Verifier>,
    context_fn: Option<Mutex<ContextFunction>>,
    names: Vec<String>,
    config: ServiceConfig,
    metrics: Metrics,
    in_flight: Semaphore,
}

impl Service {
    /// Checks `config` and `parts` against each other and restores the state folder
    /// (snapshot + journal).
    pub fn open(config: ServiceConfig, parts: ServiceParts) -> Result<Arc<Self>> {
        config.check()?;
        let names = parts.pool.names();
        if parts.bandit.prior().names() != names.as_slice() {
            return Err(Error::Config(format!(
                "the router routes over [{}], the pool is [{}]",
                parts.bandit.prior().names().join(", "),
                names.join(", ")
            )));
        }
        let width = parts.context_fn.as_ref().map_or(1, |f| f.meta().dim);
        if parts.bandit.dim() != width {
            return Err(Error::Config(format!(
                "the router's contexts have width {}, the context function gives {width}",
                parts.bandit.dim()
            )));
        }
        let verifier = match &config.learning.verifier {
            Some((task, pattern)) => Some(
                Verifier::new(task.clone(), pattern.as_deref())
                    .map_err(|err| Error::Config(format!("the service's verifier: {err}")))?,
            ),
            None => None,
        };
        let core = RouterCore::open(
            &config.state_dir,
            parts.bandit,
            parts.normalizer,
            config.limits.max_pending,
        )?;
        let metrics = Metrics::new();
        metrics.pending.set(core.pending() as i64);
        metrics.updates.set(core.updates() as i64);
        let pool = parts
            .pool
            .with_cache_capacity(Some(config.limits.cache_items));
        let scorer = Scorer::start(pool, config.limits.max_batch_items, &metrics)?;
        Ok(Arc::new(Self {
            in_flight: Semaphore::new(config.limits.max_in_flight),
            core: Mutex::new(core),
            scorer,
            verifier,
            context_fn: parts.context_fn.map(Mutex::new),
            names,
            config,
            metrics,
        }))
    }

    /// The pool's RM names, in arm order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The router state (tests read the posterior through it).
    pub fn core(&self) -> MutexGuard<'_, RouterCore> {
        lock(&self.core)
    }

    /// Snapshots the state now (what shutdown does).
    pub fn snapshot(&self) -> Result<()> {
        lock(&self.core).snapshot()
    }

    /// Contexts of `groups`' pairs, `[N, d]` (a constant 1 per pair without a context
    /// function).
    fn contexts(&self, groups: &[CandidateGroup<'_>]) -> Result<Vec<f64>> {
        let n: usize = groups.iter().map(|g| g.pairs.len()).sum();
        let _timer = self.stage_timer("context");
        match &self.context_fn {
            None => Ok(vec![1.0; n]),
            Some(context_fn) => {
                let contexts = lock(context_fn).candidate_contexts(groups)?;
                Ok(contexts
                    .try_into_vec_as::<f64>()
                    .expect("a float tensor converts to f64"))
            }
        }
    }

    /// Routes `contexts` among the RMs available now.
    fn route(&self, contexts: &[f64]) -> Result<Vec<Routed>> {
        let _timer = self.stage_timer("route");
        let available = self.scorer.availability();
        for (name, up) in self.names.iter().zip(&available) {
            self.metrics
                .available
                .with_label_values(&[name.as_str()])
                .set(i64::from(*up));
        }
        let mut core = lock(&self.core);
        let routed = core.route(contexts, available)?;
        self.metrics.pending.set(core.pending() as i64);
        for route in &routed {
            self.metrics
                .routed
                .with_label_values(&[self.names[route.choice.arm].as_str()])
                .inc();
        }
        Ok(routed)
    }

    /// Scores `items[i]` with the RM routed for it (each RM's share micro-batched with
    /// other requests', the RMs in parallel).
    fn score_routed(&self, items: &[ScoreItem], arms: &[usize]) -> Result<Vec<f64>> {
        let _timer = self.stage_timer("score");
        self.scorer.score(items, arms)
    }

    /// Times a request stage into `rm_service_stage_seconds` until dropped.
    fn stage_timer(&self, stage: &str) -> prometheus::HistogramTimer {
        self.metrics
            .stage_seconds
            .with_label_values(&[stage])
            .start_timer()
    }

    fn route_info(&self, route: &Routed) -> RouteInfo {
        RouteInfo {
            route_id: route.id,
            rm: self.names[route.choice.arm].clone(),
            arm: route.choice.arm,
            propensity: route.choice.propensity,
            propensities: route
                .choice
                .distribution
                .as_ref()
                .map(|d| d.probabilities.clone()),
        }
    }

    /// `/get_reward`: each item routed to one RM and scored by it.
    fn get_reward(&self, request: GetRewardRequest) -> Result<GetRewardResponse> {
        let n = request.query.len();
        self.check_items(n)?;
        for (field, values) in [("prompts", &request.prompts), ("labels", &request.labels)] {
            if let Some(values) = values
                && values.len() != n
            {
                return Err(Error::BadRequest(format!(
                    "`{field}` has {} entries, `query` has {n}",
                    values.len()
                )));
            }
        }
        let items: Vec<ScoreItem> = (0..n)
            .map(|i| {
                let query = &request.query[i];
                let prompt = request.prompts.as_ref().map_or("", |p| p[i].as_str());
                let response = query.strip_prefix(prompt).unwrap_or(query);
                ScoreItem {
                    prompt: vec![ChatMessage::user(prompt)],
                    response: response.to_string(),
                    reference: request.labels.as_ref().map(|l| l[i].clone()),
                    category: None,
                }
            })
            .collect();
        // A single response's context is the export's e(x, y, y).
        let responses: Vec<[String; 1]> = items.iter().map(|i| [i.response.clone()]).collect();
        let groups: Vec<CandidateGroup<'_>> = items
            .iter()
            .zip(&responses)
            .map(|(item, response)| CandidateGroup {
                prompt: &item.prompt,
                responses: response,
                pairs: &[(0, 0)],
            })
            .collect();
        let contexts = self.contexts(&groups)?;
        let routed = self.route(&contexts)?;
        let arms: Vec<usize> = routed.iter().map(|r| r.choice.arm).collect();
        let scores = self.score_routed(&items, &arms)?;
        let mut extra_logs = BTreeMap::new();
        extra_logs.insert(
            "route_id".to_string(),
            routed.iter().map(|r| r.id as f64).collect(),
        );
        extra_logs.insert(
            "rm_index".to_string(),
            arms.iter().map(|&a| a as f64).collect(),
        );
        extra_logs.insert(
            "propensity".to_string(),
            routed
                .iter()
                .map(|r| r.choice.propensity.unwrap_or(f64::NAN))
                .collect(),
        );
        Ok(GetRewardResponse {
            rewards: scores.clone(),
            scores,
            extra_logs,
            routes: routed.iter().map(|r| self.route_info(r)).collect(),
        })
    }

    /// `/route_pairs`: each pair routed to one RM, which scores both responses.
    fn route_pairs(&self, request: RoutePairsRequest) -> Result<RoutePairsResponse> {
        let n = request.responses.len();
        // The pair count is checked before any pair is built (n responses give n(n−1)/2).
        self.check_items(match &request.pairs {
            Some(pairs) => pairs.len(),
            None => n.saturating_mul(n.saturating_sub(1)) / 2,
        })?;
        let pairs: Vec<(usize, usize)> = match &request.pairs {
            Some(pairs) => pairs.iter().map(|&[a, b]| (a, b)).collect(),
            None => (0..n)
                .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
                .collect(),
        };
        if pairs.is_empty() {
            return Err(Error::BadRequest(
                "no pair to route: give two responses or more, or `pairs`".into(),
            ));
        }
        if let Some(&(a, b)) = pairs.iter().find(|&&(a, b)| a.max(b) >= n) {
            return Err(Error::BadRequest(format!(
                "pair [{a}, {b}] names a response beyond the {n} given"
            )));
        }
        let prompt = vec![ChatMessage::user(request.prompt.as_str())];
        let contexts = self.contexts(&[CandidateGroup {
            prompt: &prompt,
            responses: &request.responses,
            pairs: &pairs,
        }])?;
        let routed = self.route(&contexts)?;
        let item = |r: usize| ScoreItem {
            prompt: prompt.clone(),
            response: request.responses[r].clone(),
            reference: request.label.clone(),
            category: request.category.clone(),
        };
        let items: Vec<ScoreItem> = pairs
            .iter()
            .flat_map(|&(a, b)| [item(a), item(b)])
            .collect();
        let arms: Vec<usize> = routed
            .iter()
            .flat_map(|r| [r.choice.arm, r.choice.arm])
            .collect();
        let scores = self.score_routed(&items, &arms)?;
        let mut judged: Vec<JudgedPair> = pairs
            .iter()
            .zip(&routed)
            .zip(scores.chunks(2))
            .map(|((&(a, b), route), s)| JudgedPair {
                pair: [a, b],
                route: self.route_info(route),
                scores: [s[0], s[1]],
                preferred: winner(Verdict::from_scores(s[0] as f32, s[1] as f32, 0.0)),
                reward: None,
                reward_source: None,
            })
            .collect();
        self.learn_from_verifier(&request, &mut judged)?;
        // Audits are extra RM calls for the router's sake: one that fails costs the client
        // nothing (its pairs stay open for feedback).
        if let Err(err) = self.learn_from_audits(&items, &mut judged) {
            tracing::warn!(%err, "an audit failed; its pairs stay open");
            self.metrics.audit_failures.inc();
        }
        Ok(RoutePairsResponse { pairs: judged })
    }

    /// Verifier learning: each pair the verifier decides rewards its routed RM with 1 when
    /// the RM preferred the correct response, else 0.
    fn learn_from_verifier(
        &self,
        request: &RoutePairsRequest,
        judged: &mut [JudgedPair],
    ) -> Result<()> {
        let (Some(verifier), Some(label)) = (&self.verifier, &request.label) else {
            return Ok(());
        };
        let category = request.category.as_deref();
        let correct: Vec<bool> = request
            .responses
            .iter()
            .map(|response| verifier.is_correct_in(response, label, category))
            .collect();
        let mut rewards = Vec::new();
        for (j, pair) in judged.iter().enumerate() {
            let [a, b] = pair.pair;
            if correct[a] != correct[b] {
                let truth = if correct[a] { 0 } else { 1 };
                rewards.push((j, f64::from(u8::from(pair.preferred == Some(truth)))));
            }
        }
        self.apply_derived(FeedbackSource::Verifier, &rewards, judged)
    }

    /// Audit learning: on the audited pairs not yet rewarded, every other available RM
    /// scores both responses; the routed RM gets 1 when its verdict equals their majority
    /// verdict, 0 when not; a tie among them (or no other RM) decides nothing.
    fn learn_from_audits(&self, items: &[ScoreItem], judged: &mut [JudgedPair]) -> Result<()> {
        let learning = &self.config.learning;
        if learning.audit_fraction <= 0.0 {
            return Ok(());
        }
        let audited: Vec<usize> = (0..judged.len())
            .filter(|&j| {
                judged[j].reward.is_none()
                    && audit_draw(learning.audit_seed, judged[j].route.route_id)
                        < learning.audit_fraction
            })
            .collect();
        if audited.is_empty() {
            return Ok(());
        }
        let available = self.scorer.availability();
        let mut audit_items = Vec::new();
        let mut audit_arms = Vec::new();
        let mut slots = Vec::new();
        for &j in &audited {
            for (arm, _) in available.iter().enumerate().filter(|(_, up)| **up) {
                if arm != judged[j].route.arm {
                    audit_items.extend([items[2 * j].clone(), items[2 * j + 1].clone()]);
                    audit_arms.extend([arm, arm]);
                    slots.push(j);
                }
            }
        }
        let scores = self.score_routed(&audit_items, &audit_arms)?;
        let mut votes: BTreeMap<usize, [usize; 2]> = BTreeMap::new();
        for (&j, s) in slots.iter().zip(scores.chunks(2)) {
            if let Some(side) = winner(Verdict::from_scores(s[0] as f32, s[1] as f32, 0.0)) {
                votes.entry(j).or_default()[side] += 1;
            }
        }
        let rewards: Vec<(usize, f64)> = votes
            .into_iter()
            .filter(|(_, [first, second])| first != second)
            .map(|(j, [first, second])| {
                let majority = usize::from(second > first);
                (
                    j,
                    f64::from(u8::from(judged[j].preferred == Some(majority))),
                )
            })
            .collect();
        self.apply_derived(FeedbackSource::Audit, &rewards, judged)
    }

    /// Applies rewards the service derived (`(pair index, reward)`) as one feedback event
    /// and records them on the pairs.
    fn apply_derived(
        &self,
        source: FeedbackSource,
        rewards: &[(usize, f64)],
        judged: &mut [JudgedPair],
    ) -> Result<()> {
        if rewards.is_empty() {
            return Ok(());
        }
        let items: Vec<FeedbackItem> = rewards
            .iter()
            .map(|&(j, reward)| FeedbackItem {
                route_id: judged[j].route.route_id,
                loss: None,
                reward: Some(reward),
            })
            .collect();
        self.apply_feedback(&items, source)?;
        for &(j, reward) in rewards {
            judged[j].reward = Some(reward);
            judged[j].reward_source = Some(source);
            self.metrics
                .derived_rewards
                .with_label_values(&[source.name(), if reward > 0.5 { "1" } else { "0" }])
                .inc();
        }
        Ok(())
    }

    /// Feedback into the router, with its metrics.
    fn apply_feedback(
        &self,
        items: &[FeedbackItem],
        source: FeedbackSource,
    ) -> Result<FeedbackResponse> {
        let _timer = self.stage_timer("feedback");
        let mut core = lock(&self.core);
        let applied = core.feedback(items, source, self.config.snapshot_every)?;
        self.metrics.feedback_items.inc_by(applied.consumed as u64);
        self.metrics.pending.set(core.pending() as i64);
        self.metrics.updates.set(core.updates() as i64);
        Ok(FeedbackResponse {
            applied: applied.applied,
            consumed: applied.consumed,
            updates: core.updates(),
        })
    }

    /// `/feedback`: losses or rewards by route id into the bandit.
    fn feedback(&self, request: FeedbackRequest) -> Result<FeedbackResponse> {
        self.check_items(request.items.len())?;
        self.apply_feedback(&request.items, FeedbackSource::Client)
    }

    fn health(&self) -> Health {
        let core = lock(&self.core);
        Health {
            status: "ok".into(),
            rms: self.names.clone(),
            available: self.scorer.availability(),
            pending: core.pending(),
            updates: core.updates(),
        }
    }

    fn check_items(&self, n: usize) -> Result<()> {
        let limit = self.config.limits.max_items;
        if n > limit {
            return Err(Error::TooLarge(format!(
                "{n} items in one request; the limit (max_items) is {limit}"
            )));
        }
        Ok(())
    }
}

/// Whether route `id` is audited: a uniform draw in [0, 1) seeded by `seed` and the id
/// (reproducible, no state to persist).
fn audit_draw(seed: u64, id: u64) -> f64 {
    rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ id.rotate_left(32)).random::<f64>()
}

/// Locks a mutex; a panic while it was held (a bug) poisons nothing we cannot keep using.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        (
            status,
            Json(ErrorBody {
                error: self.to_string(),
            }),
        )
            .into_response()
    }
}

/// The service's router: every endpoint behind the token check; the POST endpoints also
/// behind the size check and the in-flight limit.
pub fn app(service: Arc<Service>) -> Router {
    let limited = Router::new()
        .route("/get_reward", post(get_reward))
        .route("/route_pairs", post(route_pairs))
        .route("/feedback", post(feedback))
        .layer(middleware::from_fn_with_state(service.clone(), admit))
        .layer(DefaultBodyLimit::max(service.config.limits.max_body_bytes));
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics))
        .merge(limited)
        .layer(middleware::from_fn_with_state(service.clone(), authorize))
        .with_state(service)
}

/// Refuses requests without the bearer token (when one is configured).
async fn authorize(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    if let Some(token) = &service.config.token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            return Error::Unauthorized(
                "missing or wrong bearer token (Authorization: Bearer …)".into(),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Refuses bodies declared too large before reading them, and requests beyond the
/// in-flight limit with 503 + Retry-After; times and counts the rest.
async fn admit(State(service): State<Arc<Service>>, request: Request, next: Next) -> Response {
    let endpoint = request.uri().path().to_string();
    let limit = service.config.limits.max_body_bytes;
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let response = if let Some(length) = declared.filter(|&length| length > limit) {
        Error::TooLarge(format!(
            "the body has {length} bytes; the limit (max_body_bytes) is {limit}"
        ))
        .into_response()
    } else {
        match service.in_flight.try_acquire() {
            Err(_) => {
                service.metrics.overloaded.inc();
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(ErrorBody {
                        error: format!(
                            "{} requests in flight (max_in_flight); retry later",
                            service.config.limits.max_in_flight
                        ),
                    }),
                )
                    .into_response();
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(service.config.limits.retry_after_s),
                );
                response
            }
            Ok(_permit) => {
                let start = Instant::now();
                let response = next.run(request).await;
                service
                    .metrics
                    .latency
                    .with_label_values(&[endpoint.as_str()])
                    .observe(start.elapsed().as_secs_f64());
                response
            }
        }
    };
    service
        .metrics
        .requests
        .with_label_values(&[endpoint.as_str(), response.status().as_str()])
        .inc();
    response
}

/// Parses a JSON body, naming what is wrong (serde's message gives the field, line and
/// column).
fn parse<T: DeserializeOwned>(headers: &HeaderMap, body: &Bytes) -> Result<T> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|v| v.starts_with("application/json"));
    if !json {
        return Err(Error::BadRequest(
            "the body must be JSON (Content-Type: application/json)".into(),
        ));
    }
    serde_json::from_slice(body)
        .map_err(|err| Error::BadRequest(format!("invalid JSON body: {err}")))
}

/// Runs `work` on the blocking pool (scoring and routing are CPU-bound).
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|err| Error::Config(format!("a worker thread panicked: {err}")))?
}

async fn get_reward(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<GetRewardResponse>> {
    let request: GetRewardRequest = parse(&headers, &body)?;
    Ok(Json(blocking(move || service.get_reward(request)).await?))
}

async fn route_pairs(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<RoutePairsResponse>> {
    let request: RoutePairsRequest = parse(&headers, &body)?;
    Ok(Json(blocking(move || service.route_pairs(request)).await?))
}

async fn feedback(
    State(service): State<Arc<Service>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<FeedbackResponse>> {
    let request: FeedbackRequest = parse(&headers, &body)?;
    Ok(Json(blocking(move || service.feedback(request)).await?))
}

async fn health(State(service): State<Arc<Service>>) -> Json<Health> {
    Json(service.health())
}

async fn metrics(State(service): State<Arc<Service>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        service.metrics.render(),
    )
        .into_response()
}

/// Serves `service` on `listener` until `shutdown` resolves, then snapshots the state.
pub async fn serve(
    service: Arc<Service>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, app(service.clone()))
        .with_graceful_shutdown(shutdown)
        .await?;
    let snapshot = service.clone();
    blocking(move || snapshot.snapshot()).await?;
    tracing::info!("state snapshotted; stopped");
    Ok(())
}

/// Binds the configured address and serves until SIGTERM or Ctrl-C (on a runtime of its
/// own), snapshotting on the way out.
pub fn run(service: Arc<Service>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::bind(service.config.bind).await?;
        tracing::info!(address = %listener.local_addr()?, "reward service listening");
        serve(service, listener, shutdown_signal()).await
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
