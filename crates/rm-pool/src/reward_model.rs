//! The one interface every reward model implements.

use crate::error::Result;
use crate::item::ScoreItem;

/// What a reward model is and how its scores read.
#[derive(Clone, Debug, PartialEq)]
pub struct RmInfo {
    /// The backend (`classifier`, `llm-judge`, `embedding`, `verifier`, `http`, …).
    pub kind: &'static str,
    /// A human-readable description (model path or URL, scoring rule).
    pub description: String,
    /// The native score range `(low, high)`; infinite where unbounded.
    pub score_range: (f32, f32),
}

/// A reward model: scores `(conversation, response)` items, one `f32` each, higher = better.
/// Pairwise verdicts are derived from scores ([`crate::Verdict`]).
pub trait RewardModel: Send {
    /// The RM's name in its pool (unique there).
    fn name(&self) -> &str;

    /// What it is.
    fn info(&self) -> RmInfo;

    /// Scores `items` in order. A backend may return non-finite values; the pool rejects
    /// them with an error naming the RM and the item.
    fn score(&mut self, items: &[ScoreItem]) -> Result<Vec<f32>>;

    /// Whether the RM can score `item` at all (e.g. an RM that compares with the reference
    /// answer needs one): `Err(reason)` when it cannot. Checked over a whole input before
    /// anything is scored ([`crate::RmPool::check_items`]), so that a long scoring run does
    /// not fail at its last RM.
    fn check(&self, item: &ScoreItem) -> std::result::Result<(), String> {
        let _ = item;
        Ok(())
    }

    /// Whether the RM can be called now (a remote RM whose circuit breaker is open cannot;
    /// the router masks it).
    fn is_available(&self) -> bool {
        true
    }

    /// Items cut to fit the RM's context so far (see `truncate.rs` for the rule).
    fn truncations(&self) -> usize {
        0
    }
}
