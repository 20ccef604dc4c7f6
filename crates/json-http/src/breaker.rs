//! A circuit breaker for remote services (reward models, judges): after `failure_threshold` consecutive failed
//! calls the RM is marked unavailable for `cooldown`; then one trial call is let through
//! (half-open), whose success closes the breaker and whose failure opens it again. The
//! router masks an unavailable arm instead of the run crashing or hanging on it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::clock::{Clock, SystemClock};

/// Breaker state of one RM.
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    failure_threshold: u32,
    cooldown: Duration,
    consecutive_failures: u32,
    open_until: Option<Instant>,
    clock: Arc<dyn Clock>,
}

impl CircuitBreaker {
    /// A closed breaker that opens after `failure_threshold` (at least 1) consecutive failed
    /// calls and stays open for `cooldown` of system time.
    pub fn new(failure_threshold: u32, cooldown: Duration) -> Self {
        Self::with_clock(failure_threshold, cooldown, Arc::new(SystemClock))
    }

    /// [`CircuitBreaker::new`] timing its cooldown on `clock`.
    pub fn with_clock(failure_threshold: u32, cooldown: Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            failure_threshold: failure_threshold.max(1),
            cooldown,
            consecutive_failures: 0,
            open_until: None,
            clock,
        }
    }

    /// Whether a call may go out now (closed, or open with the cooldown over: a trial).
    pub fn allows_call(&self) -> bool {
        self.open_until
            .is_none_or(|until| self.clock.now() >= until)
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
            self.open_until = Some(self.clock.now() + self.cooldown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn opens_at_the_threshold_and_lets_one_trial_through_after_the_cooldown() {
        let clock = ManualClock::new();
        let mut breaker =
            CircuitBreaker::with_clock(2, Duration::from_secs(30), Arc::new(clock.clone()));
        breaker.record_failure();
        assert!(breaker.allows_call(), "one failure is below the threshold");
        breaker.record_failure();
        assert!(!breaker.allows_call());
        clock.advance(Duration::from_secs(29));
        assert!(!breaker.allows_call(), "still cooling down");
        clock.advance(Duration::from_secs(1));
        assert!(breaker.allows_call(), "the half-open trial");
        // A failed trial opens it again at once; a successful one closes it.
        breaker.record_failure();
        assert!(!breaker.allows_call());
        clock.advance(Duration::from_secs(30));
        breaker.record_success();
        assert!(breaker.allows_call());
        breaker.record_failure();
        assert!(
            breaker.allows_call(),
            "the count restarted after the success"
        );
    }
}
