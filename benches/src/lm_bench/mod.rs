//! The policy's hot paths — prefill, cached decoding and a DPO-shaped training step — timed
//! here and, in the same run, in Hugging Face transformers (benches/lm_bench_hf.py) on the
//! same machine, reported as ratios (`cargo xtask lm bench` parses its arguments and calls
//! [`run`]).
//!
//! Workload (identical on both sides): `batch` prompts of `prompt_len` random token ids
//! (seeded); prefill = one forward over them keeping the last position's logits; decode =
//! greedy generation of exactly `new_tokens` tokens (no early stop), timed end to end minus
//! the prefill; DPO step = policy log-probabilities of `batch` chosen and `batch` rejected
//! responses of `new_tokens` tokens with backward, the same under a frozen reference, the DPO
//! loss (β = 0.1), global-norm clipping at 1.0 and an AdamW update of every parameter, with
//! its phases (forwards + loss; backward; clipping + AdamW) timed inside each step, the
//! device synchronised at each boundary. Each figure (each phase too) is the median over
//! `repeats` timed runs after one warm-up run.

mod baseline;
mod timing;

use std::path::{Path, PathBuf};

use burn::prelude::*;
use lm::{
    CausalLm, DeviceSpec, HfDecoderConfig, Optimizer, OptimizerConfig, WeightDType, load_causal_lm,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rlhf_trainer::TokenPair;
use serde_json::{Map, Value, json};

use self::baseline::run_baseline;
use self::timing::{StepPhases, decode, dpo_step, median, median_seconds, prefill};

/// DPO's β (TRL's default).
const DPO_BETA: f64 = 0.1;
/// Learning rate of the timed update (its value does not change the cost).
const LEARNING_RATE: f64 = 1e-6;

/// How to get the transformers column, for a caller that ran without `baseline_python`.
pub const BASELINE_HINT: &str = "no transformers baseline in this run; for one, make its venv once \
     (python3 -m venv .venv-bench && .venv-bench/bin/pip install -r benches/requirements-hf.txt) \
     and pass --baseline-python .venv-bench/bin/python";

/// What the benchmark fails with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad settings.
    #[error("{0}")]
    Config(String),
    /// A model file could not be read.
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// Loading or running the model failed.
    #[error(transparent)]
    Lm(#[from] lm::Error),
    /// The DPO objective failed.
    #[error(transparent)]
    Trainer(#[from] rlhf_trainer::Error),
    /// A timed piece did not do the work it should have.
    #[error("{0}")]
    Bench(String),
    /// The transformers baseline failed.
    #[error("the transformers baseline failed: {0}")]
    Baseline(String),
}

/// This module's result.
pub type Result<T> = std::result::Result<T, Error>;

/// One benchmark run.
#[derive(Clone, Debug)]
pub struct LmBenchConfig {
    /// A Hugging Face folder, a .gguf file, or a config.json (a model of that shape with
    /// random weights, saved to a temporary folder both sides load).
    pub model: PathBuf,
    /// Prompts per batch (and preference pairs per DPO step).
    pub batch: usize,
    /// Generated tokens per prompt (and response tokens per DPO sequence).
    pub new_tokens: usize,
    /// Prompt tokens.
    pub prompt_len: usize,
    /// Timed runs per measurement (after one warm-up).
    pub repeats: usize,
    /// Where both sides run.
    pub device: DeviceSpec,
    /// Weight float type (f32 or bf16).
    pub dtype: WeightDType,
    /// A Python with torch and transformers: runs the baseline on the same workload.
    pub baseline_python: Option<PathBuf>,
    /// Skip the DPO step.
    pub no_dpo: bool,
    /// Seed of the random prompts and responses.
    pub seed: u64,
}

/// What a run measured: one flat JSON object (ours, `hf_*` and `*_ratio_vs_hf`), and the
/// baseline's error when it failed (our figures are kept).
#[derive(Debug)]
pub struct LmBenchOutcome {
    /// Every figure, with the machine (CPU model, SIMD level) and the workload.
    pub report: Map<String, Value>,
    /// Why the transformers side has no figures, when it failed.
    pub baseline_error: Option<Error>,
}

/// The name both sides use for `dtype`.
fn dtype_name(dtype: WeightDType) -> &'static str {
    match dtype {
        WeightDType::BF16 => "bf16",
        _ => "f32",
    }
}

/// Runs the benchmark (see the module docs).
pub fn run(config: &LmBenchConfig) -> Result<LmBenchOutcome> {
    if config.batch == 0 || config.new_tokens == 0 || config.prompt_len == 0 || config.repeats == 0
    {
        return Err(Error::Config(
            "batch, new tokens, prompt length and repeats must be at least 1".into(),
        ));
    }
    let device = config.device.device()?;
    let random_folder = random_weights_folder(&config.model)?;
    let model_path = match &random_folder {
        Some(dir) => dir.path().to_path_buf(),
        None => config.model.clone(),
    };
    let (decoder, model) = load_causal_lm(&model_path, &device, config.dtype)?;
    let workload = Workload::random(config, decoder.vocab_size as u32);
    let prefill_s = median_seconds(config.repeats, || {
        prefill(&model, &workload.prompts, &device)
    })?;
    let generate_s = median_seconds(config.repeats, || {
        decode(&model, &workload.prompts, config.new_tokens, &device)
    })?;
    let decode_s = (generate_s - prefill_s).max(f64::MIN_POSITIVE);
    let mut report = Map::new();
    report.insert("model".into(), json!(config.model.display().to_string()));
    report.insert("device".into(), json!(config.device.to_string()));
    report.insert("cpu".into(), json!(lm::cpu::cpu_model()));
    report.insert("simd".into(), json!(lm::cpu::simd_level()));
    report.insert("dtype".into(), json!(dtype_name(config.dtype)));
    report.insert("batch".into(), json!(config.batch));
    report.insert("prompt_len".into(), json!(config.prompt_len));
    report.insert("new_tokens".into(), json!(config.new_tokens));
    report.insert(
        "prefill_tokens_per_s".into(),
        json!((config.batch * config.prompt_len) as f64 / prefill_s),
    );
    report.insert(
        "decode_tokens_per_s".into(),
        json!((config.batch * config.new_tokens) as f64 / decode_s),
    );
    if !config.no_dpo {
        time_dpo_steps(config, &device, &model_path, &model, &workload, &mut report)?;
    }
    // A failed baseline does not lose our figures.
    let baseline_error = match &config.baseline_python {
        Some(python) => add_baseline(python, &model_path, config, &mut report).err(),
        None => None,
    };
    Ok(LmBenchOutcome {
        report,
        baseline_error,
    })
}

/// The seeded random token ids both sides run on.
struct Workload {
    /// `[batch][prompt_len]`.
    prompts: Vec<Vec<u32>>,
    /// `[batch][new_tokens]`.
    chosen: Vec<Vec<u32>>,
    /// `[batch][new_tokens]`.
    rejected: Vec<Vec<u32>>,
}

impl Workload {
    /// Ids drawn uniformly from `10..vocab - 10` (clear of special tokens at either end).
    fn random(config: &LmBenchConfig, vocab: u32) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut random_ids =
            |n: usize| -> Vec<u32> { (0..n).map(|_| rng.random_range(10..vocab - 10)).collect() };
        let mut rows =
            |len: usize| -> Vec<Vec<u32>> { (0..config.batch).map(|_| random_ids(len)).collect() };
        let prompts = rows(config.prompt_len);
        let chosen = rows(config.new_tokens);
        let rejected = rows(config.new_tokens);
        Self {
            prompts,
            chosen,
            rejected,
        }
    }

    /// The preference pairs of a DPO step.
    fn pairs(&self) -> Vec<TokenPair> {
        self.prompts
            .iter()
            .zip(&self.chosen)
            .zip(&self.rejected)
            .map(|((prompt, chosen), rejected)| TokenPair {
                prompt: prompt.clone(),
                chosen: chosen.clone(),
                rejected: rejected.clone(),
            })
            .collect()
    }
}

/// Times `repeats` DPO steps after a warm-up (the policy loaded from `model_path` on
/// `device`'s autodiff twin, `reference` frozen on `device`) and adds their medians to
/// `report`.
fn time_dpo_steps(
    config: &LmBenchConfig,
    device: &Device,
    model_path: &Path,
    reference: &CausalLm,
    workload: &Workload,
    report: &mut Map<String, Value>,
) -> Result<()> {
    let train_device = device.clone().autodiff();
    let (_, mut policy) = load_causal_lm(model_path, &train_device, config.dtype)?;
    let pairs = workload.pairs();
    let mut optimizer = Optimizer::new(OptimizerConfig::default())?;
    let mut phases = Vec::with_capacity(config.repeats + 1);
    for _ in 0..=config.repeats {
        let (next, step_phases) = dpo_step(
            policy,
            reference,
            &pairs,
            &mut optimizer,
            device,
            &train_device,
        )?;
        policy = next;
        phases.push(step_phases);
    }
    // The first step was the warm-up.
    let timed = &phases[1..];
    let median_of =
        |phase: fn(&StepPhases) -> f64| median(&mut timed.iter().map(phase).collect::<Vec<_>>());
    let step_s = median_of(|p| p.forward_s + p.backward_s + p.optimizer_s);
    report.insert(
        "dpo_pairs_per_s".into(),
        json!(config.batch as f64 / step_s),
    );
    report.insert(
        "dpo_forward_ms".into(),
        json!(1e3 * median_of(|p| p.forward_s)),
    );
    report.insert(
        "dpo_backward_ms".into(),
        json!(1e3 * median_of(|p| p.backward_s)),
    );
    report.insert(
        "dpo_optimizer_ms".into(),
        json!(1e3 * median_of(|p| p.optimizer_s)),
    );
    Ok(())
}

/// Runs the transformers baseline and adds its `hf_*` figures and our ratios to `report`.
fn add_baseline(
    python: &Path,
    model_path: &Path,
    config: &LmBenchConfig,
    report: &mut Map<String, Value>,
) -> Result<()> {
    for (key, value) in run_baseline(python, model_path, config)? {
        report.insert(key, value);
    }
    for (ours, theirs, ratio) in [
        (
            "prefill_tokens_per_s",
            "hf_prefill_tokens_per_s",
            "prefill_ratio_vs_hf",
        ),
        (
            "decode_tokens_per_s",
            "hf_decode_tokens_per_s",
            "decode_ratio_vs_hf",
        ),
        ("dpo_pairs_per_s", "hf_dpo_pairs_per_s", "dpo_ratio_vs_hf"),
    ] {
        if let (Some(a), Some(b)) = (
            report.get(ours).and_then(Value::as_f64),
            report.get(theirs).and_then(Value::as_f64),
        ) {
            report.insert(ratio.into(), json!(a / b));
        }
    }
    Ok(())
}

/// When `path` is a config.json file: a temporary Hugging Face folder holding a model of
/// that shape with burn's default random initialisation.
fn random_weights_folder(path: &Path) -> Result<Option<tempfile::TempDir>> {
    if path.extension().is_none_or(|e| e != "json") {
        return Ok(None);
    }
    let text = atomic_write::read_text(path)?;
    let config = HfDecoderConfig::from_json(&text).and_then(HfDecoderConfig::into_config)?;
    let model = CausalLm::new(&config, &Device::default());
    let dir = tempfile::tempdir().map_err(atomic_write::io_error(std::env::temp_dir()))?;
    lm::save_pretrained(dir.path(), &model, &config, None)?;
    tracing::info!(config = %path.display(), folder = %dir.path().display(), "random-weights model");
    Ok(Some(dir))
}
