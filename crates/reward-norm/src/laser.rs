//! LASeR's bandit reward: the negated batch training loss, rescaled by the 20/80 quantile
//! clamp over its history (arXiv 2410.01735; METHOD.md §4, §6).

use serde::{Deserialize, Serialize};

use crate::error::{Result, ensure_finite};
use crate::quantile::{QuantileClamp, QuantileClampParams};

/// One reward per training batch: x = −(batch loss), appended to the history, then
/// rescaled to [0, 1] by [`QuantileClamp`]. LASeR routes a whole batch to one reward model,
/// so it gets one reward per batch.
///
/// While the history is shorter than the clamp's `min_history` the reward is the clamp's
/// 0.5 ([`new`](Self::new), the paper's description), or the raw x itself as LASeR's code
/// does with a 2-value warm-up ([`as_coded`](Self::as_coded)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LaserReward {
    history: QuantileClamp,
    /// During the warm-up, return x instead of 0.5.
    #[serde(default)]
    raw_warm_up: bool,
}

impl LaserReward {
    /// An empty history with the given clamp settings (reference: the defaults).
    pub fn new(params: QuantileClampParams) -> Result<Self> {
        Ok(Self {
            history: QuantileClamp::new(params)?,
            raw_warm_up: false,
        })
    }

    /// LASeR's code: the raw −loss while fewer than 2 values are in the history, then the
    /// 20/80 clamp over the whole history.
    pub fn as_coded() -> Result<Self> {
        Self::as_coded_with(QuantileClampParams::default())
    }

    /// [`LaserReward::as_coded`] with other history settings (its 2-value warm-up kept).
    pub fn as_coded_with(params: QuantileClampParams) -> Result<Self> {
        Ok(Self {
            history: QuantileClamp::new(QuantileClampParams {
                min_history: 2,
                ..params
            })?,
            raw_warm_up: true,
        })
    }

    /// Whether it runs as LASeR's code does (raw −loss during a 2-value warm-up).
    pub fn is_as_coded(&self) -> bool {
        self.raw_warm_up
    }

    /// The negated losses' history.
    pub fn history(&self) -> &QuantileClamp {
        &self.history
    }

    /// Reward in [0, 1] for one batch whose mean training loss is `batch_loss` (nats).
    pub fn batch_reward(&mut self, batch_loss: f64) -> Result<f64> {
        ensure_finite(|| "batch loss".into(), batch_loss)?;
        self.history.extend(&[-batch_loss]);
        if self.raw_warm_up && self.history.len() < self.history.params().min_history {
            return Ok(-batch_loss);
        }
        Ok(self.history.rescale(-batch_loss))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescales_negated_losses() {
        let mut norm = LaserReward::new(QuantileClampParams::default()).unwrap();
        // Losses 1.0, 0.9, ..., −0.9: negated, 20 values −1.0, −0.9, …, 0.9 (spacing 0.1).
        let losses: Vec<f64> = (0..20).map(|i| 1.0 - 0.1 * i as f64).collect();
        for &loss in &losses[..19] {
            assert_eq!(norm.batch_reward(loss).unwrap(), 0.5);
        }
        // Now 20 values: Q20 at position 3.8 → −1.0 + 0.38 = −0.62; Q80 at 15.2 → 0.52.
        let reward = norm.batch_reward(losses[19]).unwrap();
        let expected: f64 = (0.9 - (-0.62)) / (0.52 - (-0.62));
        assert_eq!(expected.min(1.0), reward);
        let middle = norm.batch_reward(0.0).unwrap();
        assert!(middle > 0.0 && middle < 1.0);
        assert!(norm.batch_reward(f64::NAN).is_err());
    }

    #[test]
    fn as_coded_is_raw_for_one_value_then_clamped_over_two() {
        let mut norm = LaserReward::as_coded().unwrap();
        assert_eq!(norm.batch_reward(0.7).unwrap(), -0.7);
        // History {−0.7, −0.3}: Q20 = −0.62, Q80 = −0.38; −0.3 is above Q80.
        assert_eq!(norm.batch_reward(0.3).unwrap(), 1.0);
        // History {−0.7, −0.5, −0.3}: Q20 = −0.62, Q80 = −0.38; −0.5 is halfway.
        let reward = norm.batch_reward(0.5).unwrap();
        assert!((reward - 0.5).abs() < 1e-12, "{reward}");
    }
}
