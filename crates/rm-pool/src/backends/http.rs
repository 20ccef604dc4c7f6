//! Remote reward models over HTTP, in the two protocols users serve RMs with:
//!
//! - `openrlhf`: OpenRLHF's `serve_rm` — `POST {url}` (usually `…/get_reward`) with
//!   `{"query": [text, …]}`, answered by `{"rewards": [float, …]}`;
//! - `vllm-pooling`: vLLM's pooling API for reward models — `POST {url}` (usually
//!   `…/pooling`) with `{"model", "input": [text, …]}`, answered by `{"data": [{"index",
//!   "data"}]}` where `data` is a number, `[number]`, or per-token rows (the last row's
//!   first value is taken: a reward model's score at its last token);
//! - `vllm-classify`: vLLM's `…/classify` — same request, answered by `{"data": [{"index",
//!   "probs": [...]}]}`; the score is `probs[label_index]`.
//!
//! Texts are rendered client-side from a Jinja template over `messages` (the conversation
//! with the response as the last, assistant turn), `prompt` and `response`; give the RM's
//! own chat template there to score as the model expects.
//!
//! Each request has a timeout; timeouts, connection errors, HTTP 429/5xx and malformed
//! bodies are retried with exponential backoff; when the retries are spent the call fails
//! as `Unavailable` and counts toward the circuit breaker. Other HTTP errors are not
//! retried. (The client and the breaker are the workspace's one, json-http.)

use std::sync::Arc;
use std::time::Duration;

use json_http::{CircuitBreaker, Clock, JsonClient, Parsed, RetryPolicy, SystemClock, snippet};
use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};

/// The wire protocol of a remote RM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpProtocol {
    /// OpenRLHF `serve_rm` (`/get_reward`).
    Openrlhf,
    /// vLLM pooling API (`/pooling`, reward models).
    VllmPooling,
    /// vLLM classification API (`/classify`).
    VllmClassify,
}

/// Connection settings of a remote RM.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRmConfig {
    /// The endpoint URL (e.g. `http://127.0.0.1:5000/get_reward`).
    pub url: String,
    /// Wire protocol.
    pub protocol: HttpProtocol,
    /// The served model name (vLLM's `model` field).
    #[serde(default)]
    pub model: Option<String>,
    /// Jinja template of the scored text (see the module docs).
    #[serde(default = "default_template")]
    pub template: String,
    /// `vllm-classify`: which class probability is the score.
    #[serde(default)]
    pub label_index: usize,
    /// Items per request.
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    /// Per-request timeout, retries and backoff (default 30 s, 2 retries, 0.5 s).
    #[serde(default = "default_retry")]
    pub retry: RetryPolicy,
    /// Consecutive failed calls that open the circuit breaker.
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// Seconds the breaker stays open before a trial call.
    #[serde(default = "default_breaker_cooldown")]
    pub breaker_cooldown_s: f64,
}

fn default_template() -> String {
    "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}".into()
}
fn default_batch() -> usize {
    16
}
fn default_retry() -> RetryPolicy {
    RetryPolicy {
        timeout_s: 30.0,
        max_retries: 2,
        backoff_s: 0.5,
    }
}
fn default_breaker_failures() -> u32 {
    3
}
fn default_breaker_cooldown() -> f64 {
    30.0
}

/// A remote RM.
pub struct HttpRm {
    name: String,
    config: HttpRmConfig,
    client: JsonClient,
    breaker: CircuitBreaker,
}

impl HttpRm {
    /// A client for `config` (no request is made yet).
    pub fn new(name: &str, config: HttpRmConfig) -> Result<Self> {
        Self::with_clock(name, config, Arc::new(SystemClock))
    }

    /// [`HttpRm::new`] whose circuit breaker times its cooldown on `clock` (tests drive
    /// it with a [`json_http::ManualClock`]).
    pub fn with_clock(name: &str, config: HttpRmConfig, clock: Arc<dyn Clock>) -> Result<Self> {
        if !(config.breaker_cooldown_s >= 0.0 && config.breaker_cooldown_s.is_finite()) {
            return Err(Error::backend(name, "breaker_cooldown_s must be ≥ 0"));
        }
        Environment::new()
            .template_from_str(&config.template)
            .map_err(|err| Error::backend(name, format!("template: {err}")))?;
        let client = JsonClient::new(config.url.clone(), config.retry, None)
            .map_err(|err| Error::backend(name, err.to_string()))?;
        let breaker = CircuitBreaker::with_clock(
            config.breaker_failures,
            Duration::from_secs_f64(config.breaker_cooldown_s),
            clock,
        );
        Ok(Self {
            name: name.into(),
            config,
            client,
            breaker,
        })
    }

    fn render(&self, items: &[ScoreItem]) -> Result<Vec<String>> {
        let env = Environment::new();
        let template = env
            .template_from_str(&self.config.template)
            .map_err(|err| Error::backend(&self.name, format!("template: {err}")))?;
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                template
                    .render(minijinja::context! {
                        messages => item.conversation(),
                        prompt => item.question(),
                        response => &item.response,
                    })
                    .map_err(|err| Error::Input {
                        rm: self.name.clone(),
                        item: i,
                        reason: format!("template: {err}"),
                    })
            })
            .collect()
    }

    fn body(&self, texts: &[String]) -> Value {
        match self.config.protocol {
            HttpProtocol::Openrlhf => json!({ "query": texts }),
            HttpProtocol::VllmPooling | HttpProtocol::VllmClassify => {
                json!({ "model": self.config.model, "input": texts })
            }
        }
    }

    /// Scores from a response body, or why it is malformed.
    fn parse(&self, text: &str, n: usize) -> std::result::Result<Vec<f32>, String> {
        let malformed = |why: &str| format!("malformed response ({why}): {}", snippet(text));
        let value: Value = serde_json::from_str(text).map_err(|err| malformed(&err.to_string()))?;
        let scores: Vec<f32> = match self.config.protocol {
            HttpProtocol::Openrlhf => value
                .get("rewards")
                .and_then(Value::as_array)
                .ok_or_else(|| malformed("no `rewards` array"))?
                .iter()
                .map(|v| {
                    v.as_f64()
                        .map(|v| v as f32)
                        .ok_or_else(|| malformed("a reward is not a number"))
                })
                .collect::<std::result::Result<_, _>>()?,
            HttpProtocol::VllmPooling | HttpProtocol::VllmClassify => {
                let data = value
                    .get("data")
                    .and_then(Value::as_array)
                    .ok_or_else(|| malformed("no `data` array"))?;
                let mut scores = vec![f32::NAN; data.len()];
                for (position, entry) in data.iter().enumerate() {
                    let index = entry
                        .get("index")
                        .and_then(Value::as_u64)
                        .map_or(position, |i| i as usize);
                    let score = match self.config.protocol {
                        HttpProtocol::VllmClassify => entry
                            .get("probs")
                            .and_then(|p| p.get(self.config.label_index))
                            .and_then(Value::as_f64),
                        _ => entry.get("data").and_then(pooled_score),
                    }
                    .ok_or_else(|| malformed("an entry has no score"))?;
                    *scores
                        .get_mut(index)
                        .ok_or_else(|| malformed("an index out of range"))? = score as f32;
                }
                scores
            }
        };
        if scores.len() != n {
            return Err(malformed(&format!("{} scores for {n} texts", scores.len())));
        }
        Ok(scores)
    }
}

/// A pooled reward: a number, `[number]`, or per-token rows (the last row's first value).
fn pooled_score(data: &Value) -> Option<f64> {
    match data {
        Value::Number(n) => n.as_f64(),
        Value::Array(items) => match items.last()? {
            Value::Array(row) => row.first()?.as_f64(),
            Value::Number(_) if items.len() == 1 => items[0].as_f64(),
            Value::Number(n) => n.as_f64(),
            _ => None,
        },
        _ => None,
    }
}

impl RewardModel for HttpRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "http",
            description: format!("{:?} at {}", self.config.protocol, self.config.url),
            score_range: (f32::NEG_INFINITY, f32::INFINITY),
        }
    }

    fn is_available(&self) -> bool {
        self.breaker.allows_call()
    }

    fn score(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>> {
        if !self.breaker.allows_call() {
            return Err(Error::Unavailable {
                rm: self.name.clone(),
                reason: "circuit breaker open after repeated failures".into(),
            });
        }
        let texts = self.render(items)?;
        let mut scores = Vec::with_capacity(items.len());
        for chunk in texts.chunks(self.config.batch_size.max(1)) {
            let body = self.body(chunk);
            let parsed = self
                .client
                .post(&body, |text| match self.parse(text, chunk.len()) {
                    Ok(values) => Parsed::Ok(values),
                    // A truncated or garbled body may come out whole next time.
                    Err(reason) => Parsed::Retry(reason),
                });
            match parsed {
                Ok(values) => scores.extend(values),
                Err(err @ json_http::Error::GaveUp { .. }) => {
                    self.breaker.record_failure();
                    return Err(Error::Unavailable {
                        rm: self.name.clone(),
                        reason: err.to_string(),
                    });
                }
                Err(err) => return Err(Error::backend(&self.name, err.to_string())),
            }
        }
        self.breaker.record_success();
        Ok(scores)
    }
}
