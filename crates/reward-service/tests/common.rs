//! A server over programmatic RMs, started on 127.0.0.1, and a small blocking client.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bandit::{BanditParams, LinearBandit, Policy, Prior};
use reward_service::{Limits, Service, ServiceConfig, ServiceParts};
use rlhf_trainer::{Normalizer, NormalizerKind};
use rm_pool::{RewardModel, RmInfo, RmPool, ScoreItem};

/// An RM whose score is a function of the response (and which may sleep per call).
#[derive(Clone)]
pub struct FnRm {
    name: String,
    score: fn(&str) -> f32,
    delay: Duration,
}

impl RewardModel for FnRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "test",
            description: "a function of the response".into(),
            score_range: (f32::NEG_INFINITY, f32::INFINITY),
        }
    }

    fn score(&mut self, items: &[ScoreItem]) -> rm_pool::Result<Vec<f32>> {
        std::thread::sleep(self.delay);
        Ok(items
            .iter()
            .map(|item| (self.score)(&item.response))
            .collect())
    }
}

impl FnRm {
    /// An RM called `name` scoring with `score`, sleeping `delay` per call.
    pub fn new(name: &str, score: fn(&str) -> f32, delay: Duration) -> Self {
        Self {
            name: name.into(),
            score,
            delay,
        }
    }
}

pub fn length(text: &str) -> f32 {
    text.len() as f32
}

pub fn vowels(text: &str) -> f32 {
    text.chars().filter(|c| "aeiou".contains(*c)).count() as f32
}

pub fn digits(text: &str) -> f32 {
    text.chars().filter(char::is_ascii_digit).count() as f32
}

/// The three RMs, each sleeping `delay` per call.
pub fn rms(delay: Duration) -> Vec<FnRm> {
    [
        ("length", length as fn(&str) -> f32),
        ("vowels", vowels),
        ("digits", digits),
    ]
    .into_iter()
    .map(|(name, score)| FnRm {
        name: name.into(),
        score,
        delay,
    })
    .collect()
}

/// Service parts over the three RMs: `policy` on constant contexts (d = 1), v5's λ0, the
/// batch-baseline normaliser.
pub fn parts(policy: Policy, delay: Duration, seed: u64) -> ServiceParts {
    let pool = RmPool::new(
        rms(delay)
            .into_iter()
            .map(|rm| Box::new(rm) as Box<dyn RewardModel>)
            .collect(),
    )
    .unwrap();
    let prior = Prior::new(
        pool.names()
            .into_iter()
            .zip([0.2, 0.0, -0.2])
            .map(|(name, mean)| (name, vec![mean]))
            .collect(),
    )
    .unwrap();
    ServiceParts {
        bandit: LinearBandit::new(policy, prior, BanditParams::bayesian_v5(), seed).unwrap(),
        normalizer: Some(Normalizer::new(NormalizerKind::BatchBaseline, 3).unwrap()),
        pool,
        context_fn: None,
    }
}

/// A running server and what it takes to stop it.
pub struct Server {
    pub address: SocketAddr,
    pub service: Arc<Service>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Starts a service with `parts` on an ephemeral 127.0.0.1 port, state in `state_dir`.
    pub fn start(
        parts: ServiceParts,
        state_dir: &Path,
        configure: impl FnOnce(&mut ServiceConfig),
    ) -> Self {
        let mut config = ServiceConfig::local(0, state_dir.to_path_buf());
        config.limits = Limits::default();
        configure(&mut config);
        let service = Service::open(config, parts).unwrap();
        let (address_tx, address_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let serving = service.clone();
        let thread = std::thread::spawn(move || {
            serve_on_ephemeral_port(
                serving,
                move |address| address_tx.send(address).unwrap(),
                async {
                    let _ = stopped.await;
                },
            );
        });
        let address = address_rx.recv().unwrap();
        Self {
            address,
            service,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// The URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Serves `service` on an ephemeral 127.0.0.1 port on a runtime of its own until `shutdown`
/// resolves, telling `bound` the address first.
pub fn serve_on_ephemeral_port(
    service: Arc<Service>,
    bound: impl FnOnce(SocketAddr) + Send + 'static,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        bound(listener.local_addr().unwrap());
        reward_service::serve(service, listener, shutdown)
            .await
            .unwrap();
    });
}

/// GETs `url`: the status and the body as text.
pub fn get_text(agent: &ureq::Agent, url: &str) -> (u16, String) {
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// A client that returns every status (no error for 4xx/5xx).
pub fn client() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// POSTs `body` (raw) to `url`; returns the status, the JSON answer and the Retry-After
/// header.
pub fn post_raw(
    agent: &ureq::Agent,
    url: &str,
    body: &str,
    token: Option<&str>,
) -> (u16, serde_json::Value, Option<String>) {
    let mut request = agent.post(url).header("Content-Type", "application/json");
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.send(body).unwrap();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = response.body_mut().read_to_string().unwrap();
    let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, json, retry_after)
}

/// POSTs a JSON value.
pub fn post(agent: &ureq::Agent, url: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let (status, json, _) = post_raw(agent, url, &body.to_string(), None);
    (status, json)
}

/// The value of a counter line in Prometheus text (0 when absent).
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The bandit's posterior means, arm by arm.
pub fn means(service: &Service) -> Vec<Vec<f64>> {
    let core = service.core();
    (0..core.n_arms())
        .map(|k| core.bandit().mean(k).unwrap().to_vec())
        .collect()
}
