//! A circuit breaker for remote services (reward models, judges): after `failure_threshold` consecutive failed
//! calls the RM is marked unavailable for `cooldown`; then one trial call is let through
//! (half-open), whose success closes the breaker and whose failure opens it again. The
//! router masks an unavailable arm instead of the run crashing or hanging on it.

use std::time::{Duration, Instant};

/// Breaker state of one RM.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    cooldown: Duration,
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

impl CircuitBreaker {
    /// A closed breaker that opens after `failure_threshold` (at least 1) consecutive failed
    /// calls and stays open for `cooldown`.
    pub fn new(failure_threshold: u32, cooldown: Duration) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            cooldown,
            consecutive_failures: 0,
            open_until: None,
        }
    }

    /// Whether a call may go out now (closed, or open with the cooldown over: a trial).
    pub fn allows_call(&self) -> bool {
        self.open_until.is_none_or(|until| Instant::now() >= until)
    }

    /// Records a successful call: closes the breaker.
    pub fn record_success(&mut self) {
        self.consecutive_failures = 0;
        self.open_until = None;
    }

    /// Records a failed call (after its retries); opens the breaker at the threshold, and
    /// again at once when a half-open trial fails.
    pub fn record_failure(&mut self) {
        self.consecutive_failures += 1;
        if self.consecutive_failures >= self.failure_threshold || self.open_until.is_some() {
            tracing::warn!(
                failures = self.consecutive_failures,
                cooldown_s = self.cooldown.as_secs_f64(),
                "circuit breaker open"
            );
            self.open_until = Some(Instant::now() + self.cooldown);
        }
    }
}
