//! `cargo xtask offline-router build-data --task gsm8k|mmlu --data FILE --out FILE`:
//! verifier-grounded preference pairs (see `offline_router::build`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use eval_harness::data::{read_gsm8k, seeded_sample};
use eval_harness::mmlu::read_mmlu_jsonl;
use indicatif::ProgressStyle;
use lm::{DeviceSpec, WeightDType, load_causal_lm, load_tokenizer};
use offline_router::build::{BuildOptions, Policy, gsm8k_pairs, mmlu_pairs};
use offline_router::{JudgedPair, write_records};

/// Tasks with a checker.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Task {
    /// GSM8K (the gold number after `####`).
    Gsm8k,
    /// MMLU (the right letter).
    Mmlu,
}

/// Arguments of `offline-router build-data`.
#[derive(Debug, Args)]
pub struct BuildDataArgs {
    /// Which task.
    #[arg(long, value_enum)]
    task: Task,
    /// The task's data: GSM8K JSONL, or MMLU JSONL (assets/data/…).
    #[arg(long)]
    data: PathBuf,
    /// Where to write the pairs (TRL JSONL).
    #[arg(long)]
    out: PathBuf,
    /// Questions to use (a seeded sample of the file).
    #[arg(long, default_value_t = 100)]
    prompts: usize,
    /// The policy that answers (HF folder or GGUF); without it, only reference answers and
    /// distractors are candidates.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Policy answers per question.
    #[arg(long, default_value_t = 4)]
    samples: usize,
    /// Sampling temperature.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// Nucleus mass.
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    /// Tokens per answer.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// Requests per generation batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Leave the benchmark's reference answers out of the candidates.
    #[arg(long)]
    no_reference: bool,
    /// Leave MMLU's wrong choices out of the candidates.
    #[arg(long)]
    no_distractors: bool,
    /// Pairs kept per question.
    #[arg(long, default_value_t = 2)]
    max_pairs_per_prompt: usize,
    /// Seeds the question sample, the sampling and the pairing.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `cpu`, `libtorch` or `cuda[:N]`.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Builds and writes the pairs; prints the counts as one JSON line.
pub fn run(args: &BuildDataArgs) -> Result<()> {
    let options = BuildOptions {
        samples: if args.policy.is_some() {
            args.samples
        } else {
            0
        },
        temperature: args.temperature,
        top_p: args.top_p,
        max_new_tokens: args.max_new_tokens,
        seed: args.seed,
        batch_size: args.batch_size,
        reference_answers: !args.no_reference,
        distractors: !args.no_distractors,
        max_pairs_per_prompt: args.max_pairs_per_prompt,
    };
    let device = args.device.device()?;
    let loaded = match &args.policy {
        Some(path) => {
            let (_, model) = load_causal_lm(path, &device, WeightDType::F32)
                .with_context(|| format!("loading the policy {}", path.display()))?;
            Some((model, load_tokenizer(path)?))
        }
        None => None,
    };
    let policy = loaded.as_ref().map(|(model, tokenizer)| Policy {
        model,
        tokenizer,
        device: &device,
    });
    let bar = crate::logging::bar(0);
    bar.set_style(
        ProgressStyle::with_template("sampling [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let (pairs, stats) = match args.task {
        Task::Gsm8k => {
            let docs = read_gsm8k(&args.data)?;
            let docs = seeded_sample(docs, args.prompts, args.seed);
            gsm8k_pairs(&docs, policy.as_ref(), &options, &mut progress)?
        }
        Task::Mmlu => {
            let docs = read_mmlu_jsonl(&args.data)?;
            let docs = seeded_sample(docs, args.prompts, args.seed);
            mmlu_pairs(&docs, policy.as_ref(), &options, &mut progress)?
        }
    };
    bar.finish_and_clear();
    let records: Vec<JudgedPair> = pairs.into_iter().map(JudgedPair::new).collect();
    write_records(&args.out, &records)?;
    eprintln!(
        "{} pairs from {} questions ({} policy answers, {} correct; {} questions without a pair) → {}",
        stats.pairs,
        stats.prompts,
        stats.policy_answers,
        stats.policy_correct,
        stats.prompts_without_pairs,
        args.out.display()
    );
    println!("{}", serde_json::to_string(&stats)?);
    Ok(())
}
