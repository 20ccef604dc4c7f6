//! v4: per-arm exponential-moving-average z-score of the DPO loss (METHOD.md §4).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_finite};
use crate::{RewardNormalizer, RoutedLoss};

/// Settings of [`EmaZScore`]; the defaults are the reference values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmaZScoreParams {
    /// EMA weight of a new observation, in (0, 1] (reference 0.01).
    pub alpha: f64,
    /// Observations of an arm that only warm its EMAs before z-scores are emitted
    /// (reference 5; the first one initialises them).
    pub min_count: u64,
    /// z is clipped to ±clip (reference 2).
    pub clip: f64,
    /// Added to the variance under the square root (reference 1e-6).
    pub epsilon: f64,
}

impl Default for EmaZScoreParams {
    fn default() -> Self {
        Self {
            alpha: 0.01,
            min_count: 5,
            clip: 2.0,
            epsilon: 1e-6,
        }
    }
}

impl EmaZScoreParams {
    /// Validates every field.
    pub fn check(&self) -> Result<()> {
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(Error::InvalidParameter {
                name: "alpha",
                value: self.alpha.to_string(),
                reason: "must be in (0, 1]",
            });
        }
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return Err(Error::InvalidParameter {
                name: "clip",
                value: self.clip.to_string(),
                reason: "must be finite and > 0",
            });
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(Error::InvalidParameter {
                name: "epsilon",
                value: self.epsilon.to_string(),
                reason: "must be finite and > 0",
            });
        }
        Ok(())
    }
}

/// EMA state of one arm.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
struct ArmEma {
    /// Observations seen.
    count: u64,
    /// EMA of the loss, m.
    mean: f64,
    /// EMA of the squared loss, q.
    mean_sq: f64,
}

/// Per-arm EMA z-score of the loss: reward = (m_k − ℓ)/√(max(q_k − m_k², 0) + ε), clipped to
/// ±clip, with m_k, q_k the arm's EMAs of ℓ and ℓ² *before* this observation. Lower loss than
/// usual for that arm gives a positive reward. Units: standard deviations of the arm's loss.
///
/// An arm's first observation sets m = ℓ, q = ℓ²; its first `min_count` observations only
/// move the EMAs and yield no reward (`None`: skip the bandit update); from then on every
/// observation yields a z-score and then moves the EMAs (m ← (1−α)m + αℓ, q likewise).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmaZScore {
    params: EmaZScoreParams,
    arms: Vec<ArmEma>,
}

impl EmaZScore {
    /// Fresh state for `n_arms` arms.
    pub fn new(n_arms: usize, params: EmaZScoreParams) -> Result<Self> {
        params.check()?;
        Ok(Self {
            params,
            arms: vec![ArmEma::default(); n_arms],
        })
    }

    /// The settings.
    pub fn params(&self) -> &EmaZScoreParams {
        &self.params
    }

    /// Number of arms tracked.
    pub fn n_arms(&self) -> usize {
        self.arms.len()
    }

    /// Observations seen for `arm` (0 if out of range).
    pub fn count(&self, arm: usize) -> u64 {
        self.arms.get(arm).map_or(0, |a| a.count)
    }

    /// Normalises one loss ℓ (nats) of `arm`: `None` during warm-up, else the clipped z.
    pub fn observe(&mut self, arm: usize, loss: f64) -> Result<Option<f64>> {
        self.check(arm, loss, || "loss".into())?;
        Ok(self.apply(arm, loss))
    }

    fn check(&self, arm: usize, loss: f64, what: impl FnOnce() -> String) -> Result<()> {
        if arm >= self.arms.len() {
            return Err(Error::ArmOutOfRange {
                arm,
                n_arms: self.arms.len(),
            });
        }
        ensure_finite(what, loss)
    }

    /// The update itself, on validated input.
    fn apply(&mut self, arm: usize, loss: f64) -> Option<f64> {
        let EmaZScoreParams {
            alpha,
            min_count,
            clip,
            epsilon,
        } = self.params;
        let state = &mut self.arms[arm];
        if state.count == 0 {
            *state = ArmEma {
                count: 1,
                mean: loss,
                mean_sq: loss * loss,
            };
            return None;
        }
        let reward = (state.count >= min_count).then(|| {
            // max(·, 0): q − m² is a variance only up to rounding.
            let variance = (state.mean_sq - state.mean * state.mean).max(0.0);
            ((state.mean - loss) / (variance + epsilon).sqrt()).clamp(-clip, clip)
        });
        state.mean = (1.0 - alpha) * state.mean + alpha * loss;
        state.mean_sq = (1.0 - alpha) * state.mean_sq + alpha * loss * loss;
        state.count += 1;
        reward
    }
}

impl RewardNormalizer for EmaZScore {
    /// Pairs are processed in order, so a later pair of the same arm sees the EMAs moved by
    /// an earlier one.
    fn rewards(&mut self, batch: &[RoutedLoss]) -> Result<Vec<Option<f64>>> {
        for (index, pair) in batch.iter().enumerate() {
            self.check(pair.arm, pair.loss, || format!("loss of pair {index}"))?;
        }
        Ok(batch
            .iter()
            .map(|pair| self.apply(pair.arm, pair.loss))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// α = 0.5, min_count = 1, clip = 2, ε = 1e-6, by hand:
    /// ℓ=1: init m=1, q=1 → None.
    /// ℓ=3: var = 0 → z = (1−3)/√1e-6 = −2000 → −2; then m = 2, q = 5.
    /// ℓ=1: var = 5 − 4 = 1 → z = (2−1)/√(1 + 1e-6) = 0.9999995; then m = 1.5, q = 3.
    #[test]
    fn hand_computed_sequence() {
        let params = EmaZScoreParams {
            alpha: 0.5,
            min_count: 1,
            ..EmaZScoreParams::default()
        };
        let mut norm = EmaZScore::new(1, params).unwrap();
        assert_eq!(norm.observe(0, 1.0).unwrap(), None);
        assert_eq!(norm.observe(0, 3.0).unwrap(), Some(-2.0));
        let z = norm.observe(0, 1.0).unwrap().unwrap();
        assert!((z - 1.0 / (1.0 + 1e-6_f64).sqrt()).abs() < 1e-15);
        assert_eq!(norm.arms[0].mean, 1.5);
        assert_eq!(norm.arms[0].mean_sq, 3.0);
    }

    /// Reference values: five warm-up observations, the sixth gets a z from pre-update EMAs.
    #[test]
    fn reference_warm_up_is_five_observations() {
        let mut norm = EmaZScore::new(2, EmaZScoreParams::default()).unwrap();
        for loss in [0.7, 0.6, 0.8, 0.7, 0.7] {
            assert_eq!(norm.observe(1, loss).unwrap(), None);
        }
        let state = norm.arms[1];
        let variance = state.mean_sq - state.mean * state.mean;
        let expected = ((state.mean - 0.5) / (variance + 1e-6).sqrt()).clamp(-2.0, 2.0);
        assert_eq!(norm.observe(1, 0.5).unwrap(), Some(expected));
        // Arm 0 is untouched by arm 1's history.
        assert_eq!(norm.observe(0, 0.5).unwrap(), None);
    }

    #[test]
    fn rejects_without_absorbing() {
        let mut norm = EmaZScore::new(2, EmaZScoreParams::default()).unwrap();
        norm.observe(0, 1.0).unwrap();
        let before = norm.clone();
        let batch = [
            RoutedLoss { arm: 0, loss: 0.5 },
            RoutedLoss {
                arm: 1,
                loss: f64::NAN,
            },
        ];
        let err = norm.rewards(&batch).unwrap_err().to_string();
        assert!(err.contains("loss of pair 1"), "{err}");
        assert_eq!(norm, before);
        assert!(norm.observe(2, 0.5).is_err());
        assert!(norm.observe(0, f64::INFINITY).is_err());
        assert_eq!(norm, before);
    }
}
