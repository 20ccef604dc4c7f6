//! GSM8K as lm-evaluation-harness's `gsm8k` task scores it, plus a numeric-equivalence column.
//!
//! lm-eval (`lm_eval/tasks/gsm8k/gsm8k.yaml`): the prompt is `"Question: {question}\nAnswer:"`,
//! few-shot examples are `prompt + " " + answer` joined by `"\n\n"`, generation stops at
//! [`STOP_SEQUENCES`]. Two filters pick the answer out of a completion — `strict-match` (the
//! number after `#### `) and `flexible-extract` (the last number-like run) — and
//! `exact_match` compares it with the gold solution after deleting, in order, commas, `$`,
//! everything up to `#### `, and one trailing period, case-insensitively. A completion the
//! filter finds nothing in becomes `[invalid]`, which never matches.
//!
//! `numeric_equivalence` is ours: the strict answer if there is one, else the flexible one,
//! parsed as a number and compared with the gold number (so `18`, `18.0`, `$18` and `18.`
//! all equal 18).

use serde::{Deserialize, Serialize};

pub use answer_check::gsm8k::{
    Gsm8kScore, INVALID, STOP_SEQUENCES, extract_flexible, extract_strict, gold_number, normalize,
    numeric_value, score, truncate_at_stop,
};

use crate::error::{Error, Result};
use crate::stats::MeanStderr;

/// One GSM8K problem, as the data set's JSONL holds it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Gsm8kDoc {
    /// The word problem.
    pub question: String,
    /// The worked solution, ending in `#### N`.
    pub answer: String,
}

/// The prompt for `doc`: each shot as question and solution, then `doc`'s question.
pub fn prompt(doc: &Gsm8kDoc, shots: &[Gsm8kDoc]) -> String {
    let mut text = String::new();
    for shot in shots {
        text.push_str(&question_text(shot));
        text.push(' ');
        text.push_str(&shot.answer);
        text.push_str("\n\n");
    }
    text.push_str(&question_text(doc));
    text
}

fn question_text(doc: &Gsm8kDoc) -> String {
    format!("Question: {}\nAnswer:", doc.question)
}

/// One line of a GSM8K predictions file.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Gsm8kPrediction {
    /// The model's text after the prompt (cut at a stop sequence here if it was not).
    pub completion: String,
    /// The gold GSM8K solution, ending in `#### N`.
    pub answer: String,
}

/// The metrics over a predictions file (keys as `cargo xtask eval score` prints them).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gsm8kMetrics {
    /// Number of predictions.
    pub n: usize,
    /// Mean `exact_match` under `strict-match`.
    pub exact_match_strict: f64,
    /// Its standard error.
    pub exact_match_strict_stderr: f64,
    /// Mean `exact_match` under `flexible-extract`.
    pub exact_match_flexible: f64,
    /// Its standard error.
    pub exact_match_flexible_stderr: f64,
    /// Mean numeric equivalence.
    pub numeric_equivalence: f64,
    /// Its standard error.
    pub numeric_equivalence_stderr: f64,
}

/// Scores every prediction (completions cut at the first stop sequence) and aggregates.
pub fn evaluate(predictions: &[Gsm8kPrediction]) -> Result<Gsm8kMetrics> {
    if predictions.is_empty() {
        return Err(Error::Metric {
            metric: "gsm8k",
            reason: "no predictions".into(),
        });
    }
    let scores: Vec<Gsm8kScore> = predictions
        .iter()
        .map(|p| score(truncate_at_stop(&p.completion), &p.answer))
        .collect();
    let column =
        |f: fn(&Gsm8kScore) -> bool| MeanStderr::of_hits(scores.iter().map(f)).expect("non-empty");
    let strict = column(|s| s.exact_match_strict);
    let flexible = column(|s| s.exact_match_flexible);
    let numeric = column(|s| s.numeric_equivalence);
    Ok(Gsm8kMetrics {
        n: scores.len(),
        exact_match_strict: strict.mean,
        exact_match_strict_stderr: strict.stderr,
        exact_match_flexible: flexible.mean,
        exact_match_flexible_stderr: flexible.stderr,
        numeric_equivalence: numeric.mean,
        numeric_equivalence_stderr: numeric.stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_format() {
        let shot = Gsm8kDoc {
            question: "1+1?".into(),
            answer: "1+1=2\n#### 2".into(),
        };
        let doc = Gsm8kDoc {
            question: "2+2?".into(),
            answer: String::new(),
        };
        assert_eq!(
            prompt(&doc, std::slice::from_ref(&shot)),
            "Question: 1+1?\nAnswer: 1+1=2\n#### 2\n\nQuestion: 2+2?\nAnswer:"
        );
    }
}
