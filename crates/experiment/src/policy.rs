//! The tiny policy: a Llama decoder of the lm crate (the same code as SmolLM2), built from
//! `[policy]`, initialised from the world seed, warm-started by supervised fine-tuning on
//! the SFT split's answers and saved as a Hugging Face folder; and its greedy evaluation on
//! held-out prompts, scored by the suite's verifiers.

use std::collections::BTreeMap;
use std::path::Path;

use answer_check::synthetic;
use burn::module::{Module, ModuleMapper, Param};
use burn::prelude::*;
use lm::{CausalLm, DecoderConfig, GenerationRequest, HfDecoderConfig, SamplingParams, Tokenizer};
use rand::{RngExt, SeedableRng, seq::SliceRandom};
use rand_chacha::ChaCha8Rng;
use synthetic_tasks::Task;

use crate::config::{PolicyConfig, SftConfig};
use crate::error::Result;
use crate::results::DomainScores;

/// Prompts (or pairs) per forward pass when generating or scoring.
pub(crate) const BATCH: usize = 64;

/// The decoder config of `[policy]` over `tokenizer`'s vocabulary, as transformers'
/// `LlamaConfig` would read it.
pub fn decoder_config(policy: &PolicyConfig, tokenizer: &Tokenizer) -> Result<DecoderConfig> {
    let json = serde_json::json!({
        "model_type": "llama",
        "vocab_size": tokenizer.vocab_size(),
        "hidden_size": policy.hidden_size,
        "intermediate_size": policy.intermediate_size,
        "num_hidden_layers": policy.num_hidden_layers,
        "num_attention_heads": policy.num_attention_heads,
        "num_key_value_heads": policy.num_attention_heads,
        "hidden_act": "silu",
        "max_position_embeddings": policy.max_position_embeddings,
        "rms_norm_eps": 1e-5,
        "rope_theta": 10000.0,
        "tie_word_embeddings": true,
        "eos_token_id": tokenizer.eos_id(),
        "pad_token_id": tokenizer.pad_id(),
    });
    Ok(HfDecoderConfig::from_json(&json.to_string())?.into_config()?)
}

/// Replaces every matrix with seeded uniform values of standard deviation `std` (norm
/// weights, the only vectors of a Llama, keep their ones), so that a world seed fixes the
/// initial policy bit for bit.
struct SeededInit {
    rng: ChaCha8Rng,
    std: f32,
}

impl ModuleMapper for SeededInit {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if D < 2 {
            return param;
        }
        let bound = self.std * 3f32.sqrt();
        param.map(|old| {
            let dims = old.dims();
            let n = dims.iter().product();
            let values: Vec<f32> = (0..n)
                .map(|_| self.rng.random_range(-bound..bound))
                .collect();
            let new = Tensor::from_data(TensorData::new(values, dims.to_vec()), &old.device());
            if old.is_require_grad() {
                new.require_grad()
            } else {
                new
            }
        })
    }
}

/// A freshly initialised policy (std 0.02, transformers' `initializer_range`).
pub fn init_policy(config: &DecoderConfig, seed: u64, device: &Device) -> CausalLm {
    CausalLm::new(config, device).map(&mut SeededInit {
        rng: ChaCha8Rng::seed_from_u64(seed),
        std: 0.02,
    })
}

/// The chat-rendered prompt of `task`, tokenized.
pub fn prompt_tokens(tokenizer: &Tokenizer, prompt: &str) -> Result<Vec<u32>> {
    let text = tokenizer.apply_chat_template(&[lm::ChatMessage::user(prompt)], true)?;
    Ok(tokenizer.encode(&text, false)?)
}

/// `text` as a response: its tokens and the end-of-turn token.
pub fn response_tokens(tokenizer: &Tokenizer, text: &str) -> Result<Vec<u32>> {
    let mut ids = tokenizer.encode(text, false)?;
    ids.extend(tokenizer.eos_id());
    Ok(ids)
}

/// Training-example indices drawn epoch by epoch: each pass over `0..n` in a fresh seeded
/// shuffle, so every example is seen once per epoch.
pub(crate) struct Epochs {
    n: usize,
    order: Vec<usize>,
    rng: ChaCha8Rng,
}

impl Epochs {
    /// Epochs over `n` examples, shuffled from `seed`.
    pub(crate) fn new(n: usize, seed: u64) -> Self {
        Self {
            n,
            order: Vec::new(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// The next `size` indices (a batch may straddle two epochs).
    ///
    /// # Panics
    /// When there are no examples (`n` = 0).
    pub(crate) fn next_batch(&mut self, size: usize) -> Vec<usize> {
        assert!(self.n > 0, "Epochs over no examples");
        let mut batch = Vec::with_capacity(size);
        while batch.len() < size {
            if self.order.is_empty() {
                self.order = (0..self.n).collect();
                self.order.shuffle(&mut self.rng);
            }
            batch.extend(self.order.pop());
        }
        batch
    }
}

/// Mean of the first and of the last 10% of `losses` (at least one value each).
pub(crate) fn first_and_last_tenth(losses: &[f64]) -> (f64, f64) {
    let tenth = (losses.len() / 10).max(1).min(losses.len());
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    (
        mean(&losses[..tenth]),
        mean(&losses[losses.len() - tenth..]),
    )
}

/// What supervised fine-tuning reports.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SftReport {
    /// Mean per-token negative log-likelihood of the first and last 10% of updates, nats.
    pub loss_first: f64,
    /// See `loss_first`.
    pub loss_last: f64,
    /// Updates taken.
    pub steps: usize,
}

/// Fine-tunes `model` on the answers of `tasks` (next-token cross-entropy on the response
/// tokens only), AdamW with linear decay; `progress` hears each update.
pub fn supervised_fine_tune(
    model: CausalLm,
    tokenizer: &Tokenizer,
    tasks: &[Task],
    sft: &SftConfig,
    seed: u64,
    device: &Device,
    progress: &mut dyn FnMut(usize),
) -> Result<(CausalLm, SftReport)> {
    let pad = tokenizer.pad_id().unwrap_or(0);
    let examples = tasks
        .iter()
        .map(|t| {
            Ok((
                prompt_tokens(tokenizer, &t.prompt)?,
                response_tokens(tokenizer, &t.answer)?,
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut optimizer = lm::Optimizer::new(lm::OptimizerConfig::default())?;
    let mut epochs = Epochs::new(examples.len(), seed ^ 0x5f7);
    let mut model = model;
    let mut losses = Vec::with_capacity(sft.steps);
    for step in 0..sft.steps {
        let batch: Vec<_> = epochs
            .next_batch(sft.batch_size)
            .into_iter()
            .map(|i| examples[i].clone())
            .collect();
        let logprobs = lm::sequence_logprobs(&model, &batch, pad, device)?;
        let loss = -logprobs.mean.mean();
        losses.push(loss.clone().into_scalar::<f64>());
        let lr = sft.lr * (1.0 - step as f64 / sft.steps as f64);
        model = optimizer.backward_step(model, loss, lr).0;
        progress(step + 1);
    }
    let (loss_first, loss_last) = first_and_last_tenth(&losses);
    let report = SftReport {
        loss_first,
        loss_last,
        steps: losses.len(),
    };
    Ok((model, report))
}

/// How [`sample_responses`] samples.
#[derive(Clone, Copy, Debug)]
pub struct Sampling {
    /// Responses per prompt.
    pub n: usize,
    /// Temperature.
    pub temperature: f32,
    /// Response cap in tokens (the end-of-turn token stops earlier).
    pub max_new_tokens: usize,
    /// Seed of the per-response sampling seeds.
    pub seed: u64,
}

/// Samples `sampling.n` responses per prompt, as texts.
pub fn sample_responses(
    model: &CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[String],
    sampling: Sampling,
    device: &Device,
) -> Result<Vec<Vec<String>>> {
    let n = sampling.n;
    let mut requests = Vec::with_capacity(prompts.len() * n);
    for (p, prompt) in prompts.iter().enumerate() {
        let tokens = prompt_tokens(tokenizer, prompt)?;
        for s in 0..n {
            requests.push(GenerationRequest {
                prompt: tokens.clone(),
                params: SamplingParams {
                    temperature: sampling.temperature,
                    seed: sampling
                        .seed
                        .wrapping_mul(1_000_003)
                        .wrapping_add((p * n + s) as u64),
                    stop_token_ids: tokenizer.eos_id().into_iter().collect(),
                    ..SamplingParams::greedy(sampling.max_new_tokens)
                },
            });
        }
    }
    let texts = generate_texts(model, tokenizer, &requests, device)?;
    Ok(texts.chunks(n).map(<[String]>::to_vec).collect())
}

/// Greedy responses to `prompts`.
pub fn greedy_responses(
    model: &CausalLm,
    tokenizer: &Tokenizer,
    prompts: &[String],
    max_new_tokens: usize,
    device: &Device,
) -> Result<Vec<String>> {
    let requests = prompts
        .iter()
        .map(|prompt| {
            Ok(GenerationRequest {
                prompt: prompt_tokens(tokenizer, prompt)?,
                params: SamplingParams {
                    stop_token_ids: tokenizer.eos_id().into_iter().collect(),
                    ..SamplingParams::greedy(max_new_tokens)
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    generate_texts(model, tokenizer, &requests, device)
}

pub(crate) fn generate_texts(
    model: &CausalLm,
    tokenizer: &Tokenizer,
    requests: &[GenerationRequest],
    device: &Device,
) -> Result<Vec<String>> {
    let pad = tokenizer.pad_id().unwrap_or(0);
    let mut texts = Vec::with_capacity(requests.len());
    for chunk in requests.chunks(BATCH) {
        for generation in lm::generate(model, chunk, pad, Some(tokenizer), device)? {
            texts.push(generation.text.unwrap_or_default().trim().to_string());
        }
    }
    Ok(texts)
}

/// Held-out greedy accuracy of `model` on `tasks`, per domain and overall (the mean over
/// domains, so that each domain weighs the same).
pub fn evaluate(
    model: &CausalLm,
    tokenizer: &Tokenizer,
    tasks: &[Task],
    max_new_tokens: usize,
    device: &Device,
) -> Result<DomainScores> {
    let prompts: Vec<String> = tasks.iter().map(|t| t.prompt.clone()).collect();
    let responses = greedy_responses(model, tokenizer, &prompts, max_new_tokens, device)?;
    let outcomes = tasks.iter().zip(&responses).map(|(task, response)| {
        (
            task.domain.name().to_string(),
            synthetic::is_correct(task.domain, response, &task.answer),
        )
    });
    Ok(domain_scores(outcomes))
}

/// Per-domain and overall (mean over domains) share of `true` outcomes.
pub fn domain_scores(outcomes: impl IntoIterator<Item = (String, bool)>) -> DomainScores {
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for (domain, hit) in outcomes {
        let entry = per.entry(domain).or_default();
        entry.0 += 1;
        entry.1 += usize::from(hit);
    }
    let count = per.values().map(|(n, _)| n).sum();
    let per_domain: BTreeMap<String, f64> = per
        .into_iter()
        .map(|(d, (n, hits))| (d, hits as f64 / n as f64))
        .collect();
    let overall = if per_domain.is_empty() {
        0.0
    } else {
        per_domain.values().sum::<f64>() / per_domain.len() as f64
    };
    DomainScores {
        overall,
        per_domain,
        count,
    }
}

/// Saves the policy with its tokenizer as a Hugging Face folder.
pub fn save(
    dir: &Path,
    model: &CausalLm,
    config: &DecoderConfig,
    tokenizer: &Tokenizer,
) -> Result<()> {
    Ok(lm::save_pretrained(dir, model, config, Some(tokenizer))?)
}
