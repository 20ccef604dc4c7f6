//! Online reward normalisers for reward-model routing.
//!
//! The bandit in BayesianRouter learns from how much each routed preference pair helped
//! training: the pair's DPO loss ℓ (nats) from the step, lower being better. Raw losses drift
//! as the policy trains, so they are normalised before they reach the bandit. This crate
//! implements the normalisers of the project's METHOD.md §4 with exactly those semantics:
//!
//! - [`EmaZScore`] (v4): per-arm EMA z-score with warm-up and clipping;
//! - [`BatchBaseline`] (v5): advantage over the batch mean, rescaled by the 20/80 quantiles
//!   of a global history ([`QuantileClamp`]);
//! - [`LaserReward`]: LASeR's negated batch loss under the same quantile clamp;
//! - [`Welford`]: running mean and variance, e.g. for per-RM score standardisation.
//!
//! Key design decision: a normaliser validates its whole input before it changes anything,
//! so a NaN/inf loss is an [`Error`] and never enters the statistics. Every state is
//! `serde`-serialisable, so it checkpoints with the router.
//!
//! The per-pair normalisers implement [`RewardNormalizer`]; LASeR's, which produces one
//! reward per batch, has its own method.

mod batch_baseline;
mod ema_zscore;
mod error;
mod laser;
mod quantile;
mod welford;

pub use crate::{
    batch_baseline::{BatchAdvantage, BatchBaseline},
    ema_zscore::{EmaZScore, EmaZScoreParams},
    error::{Error, Result},
    laser::LaserReward,
    quantile::{QuantileClamp, QuantileClampParams, percentile},
    welford::Welford,
};

/// The DPO loss of one routed pair and the arm (reward model) that judged it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoutedLoss {
    /// Arm index.
    pub arm: usize,
    /// The pair's loss ℓ = −log σ(βΔ), in nats, from the step before the optimiser update.
    pub loss: f64,
}

/// Turns one training batch's per-pair losses into bandit rewards.
pub trait RewardNormalizer {
    /// Rewards for `batch`, in order: `None` where the normaliser has no reward yet (the
    /// bandit update for that pair is skipped). Errors, absorbing nothing, on any NaN/inf
    /// loss or unknown arm.
    fn rewards(&mut self, batch: &[RoutedLoss]) -> Result<Vec<Option<f64>>>;
}
