//! Programmatic reward models for synthetic routing benchmarks: deterministic, seeded RMs
//! whose competence per category is set by hand, so that which RM is best where is known.
//!
//! `noisy-verifier`: the truth is a verifier's verdict (`verifier.rs`) on the item's
//! reference; the RM reports it correctly with probability `accuracy[category]` (else
//! `default_accuracy`) and flipped otherwise. The coin for an item is a pure function of the
//! seed and the item's digest (SHA-256), so the same item always gets the same score, in any
//! batch, order or run. Scores are 1 (judged correct) or 0.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::backends::verifier::{VerifierRm, VerifierTask};
use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};

/// A noisy verifier's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoisyVerifierConfig {
    /// The verifier giving the truth.
    pub task: VerifierTask,
    /// Its pattern, for `regex`.
    #[serde(default)]
    pub pattern: Option<String>,
    /// Probability of a correct report per item category.
    #[serde(default)]
    pub accuracy: BTreeMap<String, f64>,
    /// Probability of a correct report for other categories and uncategorised items.
    pub default_accuracy: f64,
    /// Seed of the per-item coins.
    pub seed: u64,
}

/// A seeded noisy verifier.
pub struct NoisyVerifierRm {
    name: String,
    config: NoisyVerifierConfig,
    verifier: VerifierRm,
}

impl NoisyVerifierRm {
    /// A noisy verifier; every accuracy must lie in [0, 1].
    pub fn new(name: &str, config: NoisyVerifierConfig) -> Result<Self> {
        let bad = config
            .accuracy
            .iter()
            .map(|(c, p)| (c.as_str(), *p))
            .chain([("default_accuracy", config.default_accuracy)])
            .find(|(_, p)| !(0.0..=1.0).contains(p));
        if let Some((category, p)) = bad {
            return Err(Error::backend(
                name,
                format!("accuracy of {category:?} is {p}; it must be in [0, 1]"),
            ));
        }
        let verifier = VerifierRm::new(name, config.task.clone(), config.pattern.as_deref())?;
        Ok(Self {
            name: name.into(),
            config,
            verifier,
        })
    }

    /// A uniform draw in [0, 1) fixed by the seed and the item.
    fn coin(&self, item: &ScoreItem) -> f64 {
        let mut hasher = Sha256::new();
        hasher.update(self.config.seed.to_le_bytes());
        hasher.update(item.digest());
        let bytes: [u8; 8] = hasher.finalize()[..8].try_into().expect("8 bytes");
        (u64::from_le_bytes(bytes) >> 11) as f64 / (1_u64 << 53) as f64
    }
}

impl RewardModel for NoisyVerifierRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "programmatic",
            description: format!(
                "noisy {:?} verifier (accuracy {:?}, default {}, seed {})",
                self.config.task,
                self.config.accuracy,
                self.config.default_accuracy,
                self.config.seed
            ),
            score_range: (0.0, 1.0),
        }
    }

    fn score(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>> {
        let truth = self.verifier.score(items)?;
        Ok(items
            .iter()
            .zip(truth)
            .map(|(item, truth)| {
                let accuracy = item
                    .category
                    .as_ref()
                    .and_then(|c| self.config.accuracy.get(c))
                    .copied()
                    .unwrap_or(self.config.default_accuracy);
                if self.coin(item) < accuracy {
                    truth
                } else {
                    1.0 - truth
                }
            })
            .collect())
    }
}
