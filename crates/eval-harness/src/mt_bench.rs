//! MT-Bench single-answer grading as FastChat's `llm_judge` scores it: the judge's rating is
//! the first `[[x]]` in its text (else the first `[x]`); a judgment with neither is a
//! failure (FastChat stores −1) and is left out; turn 1 and turn 2 are averaged separately,
//! and the overall score is the mean over all remaining judgments pooled (not the mean of
//! the two turn means).

use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

static RATING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[\[(\d+\.?\d*)\]\]").expect("valid pattern"));
static RATING_BACKUP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\[(\d+\.?\d*)\]").expect("valid pattern"));

/// The rating in a judge's text, or `None` when it gives none.
pub fn parse_rating(judgment: &str) -> Option<f64> {
    [&*RATING, &*RATING_BACKUP].into_iter().find_map(|pattern| {
        pattern
            .captures(judgment)
            .and_then(|c| c.get(1))
            .and_then(|m| m.as_str().parse::<f64>().ok())
    })
}

/// One judgment line: which turn, and the judge's text (or an already parsed score, with
/// −1 for a failure, as FastChat's judgment files hold it).
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MtBenchJudgment {
    /// The question.
    #[serde(default)]
    pub question_id: Option<serde_json::Value>,
    /// 1 or 2.
    pub turn: u8,
    /// The judge's text.
    #[serde(default)]
    pub judgment: Option<String>,
    /// A parsed score.
    #[serde(default)]
    pub score: Option<f64>,
}

/// Mean scores (1–10 scale).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MtBenchMetrics {
    /// Mean over turn-1 judgments.
    pub turn_1: Option<f64>,
    /// Mean over turn-2 judgments.
    pub turn_2: Option<f64>,
    /// Mean over all judgments.
    pub average: f64,
    /// Judgments used.
    pub n: usize,
    /// Judgments without a rating (left out).
    pub n_failed: usize,
}

/// Averages the ratings of `judgments` (a given score wins over parsing the text).
pub fn evaluate(judgments: &[MtBenchJudgment]) -> Result<MtBenchMetrics> {
    let mut by_turn: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut n_failed = 0;
    for (i, j) in judgments.iter().enumerate() {
        let slot = match j.turn {
            1 | 2 => usize::from(j.turn - 1),
            other => {
                return Err(Error::Metric {
                    metric: "mt-bench",
                    reason: format!("judgment {i}: turn {other}; expected 1 or 2"),
                });
            }
        };
        let rating = match (j.score, &j.judgment) {
            (Some(score), _) => Some(score).filter(|s| *s != -1.0),
            (None, Some(text)) => parse_rating(text),
            (None, None) => None,
        };
        match rating {
            Some(r) => by_turn[slot].push(r),
            None => n_failed += 1,
        }
    }
    let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let all: Vec<f64> = by_turn.concat();
    let average = mean(&all).ok_or(Error::Metric {
        metric: "mt-bench",
        reason: format!("no judgment has a rating ({n_failed} failed)"),
    })?;
    Ok(MtBenchMetrics {
        turn_1: mean(&by_turn[0]),
        turn_2: mean(&by_turn[1]),
        average,
        n: all.len(),
        n_failed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ratings_like_fastchat() {
        assert_eq!(parse_rating("Rating: [[7]]"), Some(7.0));
        assert_eq!(parse_rating("[[8.5]] then [[3]]"), Some(8.5));
        assert_eq!(parse_rating("Rating: [6]"), Some(6.0));
        assert_eq!(parse_rating("[9] but [[4]]"), Some(4.0));
        assert_eq!(parse_rating("seven out of ten"), None);
    }

    #[test]
    fn pools_the_average_and_drops_failures() {
        let j = |turn, text: &str| MtBenchJudgment {
            question_id: None,
            turn,
            judgment: Some(text.into()),
            score: None,
        };
        let metrics = evaluate(&[
            j(1, "[[8]]"),
            j(1, "[[6]]"),
            j(2, "[[4]]"),
            j(2, "no rating"),
        ])
        .unwrap();
        assert_eq!(metrics.turn_1, Some(7.0));
        assert_eq!(metrics.turn_2, Some(4.0));
        assert_eq!(metrics.average, 6.0); // (8 + 6 + 4) / 3, not (7 + 4) / 2
        assert_eq!((metrics.n, metrics.n_failed), (3, 1));
    }
}
