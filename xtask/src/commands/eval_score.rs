//! `cargo xtask eval score`: metrics of a predictions or judgments file, computed as the
//! benchmark's official tool computes them (crates/eval-harness; file layouts in
//! docs/FORMATS.md).

use std::path::PathBuf;

use anyhow::{Context, Result};
use atomic_write::{read_json, read_jsonl};
use clap::{Args, ValueEnum};
use eval_harness::{alpaca_eval, arena_hard, gsm8k, mmlu, mt_bench};
use serde_json::json;

/// A benchmark.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Task {
    /// JSONL of {"completion", "answer"}: lm-eval strict/flexible exact match.
    Gsm8k,
    /// JSONL of {"subject", "gold", "loglikelihoods" | "completion"}: accuracy.
    Mmlu,
    /// alpaca_eval annotations.json: raw and length-controlled win rates.
    AlpacaEval,
    /// JSONL of judgments (arena-hard-auto model_judgment lines), v0.1 scoring:
    /// Bradley–Terry scores with 95% bootstrap intervals.
    ArenaHard,
    /// The same judgments scored as arena-hard-auto v2 does (Arena-Hard v2.0 data).
    ArenaHardV2,
    /// JSONL of FastChat single-answer judgments: turn and overall means.
    MtBench,
}

/// Arguments of `eval score`.
#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Which benchmark.
    #[arg(long, value_enum)]
    task: Task,
    /// The predictions or judgments file.
    #[arg(long)]
    predictions: PathBuf,
    /// AlpacaEval: a JSON array of per-instruction difficulties, in annotation order
    /// (alpaca_eval's hub table); without it the LC fit uses length only.
    #[arg(long)]
    instruction_difficulty: Option<PathBuf>,
    /// Arena-Hard: the bootstrap's seed.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Scores and prints the metrics as one JSON line.
pub fn run(args: &ScoreArgs) -> Result<()> {
    let path = &args.predictions;
    let context = || format!("scoring {}", path.display());
    let metrics = match args.task {
        Task::Gsm8k => {
            let predictions: Vec<gsm8k::Gsm8kPrediction> =
                read_jsonl(path).with_context(context)?;
            json!(gsm8k::evaluate(&predictions).with_context(context)?)
        }
        Task::Mmlu => {
            let predictions: Vec<mmlu::MmluPrediction> = read_jsonl(path).with_context(context)?;
            json!(mmlu::evaluate(&predictions).with_context(context)?)
        }
        Task::AlpacaEval => {
            let annotations: Vec<alpaca_eval::Annotation> =
                read_json(path).with_context(context)?;
            let difficulty: Option<Vec<f64>> = args
                .instruction_difficulty
                .as_deref()
                .map(read_json)
                .transpose()
                .context("reading the instruction difficulties")?;
            json!(alpaca_eval::metrics(&annotations, difficulty.as_deref()).with_context(context)?)
        }
        Task::ArenaHard => {
            let judgments: Vec<arena_hard::Judgment> = read_jsonl(path).with_context(context)?;
            json!(arena_hard::evaluate(&judgments, args.seed).with_context(context)?)
        }
        Task::ArenaHardV2 => {
            let judgments: Vec<arena_hard::Judgment> = read_jsonl(path).with_context(context)?;
            json!(arena_hard::evaluate_v2(&judgments, args.seed).with_context(context)?)
        }
        Task::MtBench => {
            let judgments: Vec<mt_bench::MtBenchJudgment> =
                read_jsonl(path).with_context(context)?;
            json!(mt_bench::evaluate(&judgments).with_context(context)?)
        }
    };
    println!("{metrics}");
    Ok(())
}
