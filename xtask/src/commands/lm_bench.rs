//! `cargo xtask lm bench`: the policy's hot paths beside Hugging Face transformers on the
//! same machine (`routing_benches::lm_bench`, whose docs give the workload); prints the
//! table, then one JSON line.

use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};
use lm::{DeviceSpec, WeightDType};
use routing_benches::lm_bench::{self, BASELINE_HINT, LmBenchConfig};
use serde_json::{Map, Value};

/// Float type of the weights.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BenchDType {
    /// 32-bit floats.
    F32,
    /// bfloat16.
    Bf16,
}

/// Arguments of `lm bench`.
#[derive(Debug, Args)]
pub struct LmBenchArgs {
    /// A Hugging Face folder, a .gguf file, or a config.json file (e.g.
    /// configs/models/smollm2-135m.json): a model of that shape with random weights, saved
    /// to a temporary folder that both sides load (speed does not depend on the values).
    #[arg(long)]
    model: PathBuf,
    /// Prompts per batch (and preference pairs per DPO step).
    #[arg(long, default_value_t = 8)]
    batch: usize,
    /// Generated tokens per prompt (and response tokens per DPO sequence).
    #[arg(long, default_value_t = 32)]
    new_tokens: usize,
    /// Prompt tokens.
    #[arg(long, default_value_t = 64)]
    prompt_len: usize,
    /// Timed runs per measurement (after one warm-up).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// `cpu`, `libtorch` or `cuda[:N]` (the last two need `--features tch`).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
    /// Weight float type.
    #[arg(long, value_enum, default_value_t = BenchDType::F32)]
    dtype: BenchDType,
    /// A Python interpreter with torch and transformers (benches/requirements-hf.txt): runs
    /// benches/lm_bench_hf.py on the same workload and adds the hf_* figures and ratios.
    #[arg(long)]
    baseline_python: Option<PathBuf>,
    /// Skip the DPO step (e.g. for a model too large to train here).
    #[arg(long)]
    no_dpo: bool,
    /// Seed of the random prompts and responses.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs the benchmark and prints the table, then one JSON line.
pub fn run(args: &LmBenchArgs) -> Result<()> {
    let outcome = lm_bench::run(&LmBenchConfig {
        model: args.model.clone(),
        batch: args.batch,
        new_tokens: args.new_tokens,
        prompt_len: args.prompt_len,
        repeats: args.repeats,
        device: args.device,
        dtype: match args.dtype {
            BenchDType::F32 => WeightDType::F32,
            BenchDType::Bf16 => WeightDType::BF16,
        },
        baseline_python: args.baseline_python.clone(),
        no_dpo: args.no_dpo,
        seed: args.seed,
    })?;
    print_table(&outcome.report);
    if args.baseline_python.is_none() {
        eprintln!("{BASELINE_HINT}");
    }
    println!("{}", Value::Object(outcome.report));
    match outcome.baseline_error {
        Some(err) => Err(anyhow::Error::new(err).context("our figures are above")),
        None => Ok(()),
    }
}

/// The figures side by side, on stderr.
fn print_table(report: &Map<String, Value>) {
    let get = |key: &str| report.get(key).and_then(Value::as_f64);
    eprintln!(
        "{:<24} {:>12} {:>14} {:>8}",
        "", "ours", "transformers", "ratio"
    );
    for (label, ours, theirs) in [
        (
            "prefill tokens/s",
            "prefill_tokens_per_s",
            "hf_prefill_tokens_per_s",
        ),
        (
            "decode tokens/s",
            "decode_tokens_per_s",
            "hf_decode_tokens_per_s",
        ),
        ("DPO pairs/s", "dpo_pairs_per_s", "hf_dpo_pairs_per_s"),
        (
            "  forwards + loss ms",
            "dpo_forward_ms",
            "hf_dpo_forward_ms",
        ),
        ("  backward ms", "dpo_backward_ms", "hf_dpo_backward_ms"),
        (
            "  clip + AdamW ms",
            "dpo_optimizer_ms",
            "hf_dpo_optimizer_ms",
        ),
    ] {
        let cell = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
        let ratio = match (get(ours), get(theirs)) {
            (Some(a), Some(b)) => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        eprintln!(
            "{label:<24} {:>12} {:>14} {ratio:>8}",
            cell(get(ours)),
            cell(get(theirs))
        );
    }
}
