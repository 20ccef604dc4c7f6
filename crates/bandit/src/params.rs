//! Hyperparameters of the router's per-arm linear models, checked before use.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Hyperparameters shared by every arm's Bayesian linear model, plus the numerics knobs.
///
/// Units: rewards are whatever the normaliser emits (the reference normalisers give z-scores
/// in [−2, 2] or rescaled advantages in [0, 1]); `sigma2` is in those units squared.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BanditParams {
    /// λ0 > 0: prior precision of every weight (prior covariance λ0⁻¹ I). Large values pin
    /// the posterior to the offline prior; the reference uses 1 (v4) or 50 (v5).
    pub lambda0: f64,
    /// σ² > 0: observation-noise variance of the reward model r = wᵀe + ε.
    pub sigma2: f64,
    /// Added to the precision's diagonal before factorising (≥ 0). Reference: 1e-8.
    pub jitter: f64,
    /// Refactorise an arm's Cholesky factor from its accumulated precision after this many
    /// of its updates, bounding rank-1 rounding drift (0 = never). Costs O(d³) each time.
    pub refactor_every: u64,
    /// Monte-Carlo draws per context for Thompson-sampling propensities (0 = don't estimate;
    /// choices then carry no propensity). Standard error ≤ 0.5/√draws.
    pub propensity_draws: usize,
}

impl Default for BanditParams {
    fn default() -> Self {
        Self::bayesian_v4()
    }
}

impl BanditParams {
    /// The reference v4 setting: λ0 = 1, σ² = 1, jitter 1e-8.
    pub fn bayesian_v4() -> Self {
        Self {
            lambda0: 1.0,
            sigma2: 1.0,
            jitter: 1e-8,
            refactor_every: 1000,
            propensity_draws: 1000,
        }
    }

    /// The reference v5 setting: a 50× stronger prior (λ0 = 50), σ² = 1, jitter 1e-8.
    pub fn bayesian_v5() -> Self {
        Self {
            lambda0: 50.0,
            ..Self::bayesian_v4()
        }
    }

    /// LASeR's LinUCB state: A = I (λ0 = 1), b = 0, unit noise, no jitter.
    pub fn laser() -> Self {
        Self {
            lambda0: 1.0,
            sigma2: 1.0,
            jitter: 0.0,
            refactor_every: 1000,
            propensity_draws: 0,
        }
    }

    /// Validates every field.
    pub fn check(&self) -> Result<()> {
        positive("lambda0", self.lambda0)?;
        positive("sigma2", self.sigma2)?;
        if !(self.jitter.is_finite() && self.jitter >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "jitter",
                value: self.jitter.to_string(),
                reason: "must be finite and >= 0",
            });
        }
        Ok(())
    }
}

/// Rejects anything but a finite, strictly positive value.
pub(crate) fn positive(name: &'static str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name,
            value: value.to_string(),
            reason: "must be finite and > 0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid() {
        for params in [
            BanditParams::bayesian_v4(),
            BanditParams::bayesian_v5(),
            BanditParams::laser(),
        ] {
            params.check().unwrap();
        }
    }

    #[test]
    fn rejects_bad_values_by_name() {
        let bad = BanditParams {
            lambda0: 0.0,
            ..BanditParams::default()
        };
        let message = bad.check().unwrap_err().to_string();
        assert!(message.contains("lambda0"), "{message}");

        let bad = BanditParams {
            jitter: f64::NAN,
            ..BanditParams::default()
        };
        assert!(bad.check().unwrap_err().to_string().contains("jitter"));
    }
}
