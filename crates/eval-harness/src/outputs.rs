//! Model outputs in the official tools' input formats, so users can cross-check our numbers
//! with alpaca_eval, arena-hard-auto and FastChat:
//! - AlpacaEval `model_outputs.json`: a JSON array of `{instruction, output, generator,
//!   dataset}` ([`AlpacaEvalItem`]);
//! - Arena-Hard v2 `model_answer/<model>.jsonl`: `{uid, ans_id, model, messages, tstamp,
//!   metadata}` with the answer as `{"answer": …}` and the markdown statistics its style
//!   control reads ([`arena_hard_answer`]);
//! - FastChat MT-Bench `model_answer/<model>.jsonl` ([`MtBenchAnswer`]) and single-answer
//!   judgments `model_judgment/<judge>_single.jsonl` ([`MtBenchJudgmentRecord`]).

use std::sync::LazyLock;
use std::time::{SystemTime, UNIX_EPOCH};

use regex::Regex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use crate::data::AlpacaEvalItem;

/// Seconds since the Unix epoch, as the official files stamp records.
pub fn timestamp() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A file-name-safe form of a model or judge name (path separators, spaces and colons
/// become `_`), as the answer and judgment files are named.
pub fn file_safe(name: &str) -> String {
    name.replace(['/', '\\', ' ', ':'], "_")
}

/// One FastChat MT-Bench answer line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MtBenchAnswer {
    /// The question.
    pub question_id: u32,
    /// An id of this answer (`<model>-<question>`; FastChat uses a random id).
    pub answer_id: String,
    /// The answering model.
    pub model_id: String,
    /// One choice holding the answers to both turns.
    pub choices: Vec<AnswerChoice>,
    /// When it was written.
    #[serde(default)]
    pub tstamp: f64,
}

/// The answers of one choice, turn by turn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnswerChoice {
    /// 0.
    pub index: usize,
    /// One answer per user turn.
    pub turns: Vec<String>,
}

impl MtBenchAnswer {
    /// `model`'s answers to question `question_id`.
    pub fn new(question_id: u32, model: &str, turns: Vec<String>) -> Self {
        Self {
            question_id,
            answer_id: format!("{model}-{question_id}"),
            model_id: model.into(),
            choices: vec![AnswerChoice { index: 0, turns }],
            tstamp: timestamp(),
        }
    }
}

/// Reads a FastChat answer file (ours, or `reference_answer/gpt-4.jsonl`).
pub fn read_mt_bench_answers(path: &std::path::Path) -> crate::error::Result<Vec<MtBenchAnswer>> {
    Ok(atomic_write::read_jsonl(path)?)
}

/// One FastChat single-answer judgment line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MtBenchJudgmentRecord {
    /// The question.
    pub question_id: u32,
    /// The judged model.
    pub model: String,
    /// (judge model, judge prompt name).
    pub judge: (String, String),
    /// The filled judge prompt.
    pub user_prompt: String,
    /// The judge's reply.
    pub judgment: String,
    /// The parsed rating, −1 when the reply has none.
    pub score: f64,
    /// 1 or 2.
    pub turn: u8,
    /// When it was written.
    pub tstamp: f64,
}

/// An Arena-Hard v2 answer line of `model` to question `uid`.
pub fn arena_hard_answer(
    uid: &str,
    model: &str,
    prompt: &str,
    answer: &str,
    token_len: usize,
) -> Value {
    json!({
        "uid": uid,
        "ans_id": format!("{model}-{uid}"),
        "model": model,
        "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": {"answer": answer}},
        ],
        "tstamp": timestamp(),
        "metadata": markdown_metadata(answer, token_len),
    })
}

static CODE_BLOCK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?s)```.*?```").expect("valid pattern"));
static HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^(#{1,6}) ").expect("valid pattern"));
static ORDERED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*\d+\. ").expect("valid pattern"));
static UNORDERED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?m)^\s*[-*+] ").expect("valid pattern"));
static BOLD_STARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\*\*[^*\n]+\*\*").expect("valid pattern"));
static BOLD_UNDERSCORES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"__[^_\n]+__").expect("valid pattern"));

/// Arena-Hard's answer metadata: the token count and the markdown element counts its style
/// control uses (headers by level, ordered/unordered list items, bold spans), counted
/// outside fenced code blocks.
pub fn markdown_metadata(answer: &str, token_len: usize) -> Value {
    let text = CODE_BLOCK.replace_all(answer, "");
    let mut headers = [0_usize; 6];
    for caps in HEADER.captures_iter(&text) {
        headers[caps[1].len() - 1] += 1;
    }
    json!({
        "token_len": token_len,
        "header_count": {
            "h1": headers[0], "h2": headers[1], "h3": headers[2],
            "h4": headers[3], "h5": headers[4], "h6": headers[5],
        },
        "list_count": {
            "ordered": ORDERED.find_iter(&text).count(),
            "unordered": UNORDERED.find_iter(&text).count(),
        },
        "bold_count": {
            "**": BOLD_STARS.find_iter(&text).count(),
            "__": BOLD_UNDERSCORES.find_iter(&text).count(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ArenaHardAnswer;

    #[test]
    fn arena_hard_answers_read_back_and_count_markdown() {
        let answer = "# Title\n## Part\n1. one\n2. two\n- a\n* b\n**bold** and __also__\n```\n# not a header\n- not a list\n```";
        let line = arena_hard_answer("q1", "smollm2", "Explain.", answer, 42);
        let parsed: ArenaHardAnswer = serde_json::from_value(line.clone()).unwrap();
        assert_eq!(parsed.answer(), Some(answer));
        let meta = &line["metadata"];
        assert_eq!(meta["token_len"], 42);
        assert_eq!(
            (
                meta["header_count"]["h1"].as_u64(),
                meta["header_count"]["h2"].as_u64()
            ),
            (Some(1), Some(1))
        );
        assert_eq!(meta["list_count"]["ordered"], 2);
        assert_eq!(meta["list_count"]["unordered"], 2);
        assert_eq!(
            (
                meta["bold_count"]["**"].as_u64(),
                meta["bold_count"]["__"].as_u64()
            ),
            (Some(1), Some(1))
        );
    }

    #[test]
    fn mt_bench_answers_have_fastchat_fields() {
        let answer = MtBenchAnswer::new(81, "smollm2", vec!["a".into(), "b".into()]);
        let value = serde_json::to_value(&answer).unwrap();
        for key in ["question_id", "answer_id", "model_id", "choices", "tstamp"] {
            assert!(value.get(key).is_some(), "{key}");
        }
        assert_eq!(value["choices"][0]["turns"][1], "b");
    }
}
