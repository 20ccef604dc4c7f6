//! Verifiable rewards: 1 when the response's answer matches the item's reference, else 0.
//! Answer extraction is answer-check's (one implementation with the benchmarks):
//! - `gsm8k`: the strict `#### N` answer, else the last number (lm-eval's two filters), equal
//!   as numbers to the reference solution's `#### N` (so 18 = 18.0 = $18);
//! - `mmlu`: the answer letter (answer-check `mmlu::extract_letter`) equals the reference
//!   letter (A–D, or its 0-based index);
//! - `exact`: the trimmed response equals the trimmed reference, case-insensitively;
//! - `regex`: the pattern's first capture group (or whole match) in the response equals the
//!   trimmed reference;
//! - `synthetic`: the canonical answer equals the reference's in the domain named by the
//!   item's `category` (`add`, `reverse`, `sort`, `count`; a missing or unknown one scores 0).
//!
//! A verifier used to *label* data must not also be a member of the pool being routed.

use answer_check::Verifier;
pub use answer_check::VerifierTask;

use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};

/// A verifier RM.
pub struct VerifierRm {
    name: String,
    verifier: Verifier,
}

impl VerifierRm {
    /// A verifier for `task`; `regex` needs `pattern`.
    pub fn new(name: &str, task: VerifierTask, pattern: Option<&str>) -> Result<Self> {
        let verifier =
            Verifier::new(task, pattern).map_err(|err| Error::backend(name, err.to_string()))?;
        Ok(Self {
            name: name.into(),
            verifier,
        })
    }
}

impl RewardModel for VerifierRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self, item: &ScoreItem) -> std::result::Result<(), String> {
        match item.reference {
            Some(_) => Ok(()),
            None => Err("no reference answer to verify against".into()),
        }
    }

    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "verifier",
            description: format!("{:?} answer check", self.verifier.task()),
            score_range: (0.0, 1.0),
        }
    }

    fn score(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>> {
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let reference = item.reference.as_deref().ok_or_else(|| Error::Input {
                    rm: self.name.clone(),
                    item: i,
                    reason: "no reference answer to verify against".into(),
                })?;
                Ok(f32::from(u8::from(self.verifier.is_correct_in(
                    &item.response,
                    reference,
                    item.category.as_deref(),
                ))))
            })
            .collect()
    }
}
