//! The one HTTP client of the workspace: a JSON POST to one URL with a per-request timeout,
//! bounded retries with exponential backoff, and the [`CircuitBreaker`] that lets a caller
//! stop calling a server that keeps failing. Remote reward models (rm-pool) and
//! OpenAI-compatible judges (eval-harness) both go through it.
//!
//! What is retried: timeouts, connection errors, unreadable bodies, HTTP 429 and 5xx, and a
//! 200 whose body the caller's parser calls [`Parsed::Retry`]. What is not: other statuses
//! (a 4xx will not fix itself) and bodies the parser calls [`Parsed::Fatal`].

mod breaker;
mod clock;

use std::thread::sleep;
use std::time::Duration;

use serde_json::Value;

pub use crate::breaker::CircuitBreaker;
pub use crate::clock::{Clock, ManualClock, SystemClock};

/// Timeout and retries of a [`JsonClient`]: the one retry policy of the workspace's remote
/// calls. In config files it is a table of all three keys, e.g. `retry = { timeout_s = 30.0,
/// max_retries = 2, backoff_s = 0.5 }`; each owner (remote RMs, OpenAI-compatible judges)
/// gives its own default when the table is absent.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Per-request timeout, seconds (> 0).
    pub timeout_s: f64,
    /// Retries after a retryable failure.
    pub max_retries: u32,
    /// First retry delay, seconds (≥ 0); doubled each retry.
    pub backoff_s: f64,
}

/// What a caller's parser made of a 200 body.
#[derive(Debug)]
pub enum Parsed<T> {
    /// The value.
    Ok(T),
    /// Unusable, but another attempt may do better (e.g. a truncated body).
    Retry(String),
    /// Unusable, and retrying will not help.
    Fatal(String),
}

/// Why a request failed; messages start with the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Invalid settings.
    #[error("{0}")]
    Config(String),
    /// Every attempt failed with a retryable failure.
    #[error("{url}: gave up after {} attempts: {}", reasons.len(), reasons.join("; "))]
    GaveUp {
        /// The endpoint.
        url: String,
        /// Each attempt's failure, in order.
        reasons: Vec<String>,
    },
    /// The server refused the request, or the parser called the answer fatal.
    #[error("{url}: {reason}")]
    Rejected {
        /// The endpoint.
        url: String,
        /// `HTTP 400: …` or the parser's reason.
        reason: String,
    },
}

/// A JSON POST client for one endpoint.
#[derive(Debug)]
pub struct JsonClient {
    url: String,
    bearer: Option<String>,
    policy: RetryPolicy,
    agent: ureq::Agent,
}

impl JsonClient {
    /// A client for `url` (no request is made yet); `bearer` is sent as
    /// `Authorization: Bearer …` when given.
    pub fn new(url: String, policy: RetryPolicy, bearer: Option<String>) -> Result<Self, Error> {
        if !(policy.timeout_s > 0.0 && policy.timeout_s.is_finite() && policy.backoff_s >= 0.0) {
            return Err(Error::Config(format!(
                "timeout_s = {} and backoff_s = {}; need timeout_s > 0 and backoff_s ≥ 0",
                policy.timeout_s, policy.backoff_s
            )));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs_f64(policy.timeout_s)))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(Self {
            url,
            bearer,
            policy,
            agent,
        })
    }

    /// The endpoint.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// POSTs `body` and parses a 200 answer with `parse`, retrying as the module docs say.
    pub fn post<T>(&self, body: &Value, parse: impl Fn(&str) -> Parsed<T>) -> Result<T, Error> {
        let mut delay = self.policy.backoff_s;
        let mut reasons = Vec::new();
        for attempt in 0..=self.policy.max_retries {
            if attempt > 0 {
                sleep(Duration::from_secs_f64(delay));
                delay *= 2.0;
            }
            match self.attempt(body, &parse)? {
                Ok(value) => return Ok(value),
                Err(reason) => {
                    if attempt < self.policy.max_retries {
                        tracing::warn!(
                            url = %self.url,
                            attempt = attempt + 1,
                            retry_in_s = delay,
                            %reason,
                            "retrying"
                        );
                    }
                    reasons.push(reason);
                }
            }
        }
        Err(Error::GaveUp {
            url: self.url.clone(),
            reasons,
        })
    }

    /// One attempt: `Ok(Ok(value))`, `Ok(Err(reason))` for a failure worth retrying, or
    /// `Err` for one that is not.
    fn attempt<T>(
        &self,
        body: &Value,
        parse: &impl Fn(&str) -> Parsed<T>,
    ) -> Result<Result<T, String>, Error> {
        let mut request = self.agent.post(&self.url);
        if let Some(token) = &self.bearer {
            request = request.header("Authorization", &format!("Bearer {token}"));
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
            return Err(Error::Rejected {
                url: self.url.clone(),
                reason: format!("HTTP {status}: {}", snippet(&text)),
            });
        }
        match parse(&text) {
            Parsed::Ok(value) => Ok(Ok(value)),
            Parsed::Retry(reason) => Ok(Err(reason)),
            Parsed::Fatal(reason) => Err(Error::Rejected {
                url: self.url.clone(),
                reason,
            }),
        }
    }
}

/// The first 200 characters of a body, for messages.
pub fn snippet(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(timeout_s: f64, backoff_s: f64) -> RetryPolicy {
        RetryPolicy {
            timeout_s,
            max_retries: 1,
            backoff_s,
        }
    }

    #[test]
    fn bad_settings_are_refused_by_name() {
        for (timeout, backoff) in [(0.0, 0.0), (f64::INFINITY, 0.0), (1.0, -1.0)] {
            let err = JsonClient::new("http://127.0.0.1:9".into(), policy(timeout, backoff), None)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("timeout_s") && err.contains("backoff_s"),
                "{err}"
            );
        }
    }

    /// Nothing listens on the port: every attempt fails fast, and the error says how many
    /// attempts were made, with the URL.
    #[test]
    fn an_unreachable_server_gives_up_after_the_retries() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/x");
        let client = JsonClient::new(url.clone(), policy(2.0, 0.0), None).unwrap();
        let err = client
            .post(&serde_json::json!({}), |_| Parsed::Ok(()))
            .unwrap_err();
        assert!(matches!(&err, Error::GaveUp { reasons, .. } if reasons.len() == 2));
        assert!(err.to_string().starts_with(&url), "{err}");
    }

    #[test]
    fn snippets_are_cut_at_200_characters() {
        assert_eq!(snippet(&"é".repeat(300)).chars().count(), 200);
        assert_eq!(snippet("short"), "short");
    }
}
