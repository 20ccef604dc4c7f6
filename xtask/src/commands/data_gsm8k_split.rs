//! `cargo xtask data gsm8k-split`: GSM8K's test set in three disjoint parts after one seeded
//! shuffle (eval-harness `seeded_split`): the first `--offline` questions are exactly those
//! `offline-router build-data --task gsm8k --prompts N --seed S` samples (same seed, same
//! shuffle), then `--train` online training prompts (written as a trainer prompts file, the
//! gold solution as `reference`, category `gsm8k`), then `--eval` held-out problems (written in
//! GSM8K's own JSONL, for `eval run --task gsm8k --data FILE`, and as a prompts file with
//! references, for the `[eval]` of a given-world experiment).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use eval_harness::data::{read_gsm8k, seeded_split};
use eval_harness::gsm8k::Gsm8kDoc;
use lm::ChatMessage;
use rlhf_trainer::{Prompt, write_prompts};
use serde_json::json;

/// Arguments of `data gsm8k-split`.
#[derive(Debug, Args)]
pub struct Gsm8kSplitArgs {
    /// GSM8K test JSONL (default: the one `cargo xtask assets` fetches).
    #[arg(long, default_value = "assets/data/gsm8k/test.jsonl")]
    data: PathBuf,
    /// Questions reserved for the offline router (its `build-data --prompts`).
    #[arg(long, default_value_t = 50)]
    offline: usize,
    /// Online training prompts.
    #[arg(long, default_value_t = 200)]
    train: usize,
    /// Held-out evaluation problems (`eval run` uses the first `--shots` of them as
    /// few-shot examples).
    #[arg(long, default_value_t = 105)]
    eval: usize,
    /// The shuffle's seed (`build-data --seed`).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Folder for `train-prompts.jsonl`, `eval.jsonl` and `eval-prompts.jsonl`.
    #[arg(long, default_value = "runs/data/gsm8k")]
    out: PathBuf,
}

/// Writes the two files; prints their sizes as one JSON line.
pub fn run(args: &Gsm8kSplitArgs) -> Result<()> {
    let docs =
        read_gsm8k(&args.data).with_context(|| format!("reading {}", args.data.display()))?;
    let needed = args.offline + args.train + args.eval;
    if needed > docs.len() {
        bail!(
            "{} holds {} problems; --offline + --train + --eval = {needed}",
            args.data.display(),
            docs.len()
        );
    }
    let parts = seeded_split(
        docs,
        &[Some(args.offline), Some(args.train), Some(args.eval)],
        args.seed,
    );
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
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
    let train_path = args.out.join("train-prompts.jsonl");
    write_prompts(&train_path, &as_prompts(&parts[1]))?;
    let eval_prompts_path = args.out.join("eval-prompts.jsonl");
    write_prompts(&eval_prompts_path, &as_prompts(&parts[2]))?;
    let eval_path = args.out.join("eval.jsonl");
    let lines: Vec<String> = parts[2]
        .iter()
        .map(serde_json::to_string)
        .collect::<serde_json::Result<_>>()?;
    atomic_write::replace_file(&eval_path, (lines.join("\n") + "\n").as_bytes())?;
    println!(
        "{}",
        json!({
            "offline": parts[0].len(),
            "train": parts[1].len(),
            "eval": parts[2].len(),
            "train_prompts": train_path,
            "eval_problems": eval_path,
            "eval_prompts": eval_prompts_path,
        })
    );
    Ok(())
}
