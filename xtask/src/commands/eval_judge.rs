//! `cargo xtask eval judge`: pairwise judging of a model's AlpacaEval outputs or Arena-Hard
//! answers against the benchmark's baselines, by an LLM judge with the official protocol and
//! prompts or by an RM of a pool (`eval_harness::judge::pairwise`); writes the judgments in
//! the official tools' layouts and prints the metrics as one JSON line last.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use eval_harness::judge::pairwise::{PairwiseJudge, judge_alpaca_eval, judge_arena_hard};
use eval_harness::outputs::file_safe;
use eval_harness::{Progress, data};
use lm::DeviceSpec;
use rm_pool::RmPool;

use super::eval_common::{JudgeArgs, StageBars, limited};

/// A pairwise benchmark.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PairwiseTask {
    /// model_outputs.json (alpaca_eval's layout) against the gpt4_1106_preview baseline:
    /// annotations.json, raw and length-controlled win rates.
    AlpacaEval,
    /// `model_answer/<model>.jsonl` (arena-hard-auto's layout) against the per-category
    /// baselines: `model_judgment/<judge>/<model>.jsonl` and the v2 score.
    ArenaHard,
}

/// Arguments of `eval judge`.
#[derive(Debug, Args)]
pub struct EvalJudgeArgs {
    /// Which benchmark.
    #[arg(long, value_enum)]
    task: PairwiseTask,
    /// The model's outputs (AlpacaEval) or answers (Arena-Hard).
    #[arg(long)]
    answers: PathBuf,
    #[command(flatten)]
    judge: JudgeArgs,
    /// Judge with an RM instead: the pool's config file (with `--rm`).
    #[arg(long, requires = "rm", conflicts_with = "judge")]
    rm_pool: Option<PathBuf>,
    /// The RM's name in `--rm-pool`.
    #[arg(long, requires = "rm_pool")]
    rm: Option<String>,
    /// Judge only the first N outputs.
    #[arg(long)]
    limit: Option<usize>,
    /// Where judgments and metrics go; default: the answers' folder.
    #[arg(long)]
    out: Option<PathBuf>,
    /// `cpu`, `libtorch` or `cuda[:N]` for a local judge.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// The AlpacaEval baseline outputs `cargo xtask assets` fetches.
pub const ALPACA_BASELINE: &str = "assets/data/alpaca_eval/alpaca_eval_gpt4_baseline.json";
/// alpaca_eval's annotator template `cargo xtask assets` fetches.
pub const ALPACA_TEMPLATE: &str = "assets/data/alpaca_eval/alpaca_eval_clf.txt";
/// The Arena-Hard v2.0 folder `cargo xtask assets` fills.
pub const ARENA_DIR: &str = "assets/data/arena-hard-v2.0";

/// Runs `eval judge`.
pub fn run(args: &EvalJudgeArgs) -> Result<()> {
    let device = args.device.device()?;
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let parent = args.answers.parent().unwrap_or(Path::new("."));
            // Arena-Hard answers live in <run>/model_answer/; judgments go beside that.
            match args.task {
                PairwiseTask::ArenaHard if parent.ends_with("model_answer") => {
                    parent.parent().unwrap_or(Path::new(".")).to_path_buf()
                }
                _ => parent.to_path_buf(),
            }
        }
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let llm = args
        .judge
        .spec()
        .map(|spec| spec.open(&device))
        .transpose()?;
    let mut pool;
    let mut judge = match (&llm, &args.rm_pool, &args.rm) {
        (Some(llm), _, _) => PairwiseJudge::Llm(llm.as_ref()),
        (None, Some(config), Some(name)) => {
            pool = RmPool::from_config_file(config)
                .with_context(|| format!("loading the RM pool {}", config.display()))?;
            let rm = pool
                .index_of(name)
                .with_context(|| format!("{} has no RM named {name:?}", config.display()))?;
            PairwiseJudge::Rm {
                pool: &mut pool,
                rm,
                name: name.clone(),
            }
        }
        _ => bail!("give a judge: --judge MODEL|URL, or --rm-pool FILE with --rm NAME"),
    };
    let mut bars = StageBars::default();
    let mut on_progress = |p: Progress<'_>| bars.report(p);
    let metrics = match args.task {
        PairwiseTask::AlpacaEval => {
            let outputs = limited(data::read_alpaca_eval(&args.answers)?, args.limit);
            serde_json::to_value(judge_alpaca_eval(
                &mut judge,
                &outputs,
                Path::new(ALPACA_BASELINE),
                Path::new(ALPACA_TEMPLATE),
                &out,
                &mut on_progress,
            )?)?
        }
        PairwiseTask::ArenaHard => {
            let answers = limited(data::read_arena_hard_answers(&args.answers)?, args.limit);
            serde_json::to_value(judge_arena_hard(
                &mut judge,
                &answers,
                Path::new(ARENA_DIR),
                &out,
                &mut on_progress,
            )?)?
        }
    };
    atomic_write::write_json_pretty(
        &out.join(format!("metrics-{}.json", file_safe(&judge.name()))),
        &metrics,
    )?;
    eprintln!("wrote {}", out.display());
    println!("{metrics}");
    Ok(())
}
