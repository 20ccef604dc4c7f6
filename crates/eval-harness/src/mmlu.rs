//! MMLU as lm-evaluation-harness's `mmlu` tasks score it: the log-likelihood of each answer
//! letter after the prompt, accuracy micro-averaged over all questions, with a per-subject
//! table; plus a generative variant that reads the letter out of generated text.
//!
//! lm-eval (`lm_eval/tasks/mmlu/default/_default_template_yaml`): the prompt starts with
//! `"The following are multiple choice questions (with answers) about {subject}.\n\n"`
//! (the subject with `_` as spaces), each question is
//! `"{question.strip()}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:"`, few-shot examples append
//! `" {letter}"` and are joined by `"\n\n"`, and the scored continuations are `" A"` … `" D"`.
//! A question is right when its gold letter has the largest log-likelihood (the first of
//! equal maxima, as `numpy.argmax`).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{Error, Result};
use crate::stats::MeanStderr;

pub use answer_check::mmlu::{LETTERS, extract_letter, letter_index};

/// The continuations whose log-likelihoods are compared.
pub const CONTINUATIONS: [&str; 4] = [" A", " B", " C", " D"];

/// One MMLU question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MmluDoc {
    /// Subject in lm-eval's spelling (`high_school_physics`).
    pub subject: String,
    /// The question.
    pub question: String,
    /// The four choices, A to D.
    pub choices: [String; 4],
    /// Index of the right choice (0 = A).
    pub answer: usize,
}

/// The prompt for `doc` after `shots` (same subject), ending in `"Answer:"`.
pub fn prompt(doc: &MmluDoc, shots: &[MmluDoc]) -> String {
    let mut text = format!(
        "The following are multiple choice questions (with answers) about {}.\n\n",
        doc.subject.replace('_', " ")
    );
    for shot in shots {
        text.push_str(&question_text(shot));
        text.push(' ');
        text.push_str(LETTERS[shot.answer]);
        text.push_str("\n\n");
    }
    text.push_str(&question_text(doc));
    text
}

fn question_text(doc: &MmluDoc) -> String {
    let [a, b, c, d] = &doc.choices;
    format!(
        "{}\nA. {a}\nB. {b}\nC. {c}\nD. {d}\nAnswer:",
        doc.question.trim()
    )
}

/// Reads MMLU questions from the JSONL layout of ASSETS.md (`question`, `answer_a` …
/// `answer_d`, `correct_answer` A–D, `topic`), skipping stray CSV header rows
/// (`correct_answer == "answer"`).
pub fn read_mmlu_jsonl(path: &Path) -> Result<Vec<MmluDoc>> {
    #[derive(Deserialize)]
    struct Row {
        question: String,
        answer_a: String,
        answer_b: String,
        answer_c: String,
        answer_d: String,
        correct_answer: String,
        topic: String,
    }
    let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
    let mut docs = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let record = |reason: String| Error::Record {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let row: Row = serde_json::from_str(line).map_err(|err| record(err.to_string()))?;
        if row.correct_answer == "answer" {
            continue; // a CSV header that leaked into the data
        }
        let answer = letter_index(&row.correct_answer).ok_or_else(|| {
            record(format!(
                "field `correct_answer` is {:?}; expected A, B, C or D",
                row.correct_answer
            ))
        })?;
        docs.push(MmluDoc {
            subject: row.topic,
            question: row.question,
            choices: [row.answer_a, row.answer_b, row.answer_c, row.answer_d],
            answer,
        });
    }
    Ok(docs)
}

/// Reads one subject of the cais/mmlu (Hendrycks) CSV layout: no header, columns
/// question, A, B, C, D, answer letter.
pub fn read_mmlu_csv(path: &Path, subject: &str) -> Result<Vec<MmluDoc>> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .map_err(|err| Error::Record {
            path: path.to_path_buf(),
            line: 0,
            reason: err.to_string(),
        })?;
    let mut docs = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let record = |reason: String| Error::Record {
            path: path.to_path_buf(),
            line: i + 1,
            reason,
        };
        let row = row.map_err(|err| record(err.to_string()))?;
        if row.len() != 6 {
            return Err(record(format!("{} columns; expected 6", row.len())));
        }
        let answer = letter_index(&row[5])
            .ok_or_else(|| record(format!("answer column is {:?}; expected A-D", &row[5])))?;
        docs.push(MmluDoc {
            subject: subject.to_string(),
            question: row[0].to_string(),
            choices: [1, 2, 3, 4].map(|c| row[c].to_string()),
            answer,
        });
    }
    Ok(docs)
}

/// Splits questions into few-shot examples and evaluation questions, per subject: the first
/// `n_shots` questions of each subject (in file order) are its examples and are not
/// evaluated. (lm-eval takes shots from the `dev` split, which the data here lacks; pass a
/// dev file as `shots` to reproduce it exactly.)
pub fn split_shots(
    docs: Vec<MmluDoc>,
    n_shots: usize,
) -> (BTreeMap<String, Vec<MmluDoc>>, Vec<MmluDoc>) {
    let mut shots: BTreeMap<String, Vec<MmluDoc>> = BTreeMap::new();
    let mut eval = Vec::new();
    for doc in docs {
        let examples = shots.entry(doc.subject.clone()).or_default();
        if examples.len() < n_shots {
            examples.push(doc);
        } else {
            eval.push(doc);
        }
    }
    (shots, eval)
}

/// The first `limit` questions of every subject, in file order: what lm-eval's `--limit N`
/// evaluates for MMLU, a group whose every subject is a task of its own (the first N of the
/// whole file would all be one subject's).
pub fn limit_per_subject(docs: Vec<MmluDoc>, limit: usize) -> Vec<MmluDoc> {
    let mut taken: BTreeMap<String, usize> = BTreeMap::new();
    docs.into_iter()
        .filter(|doc| {
            let n = taken.entry(doc.subject.clone()).or_default();
            *n += 1;
            *n <= limit
        })
        .collect()
}

/// Questions per subject, in subject order.
pub fn subject_counts(docs: &[MmluDoc]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for doc in docs {
        *counts.entry(doc.subject.clone()).or_default() += 1;
    }
    counts
}

/// One line of an MMLU predictions file: the subject, the gold answer, and either the four
/// continuations' log-likelihoods (nats) or generated text.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct MmluPrediction {
    /// Subject (for the per-subject table).
    pub subject: String,
    /// Gold letter, `A`–`D`.
    pub gold: String,
    /// Log-likelihoods of `" A"` … `" D"` after the prompt, in nats.
    pub loglikelihoods: Option<[f64; 4]>,
    /// Generated text (the generative variant).
    pub completion: Option<String>,
}

/// Accuracy overall (micro-averaged) and per subject.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MmluMetrics {
    /// Number of questions.
    pub n: usize,
    /// Fraction answered right, over all questions.
    pub acc: f64,
    /// Its standard error.
    pub acc_stderr: f64,
    /// Per subject: (questions, accuracy).
    pub subjects: BTreeMap<String, (usize, f64)>,
}

/// Scores predictions: by log-likelihood where given, else by the letter in the completion
/// (no letter = wrong).
pub fn evaluate(predictions: &[MmluPrediction]) -> Result<MmluMetrics> {
    let mut hits = Vec::with_capacity(predictions.len());
    let mut per_subject: BTreeMap<String, Vec<bool>> = BTreeMap::new();
    for (i, p) in predictions.iter().enumerate() {
        let gold = letter_index(&p.gold).ok_or_else(|| Error::Metric {
            metric: "mmlu",
            reason: format!("prediction {i}: gold {:?} is not A-D", p.gold),
        })?;
        let chosen = match (&p.loglikelihoods, &p.completion) {
            (Some(ll), _) => Some(argmax(ll).ok_or_else(|| Error::Metric {
                metric: "mmlu",
                reason: format!("prediction {i}: a log-likelihood is NaN"),
            })?),
            (None, Some(text)) => extract_letter(text),
            (None, None) => {
                return Err(Error::Metric {
                    metric: "mmlu",
                    reason: format!("prediction {i} has neither loglikelihoods nor completion"),
                });
            }
        };
        let hit = chosen == Some(gold);
        hits.push(hit);
        per_subject.entry(p.subject.clone()).or_default().push(hit);
    }
    let overall = MeanStderr::of_hits(hits.iter().copied()).ok_or(Error::Metric {
        metric: "mmlu",
        reason: "no predictions".into(),
    })?;
    Ok(MmluMetrics {
        n: hits.len(),
        acc: overall.mean,
        acc_stderr: overall.stderr,
        subjects: per_subject
            .into_iter()
            .map(|(subject, hits)| {
                let n = hits.len();
                let acc = hits.iter().filter(|h| **h).count() as f64 / n as f64;
                (subject, (n, acc))
            })
            .collect(),
    })
}

/// Index of the first largest value, `None` if any is NaN.
fn argmax(values: &[f64; 4]) -> Option<usize> {
    if values.iter().any(|v| v.is_nan()) {
        return None;
    }
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(question: &str, answer: usize) -> MmluDoc {
        MmluDoc {
            subject: "high_school_physics".into(),
            question: question.into(),
            choices: ["1".into(), "2".into(), "3".into(), "4".into()],
            answer,
        }
    }

    #[test]
    fn prompt_format() {
        let text = prompt(&doc(" How many? ", 0), &[doc("Which?", 2)]);
        assert_eq!(
            text,
            "The following are multiple choice questions (with answers) about high school physics.\n\n\
             Which?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer: C\n\n\
             How many?\nA. 1\nB. 2\nC. 3\nD. 4\nAnswer:"
        );
    }

    #[test]
    fn the_limit_applies_per_subject_and_covers_every_subject() {
        let of = |subject: &str, question: &str| MmluDoc {
            subject: subject.into(),
            ..doc(question, 0)
        };
        // The file's order: one long subject first, as moral_scenarios comes in MMLU's.
        let mut docs: Vec<MmluDoc> = (0..5)
            .map(|i| of("moral_scenarios", &format!("m{i}")))
            .collect();
        docs.extend((0..3).map(|i| of("anatomy", &format!("a{i}"))));
        docs.push(of("virology", "v0"));
        let limited = limit_per_subject(docs, 2);
        let questions: Vec<&str> = limited.iter().map(|d| d.question.as_str()).collect();
        assert_eq!(questions, ["m0", "m1", "a0", "a1", "v0"]);
        let counts = subject_counts(&limited);
        assert_eq!(counts.len(), 3);
        assert_eq!(counts["moral_scenarios"], 2);
        assert_eq!(counts["virology"], 1);
    }

    #[test]
    fn argmax_takes_the_first_maximum() {
        assert_eq!(argmax(&[-1.0, -0.5, -0.5, -2.0]), Some(1));
        assert_eq!(argmax(&[-1.0, f64::NAN, 0.0, 0.0]), None);
    }

    #[test]
    fn micro_average_and_subjects() {
        let p = |subject: &str, gold: &str, ll: [f64; 4]| MmluPrediction {
            subject: subject.into(),
            gold: gold.into(),
            loglikelihoods: Some(ll),
            completion: None,
        };
        let metrics = evaluate(&[
            p("a", "A", [0.0, -1.0, -1.0, -1.0]),
            p("a", "B", [0.0, -1.0, -1.0, -1.0]),
            p("b", "C", [-3.0, -2.0, -1.0, -4.0]),
        ])
        .unwrap();
        assert_eq!(metrics.n, 3);
        assert!((metrics.acc - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(metrics.subjects["a"], (2, 0.5));
        assert_eq!(metrics.subjects["b"], (1, 1.0));
    }

    #[test]
    fn shots_come_first_per_subject() {
        let mut docs = vec![doc("q0", 0), doc("q1", 1), doc("q2", 2)];
        docs[1].subject = "other".into();
        let (shots, eval) = split_shots(docs, 1);
        assert_eq!(shots["high_school_physics"][0].question, "q0");
        assert_eq!(shots["other"][0].question, "q1");
        assert_eq!(eval.len(), 1);
        assert_eq!(eval[0].question, "q2");
    }
}
