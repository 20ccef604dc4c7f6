//! The reward normaliser of a run (METHOD.md §4): which of reward-norm's normalisers turns the
//! step's per-pair DPO losses into bandit rewards, with its state for checkpoints.

use reward_norm::{
    BatchAdvantage, BatchBaseline, EmaZScore, EmaZScoreParams, LaserReward, QuantileClampParams,
    RewardNormalizer, RoutedLoss,
};
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// A normaliser by name, as configs write it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NormalizerKind {
    /// v4: per-arm EMA z-score ([`EmaZScore`]).
    EmaZscore,
    /// v5: batch baseline with 20/80 quantile rescaling ([`BatchBaseline`]).
    BatchBaseline,
    /// v5 without the quantile rescaling: raw batch advantages, nats ([`BatchAdvantage`]; an
    /// ablation).
    BatchAdvantage,
    /// LASeR: the negated mean loss of a group (the batch, or a prompt's pairs), under the same
    /// quantile rescaling ([`LaserReward`]).
    Laser,
    /// LASeR as its code runs: the raw negated loss while fewer than 2 values are in the
    /// history ([`LaserReward::as_coded`]).
    LaserAsCoded,
}

/// A normaliser with its state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalizer {
    /// v4.
    EmaZscore(EmaZScore),
    /// v5.
    BatchBaseline(BatchBaseline),
    /// v5 without its rescaling.
    BatchAdvantage(BatchAdvantage),
    /// LASeR's.
    Laser(LaserReward),
}

impl Normalizer {
    /// A fresh normaliser of `kind` with the reference parameters, for `n_arms` arms.
    pub fn new(kind: NormalizerKind, n_arms: usize) -> Result<Self> {
        Ok(match kind {
            NormalizerKind::EmaZscore => {
                Self::EmaZscore(EmaZScore::new(n_arms.max(1), EmaZScoreParams::default())?)
            }
            NormalizerKind::BatchBaseline => {
                Self::BatchBaseline(BatchBaseline::new(QuantileClampParams::default())?)
            }
            NormalizerKind::BatchAdvantage => Self::BatchAdvantage(BatchAdvantage),
            NormalizerKind::Laser => Self::Laser(LaserReward::new(QuantileClampParams::default())?),
            NormalizerKind::LaserAsCoded => Self::Laser(LaserReward::as_coded()?),
        })
    }

    /// [`Normalizer::new`], except that a quantile history (v5's batch baseline, LASeR's
    /// reward) keeps only its newest `window` values. The reference keeps a run's whole
    /// history; a service that runs for months cannot (memory, snapshot size, and an O(n)
    /// insertion per value). Normalisers without a history are as [`Normalizer::new`] makes
    /// them.
    pub fn with_history_window(kind: NormalizerKind, n_arms: usize, window: usize) -> Result<Self> {
        let params = QuantileClampParams {
            max_history: Some(window),
            ..QuantileClampParams::default()
        };
        Ok(match kind {
            NormalizerKind::BatchBaseline => Self::BatchBaseline(BatchBaseline::new(params)?),
            NormalizerKind::Laser => Self::Laser(LaserReward::new(params)?),
            NormalizerKind::LaserAsCoded => Self::Laser(LaserReward::as_coded_with(params)?),
            other => Self::new(other, n_arms)?,
        })
    }

    /// Whether `other` is the same kind with the same settings (its state aside): what a
    /// restored normaliser must share with the one configured.
    pub fn same_settings(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::EmaZscore(a), Self::EmaZscore(b)) => a.params() == b.params(),
            (Self::BatchBaseline(a), Self::BatchBaseline(b)) => {
                a.history().params() == b.history().params()
            }
            (Self::BatchAdvantage(_), Self::BatchAdvantage(_)) => true,
            (Self::Laser(a), Self::Laser(b)) => {
                a.history().params() == b.history().params() && a.is_as_coded() == b.is_as_coded()
            }
            _ => false,
        }
    }

    /// Rewards for one step's pairs, in order (`None` where the normaliser has none yet).
    /// `groups[j]` is pair j's group: LASeR's reward is one per group (every pair of a group
    /// gets it), the others ignore groups. All losses must be finite; on error nothing changed.
    pub fn rewards(&mut self, batch: &[RoutedLoss], groups: &[usize]) -> Result<Vec<Option<f64>>> {
        match self {
            Self::EmaZscore(normalizer) => Ok(normalizer.rewards(batch)?),
            Self::BatchBaseline(normalizer) => Ok(normalizer.rewards(batch)?),
            Self::BatchAdvantage(normalizer) => Ok(normalizer.rewards(batch)?),
            Self::Laser(normalizer) => {
                // Group means, in order of first appearance, all checked before any is
                // absorbed (a trial copy takes them first).
                let mut order: Vec<usize> = Vec::new();
                for &g in groups {
                    if !order.contains(&g) {
                        order.push(g);
                    }
                }
                let means: Vec<f64> = order
                    .iter()
                    .map(|&g| {
                        let members: Vec<f64> = batch
                            .iter()
                            .zip(groups)
                            .filter(|(_, group)| **group == g)
                            .map(|(b, _)| b.loss)
                            .collect();
                        members.iter().sum::<f64>() / members.len() as f64
                    })
                    .collect();
                let mut trial = normalizer.clone();
                let mut rewards = Vec::with_capacity(means.len());
                for mean in means {
                    rewards.push(trial.batch_reward(mean)?);
                }
                *normalizer = trial;
                Ok(groups
                    .iter()
                    .map(|g| Some(rewards[order.iter().position(|o| o == g).expect("seen")]))
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history_len(normalizer: &Normalizer) -> usize {
        match normalizer {
            Normalizer::BatchBaseline(n) => n.history().len(),
            Normalizer::Laser(n) => n.history().len(),
            _ => 0,
        }
    }

    /// A windowed history stops growing at its window; the reference one keeps everything.
    #[test]
    fn a_history_window_bounds_the_quantile_history() {
        let batch: Vec<RoutedLoss> = (0..4)
            .map(|j| RoutedLoss {
                arm: 0,
                loss: 0.1 * f64::from(j),
            })
            .collect();
        let groups = [0, 1, 2, 3];
        for kind in [
            NormalizerKind::BatchBaseline,
            NormalizerKind::Laser,
            NormalizerKind::LaserAsCoded,
        ] {
            let mut windowed = Normalizer::with_history_window(kind, 2, 6).unwrap();
            let mut whole = Normalizer::new(kind, 2).unwrap();
            for _ in 0..5 {
                windowed.rewards(&batch, &groups).unwrap();
                whole.rewards(&batch, &groups).unwrap();
            }
            assert_eq!(history_len(&windowed), 6, "{kind:?}");
            assert_eq!(history_len(&whole), 20, "{kind:?}");
        }
        assert!(
            !Normalizer::with_history_window(NormalizerKind::BatchBaseline, 2, 6)
                .unwrap()
                .same_settings(&Normalizer::new(NormalizerKind::BatchBaseline, 2).unwrap())
        );
        assert!(
            !Normalizer::new(NormalizerKind::Laser, 2)
                .unwrap()
                .same_settings(&Normalizer::new(NormalizerKind::LaserAsCoded, 2).unwrap())
        );
        // Normalisers without a history are unchanged.
        assert_eq!(
            Normalizer::with_history_window(NormalizerKind::EmaZscore, 2, 6).unwrap(),
            Normalizer::new(NormalizerKind::EmaZscore, 2).unwrap()
        );
    }
}
