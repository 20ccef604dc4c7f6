//! `cargo xtask lm bench`: the policy's hot paths — prefill, cached decoding and a
//! DPO-shaped training step — timed here and, in the same run, in Hugging Face transformers
//! (benches/lm_bench_hf.py) on the same machine, reported as ratios.
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

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::optim::GradientsParams;
use burn::prelude::*;
use clap::{Args, ValueEnum};
use lm::{
    CausalLm, DeviceSpec, GenerationRequest, HfDecoderConfig, Optimizer, OptimizerConfig,
    PaddingSide, SamplingParams, StepOutcome, TokenBatch, WeightDType, load_causal_lm,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rlhf_trainer::{TokenPair, dpo_loss};
use serde_json::{Map, Value, json};

/// DPO's β (TRL's default).
const DPO_BETA: f64 = 0.1;
/// Learning rate of the timed update (its value does not change the cost).
const LEARNING_RATE: f64 = 1e-6;

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
    if args.batch == 0 || args.new_tokens == 0 || args.prompt_len == 0 || args.repeats == 0 {
        bail!("--batch, --new-tokens, --prompt-len and --repeats must be at least 1");
    }
    let dtype = match args.dtype {
        BenchDType::F32 => WeightDType::F32,
        BenchDType::Bf16 => WeightDType::BF16,
    };
    let device = args.device.device()?;
    let random_folder = random_weights_folder(&args.model)?;
    let model_path = match &random_folder {
        Some(dir) => dir.path().to_path_buf(),
        None => args.model.clone(),
    };
    let (config, model) = load_causal_lm(&model_path, &device, dtype)
        .with_context(|| format!("loading {}", model_path.display()))?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let vocab = config.vocab_size as u32;
    let mut random_ids =
        |n: usize| -> Vec<u32> { (0..n).map(|_| rng.random_range(10..vocab - 10)).collect() };
    let prompts: Vec<Vec<u32>> = (0..args.batch)
        .map(|_| random_ids(args.prompt_len))
        .collect();
    let chosen: Vec<Vec<u32>> = (0..args.batch)
        .map(|_| random_ids(args.new_tokens))
        .collect();
    let rejected: Vec<Vec<u32>> = (0..args.batch)
        .map(|_| random_ids(args.new_tokens))
        .collect();

    let prefill_s = median_seconds(args.repeats, || prefill(&model, &prompts, &device))?;
    let generate_s = median_seconds(args.repeats, || {
        decode(&model, &prompts, args.new_tokens, &device)
    })?;
    let decode_s = (generate_s - prefill_s).max(f64::MIN_POSITIVE);
    let mut report = Map::new();
    report.insert("model".into(), json!(args.model.display().to_string()));
    report.insert("device".into(), json!(args.device.to_string()));
    report.insert("cpu".into(), json!(lm::host::cpu_model()));
    report.insert("simd".into(), json!(lm::host::simd_level()));
    report.insert(
        "dtype".into(),
        json!(format!("{:?}", args.dtype).to_lowercase()),
    );
    report.insert("batch".into(), json!(args.batch));
    report.insert("prompt_len".into(), json!(args.prompt_len));
    report.insert("new_tokens".into(), json!(args.new_tokens));
    report.insert(
        "prefill_tokens_per_s".into(),
        json!((args.batch * args.prompt_len) as f64 / prefill_s),
    );
    report.insert(
        "decode_tokens_per_s".into(),
        json!((args.batch * args.new_tokens) as f64 / decode_s),
    );
    if !args.no_dpo {
        let train_device = device.clone().autodiff();
        let (_, mut policy) = load_causal_lm(&model_path, &train_device, dtype)?;
        let pairs: Vec<TokenPair> = prompts
            .iter()
            .zip(&chosen)
            .zip(&rejected)
            .map(|((prompt, chosen), rejected)| TokenPair {
                prompt: prompt.clone(),
                chosen: chosen.clone(),
                rejected: rejected.clone(),
            })
            .collect();
        let mut optimizer = Optimizer::new(OptimizerConfig::default())?;
        let mut phases = Vec::with_capacity(args.repeats + 1);
        for _ in 0..=args.repeats {
            let (next, step_phases) = dpo_step(
                policy,
                &model,
                &pairs,
                &mut optimizer,
                &device,
                &train_device,
            )?;
            policy = next;
            phases.push(step_phases);
        }
        // The first step was the warm-up.
        let timed = &phases[1..];
        let median_of = |phase: fn(&StepPhases) -> f64| {
            median(&mut timed.iter().map(phase).collect::<Vec<_>>())
        };
        let step_s = median_of(|p| p.forward_s + p.backward_s + p.optimizer_s);
        report.insert("dpo_pairs_per_s".into(), json!(args.batch as f64 / step_s));
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
    }
    // A failed baseline does not lose our figures: they are printed, then the error.
    let mut baseline_error = None;
    if let Some(python) = &args.baseline_python {
        let hf = match run_baseline(python, &model_path, args) {
            Ok(hf) => hf,
            Err(err) => {
                baseline_error = Some(err);
                Map::new()
            }
        };
        for (key, value) in hf {
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
    }
    print_table(&report);
    if args.baseline_python.is_none() {
        eprintln!("{BASELINE_HINT}");
    }
    println!("{}", Value::Object(report));
    match baseline_error {
        Some(err) => Err(err.context("the transformers baseline failed (our figures are above)")),
        None => Ok(()),
    }
}

/// How to get the transformers column, printed when `--baseline-python` is not given.
const BASELINE_HINT: &str = "no transformers baseline in this run; for one, make its venv once \
     (python3 -m venv .venv-bench && .venv-bench/bin/pip install -r benches/requirements-hf.txt) \
     and pass --baseline-python .venv-bench/bin/python";

/// When `path` is a config.json file: a temporary Hugging Face folder holding a model of
/// that shape with burn's default random initialisation.
fn random_weights_folder(path: &Path) -> Result<Option<tempfile::TempDir>> {
    if path.extension().is_none_or(|e| e != "json") {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let config = HfDecoderConfig::from_json(&text)
        .and_then(HfDecoderConfig::into_config)
        .with_context(|| format!("{}", path.display()))?;
    let model = CausalLm::new(&config, &Device::default());
    let dir = tempfile::tempdir()?;
    lm::save_pretrained(dir.path(), &model, &config, None)?;
    eprintln!(
        "random {} model in {}",
        path.display(),
        dir.path().display()
    );
    Ok(Some(dir))
}

/// The median of `values` (not empty).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median wall time of `repeats` calls of `run`, after one untimed warm-up call.
fn median_seconds(repeats: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
    run()?;
    let mut times = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let start = Instant::now();
        run()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(median(&mut times))
}

/// One forward over the prompts, keeping the last position's logits (read back, so the
/// work is done when this returns).
fn prefill(model: &CausalLm, prompts: &[Vec<u32>], device: &Device) -> Result<()> {
    let batch = TokenBatch::new(prompts, 0, PaddingSide::Left, device)?;
    let [_, len] = batch.dims();
    let logits = model.forward_window(&batch, len - 1, len);
    logits.sum().into_scalar::<f32>();
    Ok(())
}

/// Greedy generation of exactly `new_tokens` tokens per prompt.
fn decode(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    new_tokens: usize,
    device: &Device,
) -> Result<()> {
    let requests: Vec<GenerationRequest> = prompts
        .iter()
        .map(|prompt| GenerationRequest {
            prompt: prompt.clone(),
            params: SamplingParams::greedy(new_tokens),
        })
        .collect();
    let outputs = lm::generate(model, &requests, 0, None, device)?;
    if let Some(short) = outputs.iter().find(|o| o.tokens.len() != new_tokens) {
        bail!("generation stopped early ({} tokens)", short.tokens.len());
    }
    Ok(())
}

/// Wall time of each phase of one DPO step, in seconds.
struct StepPhases {
    /// Policy and reference forwards and the loss, up to reading the loss back.
    forward_s: f64,
    /// The backward pass.
    backward_s: f64,
    /// Gradient clipping and the AdamW update.
    optimizer_s: f64,
}

/// One DPO update of `policy` against the frozen `reference`, timing its phases (the
/// device is synchronised at each boundary, so queued kernels count where they belong).
fn dpo_step(
    policy: CausalLm,
    reference: &CausalLm,
    pairs: &[TokenPair],
    optimizer: &mut Optimizer,
    device: &Device,
    train_device: &Device,
) -> Result<(CausalLm, StepPhases)> {
    let sync = || {
        train_device
            .sync()
            .map_err(|e| anyhow::anyhow!("synchronising {train_device:?}: {e:?}"))
    };
    let start = Instant::now();
    let loss = dpo_loss(
        (&policy, train_device),
        (reference, device),
        pairs,
        DPO_BETA,
        0,
    )?
    .loss;
    let loss_value = loss.clone().into_scalar::<f64>();
    if !loss_value.is_finite() {
        bail!("DPO loss is {loss_value}");
    }
    let forward_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let grads = GradientsParams::from_grads(loss.backward(), &policy);
    sync()?;
    let backward_s = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let (policy, outcome) = optimizer.step(policy, grads, LEARNING_RATE);
    sync()?;
    let optimizer_s = start.elapsed().as_secs_f64();
    match outcome {
        StepOutcome::Updated(_) => Ok((
            policy,
            StepPhases {
                forward_s,
                backward_s,
                optimizer_s,
            },
        )),
        other => bail!("DPO step did not update: {other:?}"),
    }
}

/// Runs benches/lm_bench_hf.py with `python` on the same workload; returns its JSON fields.
fn run_baseline(python: &Path, model: &Path, args: &LmBenchArgs) -> Result<Map<String, Value>> {
    // The checkout's script when run from its root (as on a GPU host, where the binary was
    // built elsewhere), else the one beside the sources this binary was built from.
    let script = [
        PathBuf::from("benches/lm_bench_hf.py"),
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/lm_bench_hf.py"),
    ]
    .into_iter()
    .find(|path| path.exists())
    .context("benches/lm_bench_hf.py not found: run from the repository root")?;
    let device = match args.device {
        DeviceSpec::Cuda(index) => format!("cuda:{index}"),
        _ => "cpu".into(),
    };
    let mut command = Command::new(python);
    command
        .arg(&script)
        .arg("--model")
        .arg(model)
        .args(["--batch", &args.batch.to_string()])
        .args(["--new-tokens", &args.new_tokens.to_string()])
        .args(["--prompt-len", &args.prompt_len.to_string()])
        .args(["--repeats", &args.repeats.to_string()])
        .args(["--device", &device])
        .args(["--dtype", &format!("{:?}", args.dtype).to_lowercase()])
        .args(["--seed", &args.seed.to_string()]);
    if args.no_dpo {
        command.arg("--no-dpo");
    }
    eprintln!("running the transformers baseline: {command:?}");
    let output = command
        .output()
        .with_context(|| format!("running {}", python.display()))?;
    if !output.status.success() {
        bail!(
            "{} failed ({}): {}",
            script.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    match serde_json::from_str(last) {
        Ok(Value::Object(fields)) => Ok(fields),
        _ => bail!(
            "{}: last line is not a JSON object: {last:?}",
            script.display()
        ),
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
