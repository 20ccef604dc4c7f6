//! Text generation: batched, with a KV cache, greedy or sampled per request.
//!
//! Prompts of uneven lengths are left-padded into one batch and prefilled in one forward;
//! each step then feeds one token per unfinished sequence. A sequence that finishes (stop
//! token, stop string, or its token budget) leaves the batch, and its rows leave the cache,
//! so it costs nothing afterwards.

mod sampler;

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::models::batch::{PaddingSide, TokenBatch};
use crate::models::decoder::CausalLm;
use crate::nn::kv_cache::KvCache;
use crate::tokenizer::Tokenizer;

pub use sampler::SamplingParams;
use sampler::{Sampler, token_logprob};

/// One prompt and how to continue it.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerationRequest {
    /// Prompt token ids (not empty).
    pub prompt: Vec<u32>,
    /// Sampling parameters, seed included.
    pub params: SamplingParams,
}

/// Why a sequence stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// It produced a stop token (kept as its last token).
    StopToken,
    /// Its text reached a stop string (cut from `text`).
    StopString,
    /// It used its `max_new_tokens`.
    Length,
}

/// What one request produced.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
    /// The new tokens.
    pub tokens: Vec<u32>,
    /// log P(token | everything before it) under the model itself (temperature 1, before
    /// top-k/top-p), one per token, in nats.
    pub logprobs: Vec<f32>,
    /// The decoded new text, cut before a stop string (when a tokenizer was given).
    pub text: Option<String>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
}

/// Generates for every request in one batch (see the module docs). `pad_id` fills the left
/// padding (any id: padded positions are masked); `tokenizer` decodes the text and is
/// required when a request has stop strings.
pub fn generate(
    model: &CausalLm,
    requests: &[GenerationRequest],
    pad_id: u32,
    tokenizer: Option<&Tokenizer>,
    device: &Device,
) -> Result<Vec<Generation>> {
    let _span = tracing::debug_span!("generate", requests = requests.len()).entered();
    for (i, request) in requests.iter().enumerate() {
        request.params.check().map_err(|err| Error::Input {
            reason: format!("request {i}: {err}"),
        })?;
        if !request.params.stop_strings.is_empty() && tokenizer.is_none() {
            return Err(Error::Input {
                reason: format!("request {i} has stop strings but no tokenizer was given"),
            });
        }
    }
    let mut outputs: Vec<Generation> = requests
        .iter()
        .map(|_| Generation {
            tokens: Vec::new(),
            logprobs: Vec::new(),
            text: tokenizer.map(|_| String::new()),
            finish_reason: FinishReason::Length,
        })
        .collect();
    // Requests still generating, as batch rows in this order.
    let mut active: Vec<usize> = (0..requests.len())
        .filter(|&i| requests[i].params.max_new_tokens > 0)
        .collect();
    if active.is_empty() {
        return Ok(outputs);
    }
    let mut samplers: Vec<Sampler> = requests
        .iter()
        .map(|r| Sampler::new(r.params.clone()))
        .collect();

    // Prefill: all prompts left-padded, one forward.
    let prompts: Vec<Vec<u32>> = active.iter().map(|&i| requests[i].prompt.clone()).collect();
    let batch = TokenBatch::new(&prompts, pad_id, PaddingSide::Left, device)?;
    let [_, prompt_width] = batch.dims();
    // Per active row: left-padding columns (masked forever) and the next position.
    let mut pads: Vec<usize> = batch.lengths.iter().map(|len| prompt_width - len).collect();
    let mut next_position: Vec<usize> = batch.lengths.clone();
    let mut cache = KvCache::new();
    let mut logits = model.forward_cached(
        batch.input_ids.clone(),
        batch.positions.clone(),
        &batch.attention_block_mask(),
        &mut cache,
    );

    loop {
        let [rows, vocab_size] = logits.dims();
        // [rows * vocab_size] on the host, in f32 whatever the model's float type.
        let host: Vec<f32> = logits
            .try_into_vec_as::<f32>()
            .map_err(|err| Error::Input {
                reason: format!("reading logits: {err:?}"),
            })?;
        let mut keep = Vec::with_capacity(rows);
        let mut next_tokens = Vec::with_capacity(rows);
        for (row, &request) in active.iter().enumerate() {
            let row_logits = &host[row * vocab_size..(row + 1) * vocab_size];
            let token = samplers[request].pick(row_logits);
            let output = &mut outputs[request];
            output.tokens.push(token);
            output.logprobs.push(token_logprob(row_logits, token));
            let params = samplers[request].params();
            let mut finished = None;
            if params.stop_token_ids.contains(&token) {
                finished = Some(FinishReason::StopToken);
            }
            // Stop strings need the text so far; without them, text is decoded once at the end.
            if let Some(tokenizer) = tokenizer
                && !params.stop_strings.is_empty()
            {
                let text = tokenizer.decode(&output.tokens, true)?;
                let cut = params
                    .stop_strings
                    .iter()
                    .filter_map(|s| text.find(s.as_str()))
                    .min();
                if let Some(at) = cut {
                    finished = Some(FinishReason::StopString);
                    output.text = Some(text[..at].to_string());
                }
            }
            if finished.is_none() && output.tokens.len() >= params.max_new_tokens {
                finished = Some(FinishReason::Length);
            }
            match finished {
                Some(reason) => output.finish_reason = reason,
                None => {
                    keep.push(row);
                    next_tokens.push(token);
                }
            }
        }
        if keep.is_empty() {
            break;
        }
        if keep.len() < rows {
            cache.select_rows(&keep, device);
            active = keep.iter().map(|&row| active[row]).collect();
            pads = keep.iter().map(|&row| pads[row]).collect();
            next_position = keep.iter().map(|&row| next_position[row]).collect();
        }
        // One new column per row: its token, its position, and a mask that blocks only
        // the row's left padding.
        let rows = active.len();
        let total_len = cache.len() + 1;
        let ids = Tensor::<2, Int>::from_data(
            TensorData::new(
                next_tokens.iter().map(|&t| i64::from(t)).collect(),
                [rows, 1],
            ),
            device,
        );
        let positions = Tensor::<2, Int>::from_data(
            TensorData::new(next_position.iter().map(|&p| p as i64).collect(), [rows, 1]),
            device,
        );
        let blocked: Vec<bool> = pads
            .iter()
            .flat_map(|&pad| (0..total_len).map(move |col| col < pad))
            .collect();
        let mask =
            Tensor::<4, Bool>::from_data(TensorData::new(blocked, [rows, 1, 1, total_len]), device);
        logits = model.forward_cached(ids, positions, &mask, &mut cache);
        for position in &mut next_position {
            *position += 1;
        }
    }
    if let Some(tokenizer) = tokenizer {
        for output in &mut outputs {
            if output.finish_reason != FinishReason::StopString {
                output.text = Some(tokenizer.decode(&output.tokens, true)?);
            }
        }
    }
    Ok(outputs)
}

/// Greedy decoding of one prompt through [`generate`]: the new tokens, ending with the
/// first of `stop_ids` if one was produced.
pub fn greedy_generate(
    model: &CausalLm,
    prompt: &[u32],
    max_new_tokens: usize,
    stop_ids: &[u32],
    device: &Device,
) -> Result<Vec<u32>> {
    let request = GenerationRequest {
        prompt: prompt.to_vec(),
        params: SamplingParams {
            stop_token_ids: stop_ids.to_vec(),
            ..SamplingParams::greedy(max_new_tokens)
        },
    };
    let mut outputs = generate(model, &[request], 0, None, device)?;
    Ok(outputs.remove(0).tokens)
}

/// Greedy decoding without a cache: the whole sequence is run again for every token. The
/// reference the cached path is tested and benchmarked against.
pub fn greedy_generate_uncached(
    model: &CausalLm,
    prompt: &[u32],
    max_new_tokens: usize,
    stop_ids: &[u32],
    device: &Device,
) -> Result<Vec<u32>> {
    if prompt.is_empty() {
        return Err(Error::Input {
            reason: "the prompt has no tokens".into(),
        });
    }
    let mut tokens = prompt.to_vec();
    let mut generated = Vec::new();
    for _ in 0..max_new_tokens {
        let batch = TokenBatch::new(std::slice::from_ref(&tokens), 0, PaddingSide::Right, device)?;
        let logits = model.forward(&batch);
        let [_, seq_len, vocab_size] = logits.dims();
        // [vocab_size]: the last position's logits.
        let last = logits
            .slice([0..1, seq_len - 1..seq_len, 0..vocab_size])
            .reshape([vocab_size]);
        let next = last.argmax(0).into_scalar::<i64>() as u32;
        tokens.push(next);
        generated.push(next);
        if stop_ids.contains(&next) {
            break;
        }
    }
    Ok(generated)
}
