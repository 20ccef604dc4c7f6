//! A judge behind an OpenAI-compatible `POST /v1/chat/completions` endpoint (OpenAI, vLLM,
//! llama.cpp and most serving stacks), with a per-request timeout and bounded retries.

use std::thread::sleep;
use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::error::{Error, Result};
use crate::judge::{Judge, TokenLogprob};

/// Where the judge is served and how patiently to call it.
#[derive(Clone, Debug, Deserialize)]
pub struct OpenAiJudgeConfig {
    /// Base URL, e.g. `http://127.0.0.1:8000` (the path `/v1/chat/completions` is added).
    pub base_url: String,
    /// The served model's name.
    pub model: String,
    /// Name of the environment variable holding the API key, if the server wants one.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Sampling temperature (0 = greedy, the benchmarks' setting).
    #[serde(default)]
    pub temperature: f32,
    /// Most tokens in a judgment.
    #[serde(default = "default_max_tokens")]
    pub max_tokens: u32,
    /// Per-request timeout, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_s: f64,
    /// Retries after a timeout, a connection error, 429 or 5xx (not after other errors).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First retry delay, seconds; doubled each retry.
    #[serde(default = "default_backoff")]
    pub backoff_s: f64,
}

fn default_max_tokens() -> u32 {
    2048
}
fn default_timeout() -> f64 {
    120.0
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> f64 {
    1.0
}

/// An OpenAI-compatible chat judge.
#[derive(Debug)]
pub struct OpenAiJudge {
    config: OpenAiJudgeConfig,
    url: String,
    api_key: Option<String>,
    agent: ureq::Agent,
}

impl OpenAiJudge {
    /// A judge for `config`; reads the API key from its environment variable now.
    pub fn new(config: OpenAiJudgeConfig) -> Result<Self> {
        let api_key = match &config.api_key_env {
            Some(var) => Some(std::env::var(var).map_err(|_| Error::Metric {
                metric: "openai judge",
                reason: format!("environment variable {var} (the API key) is not set"),
            })?),
            None => None,
        };
        if !(config.timeout_s > 0.0 && config.backoff_s >= 0.0) {
            return Err(Error::Metric {
                metric: "openai judge",
                reason: format!(
                    "timeout_s = {} and backoff_s = {}; need timeout_s > 0 and backoff_s ≥ 0",
                    config.timeout_s, config.backoff_s
                ),
            });
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs_f64(config.timeout_s)))
            .http_status_as_error(false)
            .build()
            .into();
        let url = format!(
            "{}/v1/chat/completions",
            config.base_url.trim_end_matches('/')
        );
        Ok(Self {
            config,
            url,
            api_key,
            agent,
        })
    }

    /// One attempt: `Ok(Ok(completion))`, or `Ok(Err(reason))` for a failure worth
    /// retrying, or `Err` for one that is not.
    fn attempt(
        &self,
        body: &serde_json::Value,
    ) -> Result<std::result::Result<serde_json::Value, String>> {
        let mut request = self.agent.post(&self.url);
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let mut response = match request.send_json(body) {
            Ok(response) => response,
            // Timeouts and connection failures: the server may come back.
            Err(err) => return Ok(Err(err.to_string())),
        };
        let status = response.status().as_u16();
        let text = match response.body_mut().read_to_string() {
            Ok(text) => text,
            Err(err) => return Ok(Err(format!("reading the body: {err}"))),
        };
        if status == 429 || status >= 500 {
            return Ok(Err(format!("HTTP {status}: {}", snippet(&text))));
        }
        if status != 200 {
            return Err(self.fail(format!("HTTP {status}: {}", snippet(&text))));
        }
        serde_json::from_str(&text)
            .map(Ok)
            .map_err(|err| self.fail(format!("malformed response ({err}): {}", snippet(&text))))
    }

    /// The first choice of the completion for `body`, retried as configured.
    fn complete(&self, body: &serde_json::Value) -> Result<Choice> {
        let completion: Completion = serde_json::from_value(self.request(body)?)
            .map_err(|err| self.fail(format!("unexpected response layout: {err}")))?;
        completion
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| self.fail("the response has no choices".into()))
    }

    /// The completion for `body` as JSON, retried as configured.
    fn request(&self, body: &serde_json::Value) -> Result<serde_json::Value> {
        let mut delay = self.config.backoff_s;
        let mut failures = Vec::new();
        for attempt in 0..=self.config.max_retries {
            if attempt > 0 {
                sleep(Duration::from_secs_f64(delay));
                delay *= 2.0;
            }
            match self.attempt(body)? {
                Ok(completion) => return Ok(completion),
                Err(reason) => failures.push(reason),
            }
        }
        Err(self.fail(format!(
            "gave up after {} attempts: {}",
            failures.len(),
            failures.join("; ")
        )))
    }

    fn fail(&self, reason: String) -> Error {
        Error::Metric {
            metric: "openai judge",
            reason: format!("{}: {reason}", self.url),
        }
    }

    fn messages(system_prompt: &str, user_prompt: &str) -> serde_json::Value {
        json!([
            {"role": "system", "content": system_prompt},
            {"role": "user", "content": user_prompt},
        ])
    }
}

/// The part of a chat completion the judge reads.
#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
}

/// One choice: the reply, and the first tokens' log-probabilities when they were asked for.
#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    message: Option<Message>,
    #[serde(default)]
    logprobs: Option<Logprobs>,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Logprobs {
    content: Vec<Position>,
}

/// One generated position's most likely tokens.
#[derive(Deserialize)]
struct Position {
    top_logprobs: Vec<Candidate>,
}

#[derive(Deserialize)]
struct Candidate {
    token: String,
    logprob: f64,
}

/// The first 200 characters of a body, for messages.
fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

impl Judge for OpenAiJudge {
    fn name(&self) -> &str {
        &self.config.model
    }

    fn judge(&self, system_prompt: &str, user_prompt: &str) -> Result<String> {
        let choice = self.complete(&json!({
            "model": self.config.model,
            "messages": Self::messages(system_prompt, user_prompt),
            "temperature": self.config.temperature,
            "max_tokens": self.config.max_tokens,
        }))?;
        choice
            .message
            .and_then(|m| m.content)
            .ok_or_else(|| self.fail("the response has no choices[0].message.content".into()))
    }

    /// One token at temperature 1 with `logprobs` and `top_logprobs`, as alpaca_eval's
    /// weighted annotators request it.
    fn first_token_logprobs(
        &self,
        system_prompt: &str,
        user_prompt: &str,
        top: usize,
    ) -> Result<Vec<TokenLogprob>> {
        let choice = self.complete(&json!({
            "model": self.config.model,
            "messages": Self::messages(system_prompt, user_prompt),
            "temperature": 1.0,
            "max_tokens": 1,
            "logprobs": true,
            "top_logprobs": top,
        }))?;
        let first = choice
            .logprobs
            .and_then(|l| l.content.into_iter().next())
            .ok_or_else(|| {
                self.fail(
                    "the response has no choices[0].logprobs.content[0] (does the server \
                     support logprobs?)"
                        .into(),
                )
            })?;
        Ok(first
            .top_logprobs
            .into_iter()
            .map(|c| TokenLogprob {
                token: c.token,
                logprob: c.logprob,
            })
            .collect())
    }
}
