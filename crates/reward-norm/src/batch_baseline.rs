//! v5: batch-baseline advantage, rescaled by the 20/80 quantiles of its history
//! (METHOD.md §4).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_finite};
use crate::quantile::{QuantileClamp, QuantileClampParams};
use crate::{RewardNormalizer, RoutedLoss};

/// Reward of pair j in a batch: its advantage A_j = mean_batch(ℓ) − ℓ_j (nats; lower loss than
/// the batch's average is positive), appended to a global history and then rescaled to
/// [0, 1] by [`QuantileClamp`]. The arm plays no part: the baseline is the whole batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchBaseline {
    history: QuantileClamp,
}

impl BatchBaseline {
    /// An empty history with the given clamp settings (reference: the defaults).
    pub fn new(params: QuantileClampParams) -> Result<Self> {
        Ok(Self {
            history: QuantileClamp::new(params)?,
        })
    }

    /// The advantages' history.
    pub fn history(&self) -> &QuantileClamp {
        &self.history
    }

    /// Rewards in [0, 1] for one batch of per-pair losses ℓ_j (nats), in batch order.
    pub fn batch_rewards(&mut self, losses: &[f64]) -> Result<Vec<f64>> {
        let advantages = batch_advantages(losses)?;
        self.history.extend(&advantages);
        Ok(advantages
            .iter()
            .map(|&advantage| self.history.rescale(advantage))
            .collect())
    }
}

impl RewardNormalizer for BatchBaseline {
    fn rewards(&mut self, batch: &[RoutedLoss]) -> Result<Vec<Option<f64>>> {
        let losses: Vec<f64> = batch.iter().map(|pair| pair.loss).collect();
        Ok(self.batch_rewards(&losses)?.into_iter().map(Some).collect())
    }
}

/// A_j = mean_batch(ℓ) − ℓ_j for one batch of per-pair losses (nats), after checking them.
fn batch_advantages(losses: &[f64]) -> Result<Vec<f64>> {
    if losses.is_empty() {
        return Err(Error::EmptyBatch {
            what: "batch baseline",
        });
    }
    for (index, &loss) in losses.iter().enumerate() {
        ensure_finite(|| format!("loss of pair {index}"), loss)?;
    }
    let mean = losses.iter().sum::<f64>() / losses.len() as f64;
    Ok(losses.iter().map(|loss| mean - loss).collect())
}

/// The v5 batch baseline without its quantile rescaling: the reward of pair j is its raw
/// advantage A_j = mean_batch(ℓ) − ℓ_j in nats (unbounded, centred on 0 per batch). An
/// ablation of [`BatchBaseline`] (what the rescaling buys), not a reference normaliser.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BatchAdvantage;

impl RewardNormalizer for BatchAdvantage {
    fn rewards(&mut self, batch: &[RoutedLoss]) -> Result<Vec<Option<f64>>> {
        let losses: Vec<f64> = batch.iter().map(|pair| pair.loss).collect();
        Ok(batch_advantages(&losses)?.into_iter().map(Some).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_until_twenty_values_then_quantiles() {
        let mut norm = BatchBaseline::new(QuantileClampParams::default()).unwrap();
        // Batches of four: advantages ±1.5, ±0.5.
        let batch = [1.0, 2.0, 3.0, 4.0];
        for _ in 0..4 {
            assert_eq!(norm.batch_rewards(&batch).unwrap(), vec![0.5; 4]);
        }
        // The fifth batch brings the history to 20 values: five each of 1.5, 0.5, −0.5, −1.5.
        // Sorted, position 0.2·19 = 3.8 lies in the −1.5 run → Q20 = −1.5; position 15.2 lies
        // in the 1.5 run → Q80 = 1.5. Rewards: (A + 1.5)/3.
        let rewards = norm.batch_rewards(&batch).unwrap();
        assert_eq!(rewards, vec![1.0, 2.0 / 3.0, 1.0 / 3.0, 0.0]);
    }

    #[test]
    fn degenerate_history_uses_the_indicator() {
        let mut norm = BatchBaseline::new(QuantileClampParams::default()).unwrap();
        for _ in 0..10 {
            norm.batch_rewards(&[0.3, 0.3]).unwrap();
        }
        // All 20 advantages are 0: Q80 = Q20 = 0, r = 1[A > 0].
        assert_eq!(norm.batch_rewards(&[0.2, 0.4]).unwrap(), vec![1.0, 0.0]);
    }

    #[test]
    fn the_unscaled_ablation_gives_raw_advantages() {
        let routed = |loss| RoutedLoss { arm: 0, loss };
        let rewards = BatchAdvantage
            .rewards(&[routed(1.0), routed(2.0), routed(6.0)])
            .unwrap();
        assert_eq!(rewards, vec![Some(2.0), Some(1.0), Some(-3.0)]);
        assert!(BatchAdvantage.rewards(&[routed(f64::NAN)]).is_err());
    }

    #[test]
    fn rejects_without_absorbing() {
        let mut norm = BatchBaseline::new(QuantileClampParams::default()).unwrap();
        norm.batch_rewards(&[1.0, 2.0]).unwrap();
        let before = norm.clone();
        let err = norm
            .batch_rewards(&[1.0, f64::NAN])
            .unwrap_err()
            .to_string();
        assert!(err.contains("loss of pair 1"), "{err}");
        assert!(norm.batch_rewards(&[]).is_err());
        assert_eq!(norm, before);
    }
}
