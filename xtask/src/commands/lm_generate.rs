//! `cargo xtask lm generate`: text from a prompt with a local model.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use lm::{ChatMessage, DeviceSpec, GenerationRequest, SamplingParams, WeightDType};

/// Arguments of `lm generate`.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// A Hugging Face folder (config.json, safetensors, tokenizer.json) or a .gguf file.
    #[arg(long)]
    model: PathBuf,
    /// The prompt text.
    #[arg(long)]
    prompt: String,
    /// Wrap the prompt in the model's chat template as a user turn.
    #[arg(long)]
    chat: bool,
    /// Most new tokens.
    #[arg(long, default_value_t = 64)]
    max_new_tokens: usize,
    /// Sampling temperature; 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f32,
    /// Sample among the k most likely tokens; 0 = all.
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Sample among the most likely tokens holding this much probability.
    #[arg(long, default_value_t = 1.0)]
    top_p: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// `cpu`, `libtorch` or `cuda[:N]` (the last two need a build with `--features tch`).
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Loads the model and tokenizer, generates, prints the text.
pub fn run(args: &GenerateArgs) -> Result<()> {
    let device = args.device.device()?;
    let start = Instant::now();
    let (config, model) = lm::load_causal_lm(&args.model, &device, WeightDType::F32)
        .with_context(|| format!("loading {}", args.model.display()))?;
    let tokenizer = lm::load_tokenizer(&args.model)?;
    eprintln!(
        "loaded {} ({} layers, d = {}) in {:.1} s on {}",
        args.model.display(),
        config.n_layers,
        config.d_model,
        start.elapsed().as_secs_f64(),
        args.device
    );
    let text = if args.chat {
        tokenizer.apply_chat_template(&[ChatMessage::user(&args.prompt)], true)?
    } else {
        args.prompt.clone()
    };
    // A chat template already spells out its special tokens.
    let prompt = tokenizer.encode(&text, !args.chat)?;
    let stop: Vec<u32> = config
        .eos_token_ids
        .iter()
        .copied()
        .chain(tokenizer.eos_id())
        .collect();
    let request = GenerationRequest {
        prompt: prompt.clone(),
        params: SamplingParams {
            max_new_tokens: args.max_new_tokens,
            temperature: args.temperature,
            top_k: args.top_k,
            top_p: args.top_p,
            seed: args.seed,
            stop_token_ids: stop,
            stop_strings: Vec::new(),
        },
    };
    let pad_id = tokenizer.pad_id().unwrap_or(0);
    let start = Instant::now();
    let output = lm::generate(&model, &[request], pad_id, Some(&tokenizer), &device)?.remove(0);
    let seconds = start.elapsed().as_secs_f64();
    println!("{}", output.text.unwrap_or_default());
    eprintln!(
        "{} prompt tokens, {} new tokens in {seconds:.1} s ({:?})",
        prompt.len(),
        output.tokens.len(),
        output.finish_reason
    );
    Ok(())
}
