//! Verifiable rewards: 1 when the response's answer matches the item's reference, else 0.
//! Answer extraction is eval-harness's (one implementation with the benchmarks):
//! - `gsm8k`: the strict `#### N` answer, else the last number (lm-eval's two filters), equal
//!   as numbers to the reference solution's `#### N` (so 18 = 18.0 = $18);
//! - `mmlu`: the answer letter (eval-harness `mmlu::extract_letter`) equals the reference
//!   letter (A–D, or its 0-based index);
//! - `exact`: the trimmed response equals the trimmed reference, case-insensitively;
//! - `regex`: the pattern's first capture group (or whole match) in the response equals the
//!   trimmed reference.
//!
//! A verifier used to *label* data must not also be a member of the pool being routed.

use eval_harness::{gsm8k, mmlu};
use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::item::ScoreItem;
use crate::reward_model::{RewardModel, RmInfo};

/// Which answer check.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerifierTask {
    /// GSM8K final number.
    Gsm8k,
    /// MMLU answer letter.
    Mmlu,
    /// Whole-response match.
    Exact,
    /// Pattern-extracted match.
    Regex,
}

/// A verifier RM.
pub struct VerifierRm {
    name: String,
    task: VerifierTask,
    pattern: Option<Regex>,
}

impl VerifierRm {
    /// A verifier for `task`; `regex` needs `pattern`.
    pub fn new(name: &str, task: VerifierTask, pattern: Option<&str>) -> Result<Self> {
        let pattern = match (&task, pattern) {
            (VerifierTask::Regex, Some(p)) => {
                Some(Regex::new(p).map_err(|err| Error::backend(name, format!("pattern: {err}")))?)
            }
            (VerifierTask::Regex, None) => {
                return Err(Error::backend(name, "task `regex` needs a `pattern`"));
            }
            (_, _) => None,
        };
        Ok(Self {
            name: name.into(),
            task,
            pattern,
        })
    }

    fn correct(&self, response: &str, reference: &str) -> bool {
        match self.task {
            VerifierTask::Gsm8k => gsm8k::score(response, reference).numeric_equivalence,
            VerifierTask::Mmlu => {
                let gold = reference_letter(reference);
                gold.is_some() && mmlu::extract_letter(response) == gold
            }
            VerifierTask::Exact => {
                response.trim().to_lowercase() == reference.trim().to_lowercase()
            }
            VerifierTask::Regex => {
                let pattern = self.pattern.as_ref().expect("checked in new");
                pattern.captures(response).is_some_and(|caps| {
                    let found = caps
                        .get(1)
                        .or_else(|| caps.get(0))
                        .map_or("", |m| m.as_str());
                    found.trim() == reference.trim()
                })
            }
        }
    }
}

/// "A"…"D" (any case) or "0"…"3".
fn reference_letter(reference: &str) -> Option<usize> {
    match reference.trim() {
        "A" | "a" | "0" => Some(0),
        "B" | "b" | "1" => Some(1),
        "C" | "c" | "2" => Some(2),
        "D" | "d" | "3" => Some(3),
        _ => None,
    }
}

impl RewardModel for VerifierRm {
    fn name(&self) -> &str {
        &self.name
    }

    fn info(&self) -> RmInfo {
        RmInfo {
            kind: "verifier",
            description: format!("{:?} answer check", self.task),
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
                Ok(f32::from(u8::from(self.correct(&item.response, reference))))
            })
            .collect()
    }
}
