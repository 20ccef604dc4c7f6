//! `cargo xtask eval run`: generate or score with a model from the `lm` crate, then compute
//! the benchmark's metrics; the predictions and metrics are saved side by side.
//!
//! GSM8K and MMLU are scored here. AlpacaEval, Arena-Hard and MT-Bench answers are generated
//! through the model's chat template and written in the official tools' input formats;
//! when `--judge` names a local model or an OpenAI-compatible endpoint they are also judged
//! with the official protocols and prompts (MT-Bench: FastChat single-answer grading;
//! AlpacaEval 2: `weighted_alpaca_eval_gpt4_turbo`; Arena-Hard v2: two games per question,
//! see `eval judge`), and the metrics are computed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use eval_harness::Progress;
use eval_harness::benchmark::{BenchmarkRun, MmluScoring};
use eval_harness::run::LanguageModel;
use lm::{DeviceSpec, WeightDType, load_causal_lm, load_tokenizer};

use super::eval_common::{JudgeArgs, StageBars};
use super::eval_judge::{ALPACA_BASELINE, ALPACA_TEMPLATE, ARENA_DIR};

/// Most tokens of a generative MMLU answer (a letter, perhaps with its text).
const MMLU_GENERATIVE_MAX_TOKENS: usize = 16;

/// A benchmark `eval run` can drive with a local model.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RunTask {
    /// GSM8K test problems, greedy generation, lm-eval's exact match.
    Gsm8k,
    /// MMLU test questions, log-likelihood of each answer letter (or, with `--generative`,
    /// greedy text whose letter is extracted).
    Mmlu,
    /// AlpacaEval instructions: answers written as alpaca_eval's model_outputs.json.
    AlpacaEval,
    /// Arena-Hard v2 prompts: answers written as arena-hard-auto's model_answer jsonl.
    ArenaHard,
    /// MT-Bench: two-turn answers as FastChat's model_answer jsonl, judged with `--judge`.
    MtBench,
}

/// Arguments of `eval run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Which benchmark.
    #[arg(long, value_enum)]
    task: RunTask,
    /// A Hugging Face folder or a .gguf file.
    #[arg(long)]
    model: PathBuf,
    /// Evaluate only the first N questions (after the few-shot examples are set aside);
    /// for MMLU the first N of every subject, as lm-eval's `--limit` does.
    #[arg(long)]
    limit: Option<usize>,
    /// Few-shot examples: GSM8K takes the first K problems of the file (not evaluated; the
    /// train split lm-eval samples from does not exist here), MMLU the first K questions
    /// of each subject.
    #[arg(long, default_value_t = 5)]
    shots: usize,
    /// Prompts per forward batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// GSM8K: most generated tokens per problem (lm-eval's default).
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// The benchmark file (GSM8K, MMLU, AlpacaEval) or folder (Arena-Hard v2.0, MT-Bench);
    /// default: the one `cargo xtask assets` fetches.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where predictions.jsonl and metrics.json go; default `runs/eval/<task>-<model name>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// `cpu`, `libtorch` or `cuda[:N]` (the last two need `--features tch`).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// MMLU: generate the answer and extract its letter instead of comparing the four
    /// letters' log-likelihoods.
    #[arg(long)]
    generative: bool,
    /// MMLU generative: send the prompt through the model's chat template as a user turn.
    #[arg(long)]
    chat: bool,
    /// The judge of MT-Bench, AlpacaEval and Arena-Hard answers (none: answers only).
    #[command(flatten)]
    judge: JudgeArgs,
}

/// Runs the benchmark and prints its metrics as one JSON line last.
pub fn run(args: &RunArgs) -> Result<()> {
    let device = args.device.device()?;
    let (config, model) = load_causal_lm(&args.model, &device, WeightDType::F32)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let tokenizer = load_tokenizer(&args.model)?;
    let model_name = args
        .model
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let task_name = args
        .task
        .to_possible_value()
        .map_or_else(|| "task".into(), |v| v.get_name().to_string());
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs/eval").join(format!("{task_name}-{model_name}")));
    let run = BenchmarkRun {
        lm: LanguageModel {
            model: &model,
            tokenizer: &tokenizer,
            device: &device,
            max_length: config.max_positions,
        },
        model_name,
        batch_size: args.batch_size,
        max_new_tokens: args.max_new_tokens,
        out: out.clone(),
    };
    let judge = args
        .judge
        .spec()
        .map(|spec| spec.open(&device))
        .transpose()?;
    let judge = judge.as_deref();
    let data = |default: &str| args.data.clone().unwrap_or_else(|| default.into());
    let mut bars = StageBars::default();
    let on_progress = &mut |p: Progress<'_>| bars.report(p);
    let metrics = match args.task {
        RunTask::Gsm8k => serde_json::to_value(run.gsm8k(
            &data("assets/data/gsm8k/test.jsonl"),
            args.shots,
            args.limit,
            on_progress,
        )?)?,
        RunTask::Mmlu => {
            let scoring = if args.generative {
                MmluScoring::Generative {
                    max_new_tokens: args.max_new_tokens.min(MMLU_GENERATIVE_MAX_TOKENS),
                    chat: args.chat,
                }
            } else {
                MmluScoring::LogLikelihood
            };
            serde_json::to_value(run.mmlu(
                &data("assets/data/mmlu/mmlu.jsonl"),
                args.shots,
                args.limit,
                scoring,
                on_progress,
            )?)?
        }
        RunTask::AlpacaEval => serde_json::to_value(run.alpaca_eval(
            &data(ALPACA_BASELINE),
            Path::new(ALPACA_TEMPLATE),
            judge,
            args.limit,
            on_progress,
        )?)?,
        RunTask::ArenaHard => serde_json::to_value(run.arena_hard(
            &data(ARENA_DIR),
            judge,
            args.limit,
            on_progress,
        )?)?,
        RunTask::MtBench => serde_json::to_value(run.mt_bench(
            &data("assets/data/mt_bench"),
            judge,
            args.limit,
            on_progress,
        )?)?,
    };
    bars.finish();
    atomic_write::write_json_pretty(&out.join("metrics.json"), &metrics)?;
    eprintln!("wrote {}", out.display());
    println!("{metrics}");
    Ok(())
}
