//! GSM8K's test set cut into the three disjoint parts a given-world experiment on GSM8K needs
//! (`cargo xtask data gsm8k-split`), after one seeded shuffle (eval-harness `seeded_split`):
//! the first `offline` questions are exactly `eval_harness::data::seeded_sample(docs,
//! offline, seed)`, the sampler `offline-router build-data --task gsm8k --prompts N --seed S`
//! uses, then `train` online training prompts, then `eval` held-out problems.

use std::path::{Path, PathBuf};

use eval_harness::data::{read_gsm8k, seeded_split};
use eval_harness::gsm8k::Gsm8kDoc;
use lm::ChatMessage;
use rlhf_trainer::{Prompt, write_prompts};
use serde::Serialize;

use crate::error::{Error, Result};

/// How many problems go to each part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gsm8kSplitSizes {
    /// Set aside for the offline router's data (not written: build-data samples them).
    pub offline: usize,
    /// Online training prompts.
    pub train: usize,
    /// Held-out evaluation problems.
    pub eval: usize,
}

/// What was written, and the part sizes (printed by the command as one JSON line).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gsm8kSplitFiles {
    /// Problems set aside for the offline router.
    pub offline: usize,
    /// Training prompts written.
    pub train: usize,
    /// Evaluation problems written.
    pub eval: usize,
    /// `train-prompts.jsonl`: a trainer prompts file (the gold solution as `reference`,
    /// category `gsm8k`).
    pub train_prompts: PathBuf,
    /// `eval.jsonl`: the held-out problems in GSM8K's own JSONL (for `eval run --task gsm8k
    /// --data FILE`).
    pub eval_problems: PathBuf,
    /// `eval-prompts.jsonl`: the same problems as a prompts file with references (for the
    /// `[eval]` of a given-world experiment).
    pub eval_prompts: PathBuf,
}

/// Splits the GSM8K JSONL at `data` with `seed` and writes the train and eval parts into
/// `out` (each file whole). Asking for more problems than the file holds is an error.
pub fn split_gsm8k(
    data: &Path,
    sizes: Gsm8kSplitSizes,
    seed: u64,
    out: &Path,
) -> Result<Gsm8kSplitFiles> {
    let docs = read_gsm8k(data)?;
    let needed = sizes.offline + sizes.train + sizes.eval;
    if needed > docs.len() {
        return Err(Error::Config {
            path: data.to_path_buf(),
            reason: format!(
                "holds {} problems; offline + train + eval = {needed}",
                docs.len()
            ),
        });
    }
    let parts = seeded_split(
        docs,
        &[Some(sizes.offline), Some(sizes.train), Some(sizes.eval)],
        seed,
    );
    std::fs::create_dir_all(out).map_err(atomic_write::io_error(out))?;
    let as_prompts = |docs: &[Gsm8kDoc]| -> Vec<Prompt> {
        docs.iter()
            .enumerate()
            .map(|(id, doc)| Prompt {
                id,
                messages: vec![ChatMessage::user(doc.question.clone())],
                category: Some("gsm8k".into()),
                reference: Some(doc.answer.clone()),
            })
            .collect()
    };
    let train_prompts = out.join("train-prompts.jsonl");
    write_prompts(&train_prompts, &as_prompts(&parts[1]))?;
    let eval_prompts = out.join("eval-prompts.jsonl");
    write_prompts(&eval_prompts, &as_prompts(&parts[2]))?;
    let eval_problems = out.join("eval.jsonl");
    atomic_write::write_jsonl(&eval_problems, &parts[2])?;
    Ok(Gsm8kSplitFiles {
        offline: parts[0].len(),
        train: parts[1].len(),
        eval: parts[2].len(),
        train_prompts,
        eval_problems,
        eval_prompts,
    })
}
