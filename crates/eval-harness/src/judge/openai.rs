//! A judge behind an OpenAI-compatible `POST /v1/chat/completions` endpoint (OpenAI, vLLM,
//! llama.cpp and most serving stacks), with a per-request timeout and bounded retries.

use json_http::{JsonClient, Parsed, RetryPolicy, snippet};
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
    /// Per-request timeout, and retries after a timeout, a connection error, 429 or 5xx (not
    /// after other errors); default 120 s, 3 retries, 1 s backoff doubled each retry.
    #[serde(default = "default_retry")]
    pub retry: RetryPolicy,
}

fn default_max_tokens() -> u32 {
    2048
}
fn default_retry() -> RetryPolicy {
    RetryPolicy {
        timeout_s: 120.0,
        max_retries: 3,
        backoff_s: 1.0,
    }
}

/// An OpenAI-compatible chat judge.
#[derive(Debug)]
pub struct OpenAiJudge {
    config: OpenAiJudgeConfig,
    client: JsonClient,
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
        let url = format!(
            "{}/v1/chat/completions",
            config.base_url.trim_end_matches('/')
        );
        let client = JsonClient::new(url, config.retry, api_key).map_err(|err| Error::Metric {
            metric: "openai judge",
            reason: err.to_string(),
        })?;
        Ok(Self { config, client })
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

    /// The completion for `body` as JSON, retried as configured (a body that is not JSON is
    /// not retried: an OpenAI-compatible server that sends one will send it again).
    fn request(&self, body: &serde_json::Value) -> Result<serde_json::Value> {
        self.client
            .post(body, |text| match serde_json::from_str(text) {
                Ok(value) => Parsed::Ok(value),
                Err(err) => Parsed::Fatal(format!("malformed response ({err}): {}", snippet(text))),
            })
            .map_err(|err| Error::Metric {
                metric: "openai judge",
                reason: err.to_string(),
            })
    }

    fn fail(&self, reason: String) -> Error {
        Error::Metric {
            metric: "openai judge",
            reason: format!("{}: {reason}", self.client.url()),
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
