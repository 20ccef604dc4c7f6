//! `cargo xtask eval run`: generate or score with a model from the `lm` crate, then compute
//! the benchmark's metrics; the predictions and metrics are saved side by side.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use eval_harness::run::{LanguageModel, run_gsm8k, run_mmlu};
use eval_harness::{data, gsm8k, mmlu};
use indicatif::{ProgressBar, ProgressStyle};
use lm::{DeviceSpec, Gguf, Tokenizer, WeightDType, is_gguf, load_causal_lm};
use serde::Serialize;

/// A benchmark `eval run` can drive with a local model.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RunTask {
    /// GSM8K test problems, greedy generation, lm-eval's exact match.
    Gsm8k,
    /// MMLU test questions, log-likelihood of each answer letter.
    Mmlu,
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
    /// Evaluate only the first N questions (after the few-shot examples are set aside).
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
    /// The benchmark file; default: the one `cargo xtask assets` fetches.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Where predictions.jsonl and metrics.json go; default `runs/eval/<task>-<model name>`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// `cpu`, `libtorch` or `cuda[:N]` (the last two need `--features tch`).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Runs the benchmark and prints its metrics as one JSON line last.
pub fn run(args: &RunArgs) -> Result<()> {
    let device = args.device.device()?;
    let (_, model) = load_causal_lm(&args.model, &device, WeightDType::F32)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let tokenizer = if is_gguf(&args.model) {
        Tokenizer::from_gguf(&Gguf::open(&args.model)?)?
    } else {
        Tokenizer::from_hf_dir(&args.model)?
    };
    let lm = LanguageModel {
        model: &model,
        tokenizer: &tokenizer,
        device: &device,
    };
    let model_name = args
        .model
        .file_stem()
        .map_or_else(|| "model".into(), |s| s.to_string_lossy().into_owned());
    let task_name = format!("{:?}", args.task).to_lowercase();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs/eval").join(format!("{task_name}-{model_name}")));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let metrics = match args.task {
        RunTask::Gsm8k => {
            let path = args
                .data
                .clone()
                .unwrap_or_else(|| "assets/data/gsm8k/test.jsonl".into());
            let mut docs = data::read_gsm8k(&path)?;
            let rest = docs.split_off(args.shots.min(docs.len()));
            let (shots, docs) = (docs, limited(rest, args.limit));
            let bar = progress_bar(docs.len(), "gsm8k");
            let predictions = run_gsm8k(
                &lm,
                &docs,
                &shots,
                args.batch_size,
                args.max_new_tokens,
                &mut |done| bar.set_position(done as u64),
            )?;
            bar.finish();
            write_jsonl(&out.join("predictions.jsonl"), &predictions)?;
            serde_json::to_value(gsm8k::evaluate(&predictions)?)?
        }
        RunTask::Mmlu => {
            let path = args
                .data
                .clone()
                .unwrap_or_else(|| "assets/data/mmlu/mmlu.jsonl".into());
            let (shots, docs) = mmlu::split_shots(mmlu::read_mmlu_jsonl(&path)?, args.shots);
            let docs = limited(docs, args.limit);
            let bar = progress_bar(docs.len(), "mmlu");
            let predictions = run_mmlu(&lm, &docs, &shots, args.batch_size, &mut |done| {
                bar.set_position(done as u64)
            })?;
            bar.finish();
            write_jsonl(&out.join("predictions.jsonl"), &predictions)?;
            serde_json::to_value(mmlu::evaluate(&predictions)?)?
        }
    };
    write_atomically(
        &out.join("metrics.json"),
        serde_json::to_string_pretty(&metrics)?.as_bytes(),
    )?;
    eprintln!("wrote {}", out.display());
    println!("{metrics}");
    Ok(())
}

fn limited<T>(mut items: Vec<T>, limit: Option<usize>) -> Vec<T> {
    if let Some(limit) = limit {
        items.truncate(limit);
    }
    items
}

fn progress_bar(len: usize, task: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(task.to_string());
    bar
}

fn write_jsonl<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut text = Vec::new();
    for row in rows {
        serde_json::to_writer(&mut text, row)?;
        text.push(b'\n');
    }
    write_atomically(path, &text)
}

/// Writes through a temporary file in the same folder, then renames.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::NamedTempFile::new_in(dir)?;
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
