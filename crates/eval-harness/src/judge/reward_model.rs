//! A reward model of an rm-pool as a pairwise judge of the benchmarks: both answers to a question are
//! scored by one RM (cached like any other call) and the score margin becomes the verdict in
//! the benchmark's own terms, so eval-harness scores it as it scores an LLM judge:
//! - Arena-Hard: the two games' labels (game 1: A = baseline, B = model; game 2 swapped),
//!   `=` within `tie_eps`, `>>` beyond `strong_margin`, `>` between. An RM does not see
//!   positions, so game 2 mirrors game 1.
//! - AlpacaEval: the preference 1 + σ((s_model − s_baseline) / temperature) in [1, 2]
//!   (1 = the baseline's output preferred, 2 = the model's), 1.5 for a tie.

use rm_pool::{RmPool, ScoreItem};

use crate::arena_hard::Judgment;
use crate::error::Result;

/// How a score margin maps to verdicts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VerdictScale {
    /// Margins up to this are ties.
    pub tie_eps: f32,
    /// Margins beyond this are strong (`>>`, weighted ×3 by Arena-Hard).
    pub strong_margin: f32,
    /// Softness of the AlpacaEval preference (score units).
    pub temperature: f32,
}

impl Default for VerdictScale {
    fn default() -> Self {
        Self {
            tie_eps: 0.0,
            strong_margin: f32::INFINITY,
            temperature: 1.0,
        }
    }
}

/// One question answered by the baseline and by the judged model.
#[derive(Clone, Debug)]
pub struct AnswerPair<'a> {
    /// The user's question.
    pub question: &'a str,
    /// The baseline's answer.
    pub baseline: &'a str,
    /// The judged model's answer.
    pub model: &'a str,
}

/// RM `rm`'s scores of (baseline, model) answers, in one call per side.
fn scores(pool: &mut RmPool, rm: usize, pairs: &[AnswerPair<'_>]) -> Result<Vec<(f32, f32)>> {
    let item = |question: &str, answer: &str| ScoreItem::single_turn(question, answer);
    let baseline: Vec<ScoreItem> = pairs.iter().map(|p| item(p.question, p.baseline)).collect();
    let model: Vec<ScoreItem> = pairs.iter().map(|p| item(p.question, p.model)).collect();
    let a = pool.score(rm, &baseline)?;
    let b = pool.score(rm, &model)?;
    Ok(a.into_iter().zip(b).collect())
}

/// Arena-Hard judgments of `model_name` against the baseline by RM `rm`.
pub fn arena_hard_judgments(
    pool: &mut RmPool,
    rm: usize,
    model_name: &str,
    pairs: &[AnswerPair<'_>],
    scale: VerdictScale,
) -> Result<Vec<Judgment>> {
    Ok(scores(pool, rm, pairs)?
        .into_iter()
        .map(|(baseline, model)| {
            let margin = model - baseline;
            let (game1, game2) = if margin.abs() <= scale.tie_eps {
                ("A=B", "A=B")
            } else if margin > scale.strong_margin {
                ("B>>A", "A>>B")
            } else if margin > 0.0 {
                ("B>A", "A>B")
            } else if -margin > scale.strong_margin {
                ("A>>B", "B>>A")
            } else {
                ("A>B", "B>A")
            };
            Judgment {
                model: model_name.into(),
                game1: Some(game1.into()),
                game2: Some(game2.into()),
            }
        })
        .collect())
}

/// AlpacaEval preferences (in [1, 2]) of the model's outputs over the baseline's by RM `rm`.
pub fn alpaca_eval_preferences(
    pool: &mut RmPool,
    rm: usize,
    pairs: &[AnswerPair<'_>],
    scale: VerdictScale,
) -> Result<Vec<f64>> {
    Ok(scores(pool, rm, pairs)?
        .into_iter()
        .map(|(baseline, model)| {
            let margin = f64::from(model - baseline);
            if margin.abs() <= f64::from(scale.tie_eps) {
                1.5
            } else {
                1.0 + 1.0 / (1.0 + (-margin / f64::from(scale.temperature)).exp())
            }
        })
        .collect())
}
