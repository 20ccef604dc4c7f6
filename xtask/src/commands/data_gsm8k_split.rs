//! `cargo xtask data gsm8k-split` (`experiment::split_gsm8k`): GSM8K's test set in three
//! disjoint parts after one seeded shuffle (eval-harness `seeded_split`): the first `--offline` questions are exactly those
//! `offline-router build-data --task gsm8k --prompts N --seed S` samples (same seed, same
//! shuffle), then `--train` online training prompts (written as a trainer prompts file, the
//! gold solution as `reference`, category `gsm8k`), then `--eval` held-out problems (written in
//! GSM8K's own JSONL, for `eval run --task gsm8k --data FILE`, and as a prompts file with
//! references, for the `[eval]` of a given-world experiment).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use experiment::{Gsm8kSplitSizes, split_gsm8k};

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
    let files = split_gsm8k(
        &args.data,
        Gsm8kSplitSizes {
            offline: args.offline,
            train: args.train,
            eval: args.eval,
        },
        args.seed,
        &args.out,
    )?;
    println!("{}", serde_json::to_value(&files)?);
    Ok(())
}
