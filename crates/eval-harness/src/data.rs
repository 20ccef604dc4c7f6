//! Loaders for the benchmark files `cargo xtask assets` fetches (configs/assets.toml), in
//! their public layouts, and the seeded split used where a benchmark lacks a split.

use std::path::Path;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::gsm8k::Gsm8kDoc;
use atomic_write::{read_json, read_jsonl};

/// GSM8K problems from the data set's JSONL (`question`, `answer`).
pub fn read_gsm8k(path: &Path) -> Result<Vec<Gsm8kDoc>> {
    Ok(read_jsonl(path)?)
}

/// One AlpacaEval instruction with the baseline's output (`alpaca_eval_gpt4_baseline.json`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct AlpacaEvalItem {
    /// Source subset (`helpful_base`, `koala`, …); absent in some model_outputs files.
    #[serde(default)]
    pub dataset: String,
    /// The instruction.
    pub instruction: String,
    /// The baseline's output.
    pub output: String,
    /// The baseline's name (`gpt4_1106_preview`).
    pub generator: String,
}

/// The AlpacaEval instructions and baseline outputs (a JSON array).
pub fn read_alpaca_eval(path: &Path) -> Result<Vec<AlpacaEvalItem>> {
    Ok(read_json(path)?)
}

/// One Arena-Hard v2.0 prompt (`question.jsonl`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ArenaHardQuestion {
    /// Question id.
    pub uid: String,
    /// `hard_prompt` or `creative_writing`.
    pub category: String,
    /// Finer category (`coding`, `math`, …).
    #[serde(default)]
    pub subcategory: Option<String>,
    /// The prompt.
    pub prompt: String,
}

/// Arena-Hard prompts.
pub fn read_arena_hard_questions(path: &Path) -> Result<Vec<ArenaHardQuestion>> {
    Ok(read_jsonl(path)?)
}

/// One answer of an Arena-Hard `model_answer/<model>.jsonl` file.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ArenaHardAnswer {
    /// Question id.
    pub uid: String,
    /// The answering model.
    pub model: String,
    /// The conversation, the last message being the answer.
    pub messages: Vec<ArenaHardMessage>,
}

/// A message of an Arena-Hard answer; the assistant's content is `{"answer": …}`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ArenaHardMessage {
    /// `user` or `assistant`.
    pub role: String,
    /// A string (user) or an object with `answer` (assistant).
    pub content: serde_json::Value,
}

impl ArenaHardAnswer {
    /// The answer text (the last assistant message's `answer`, or its plain content).
    pub fn answer(&self) -> Option<&str> {
        let last = self.messages.iter().rev().find(|m| m.role == "assistant")?;
        match &last.content {
            serde_json::Value::String(text) => Some(text),
            other => other.get("answer")?.as_str(),
        }
    }
}

/// Arena-Hard model answers.
pub fn read_arena_hard_answers(path: &Path) -> Result<Vec<ArenaHardAnswer>> {
    Ok(read_jsonl(path)?)
}

/// One MT-Bench question (`question.jsonl`): two user turns.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct MtBenchQuestion {
    /// Question id (81–160).
    pub question_id: u32,
    /// One of eight categories.
    pub category: String,
    /// The two user turns.
    pub turns: Vec<String>,
}

/// MT-Bench questions.
pub fn read_mt_bench_questions(path: &Path) -> Result<Vec<MtBenchQuestion>> {
    Ok(read_jsonl(path)?)
}

/// A FastChat judge prompt (`judge_prompts.jsonl`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct JudgePrompt {
    /// `single-v1`, `single-math-v1`, `pair-v2`, … (`-multi-turn` variants for turn 2).
    pub name: String,
    /// `single` or `pairwise`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The judge's system prompt.
    pub system_prompt: String,
    /// The user prompt with `{question}`, `{answer}`, `{ref_answer_1}`, … fields.
    pub prompt_template: String,
    /// How the verdict is written (`[[rating]]`, `[[A]]`).
    pub output_format: String,
}

/// FastChat's judge prompts.
pub fn read_judge_prompts(path: &Path) -> Result<Vec<JudgePrompt>> {
    Ok(read_jsonl(path)?)
}

/// The first `n` items (all when there are fewer) of the seeded shuffle [`seeded_split`]
/// makes: the one question sampler of the workspace. `offline-router build-data --prompts N
/// --seed S` takes its questions with it, and `data gsm8k-split` cuts its offline part first
/// from the same shuffle, so the two name the same questions for the same seed.
pub fn seeded_sample<T>(items: Vec<T>, n: usize, seed: u64) -> Vec<T> {
    let n = n.min(items.len());
    seeded_split(items, &[Some(n)], seed)
        .into_iter()
        .next()
        .unwrap_or_default()
}

/// Splits `items` into consecutive parts of the given sizes after a seeded shuffle
/// (ChaCha8); a size of `None` takes the rest. Deterministic for a seed, on every machine.
///
/// # Panics
/// If the sizes add up to more than `items.len()` (a caller's mistake).
pub fn seeded_split<T>(mut items: Vec<T>, sizes: &[Option<usize>], seed: u64) -> Vec<Vec<T>> {
    items.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let fixed: usize = sizes.iter().flatten().sum();
    assert!(
        fixed <= items.len(),
        "split sizes {fixed} > {} items",
        items.len()
    );
    let mut rest = items.len() - fixed;
    let mut parts = Vec::with_capacity(sizes.len());
    for size in sizes {
        let n = size.unwrap_or_else(|| std::mem::take(&mut rest));
        let tail = items.split_off(n.min(items.len()));
        parts.push(std::mem::replace(&mut items, tail));
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_is_the_first_part_of_any_split_with_the_same_seed() {
        let items: Vec<u32> = (0..50).collect();
        for (seed, n) in [(0, 7), (3, 20), (11, 50), (5, 0)] {
            let sample = seeded_sample(items.clone(), n, seed);
            assert_eq!(sample.len(), n);
            for rest in [vec![None], vec![Some(10.min(50 - n)), None]] {
                let sizes: Vec<Option<usize>> = std::iter::once(Some(n)).chain(rest).collect();
                let parts = seeded_split(items.clone(), &sizes, seed);
                assert_eq!(parts[0], sample, "seed {seed}, n {n}");
            }
        }
        assert_eq!(seeded_sample(items.clone(), 80, 1).len(), 50);
        assert_ne!(
            seeded_sample(items.clone(), 7, 0),
            seeded_sample(items, 7, 1)
        );
    }

    #[test]
    fn seeded_split_is_a_partition_and_deterministic() {
        let parts = seeded_split((0..10).collect(), &[Some(3), None, Some(2)], 7);
        assert_eq!(
            parts.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![3, 5, 2]
        );
        let mut all: Vec<i32> = parts.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
        assert_eq!(
            parts,
            seeded_split((0..10).collect(), &[Some(3), None, Some(2)], 7)
        );
        assert_ne!(
            parts,
            seeded_split((0..10).collect(), &[Some(3), None, Some(2)], 8)
        );
    }
}
