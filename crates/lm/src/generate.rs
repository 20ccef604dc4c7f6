//! Greedy decoding.
//!
//! This first decoder re-runs the whole sequence for every new token (no KV cache): O(n²) in
//! the length, fine for short answers and checks. Batched sampling with a cache is the next
//! step (the project's generation issue).

use burn::prelude::*;

use crate::error::{Error, Result};
use crate::models::batch::{PaddingSide, TokenBatch};
use crate::models::decoder::CausalLm;

/// Appends up to `max_new_tokens` greedy (argmax) tokens to `prompt`, stopping after any of
/// `stop_ids`; returns the new tokens only (the stop token included if it was produced).
pub fn greedy_generate(
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
        let [_, seq_len, vocab] = logits.dims();
        // [1, 1, vocab] -> [vocab]
        let last = logits
            .slice([0..1, seq_len - 1..seq_len, 0..vocab])
            .reshape([vocab]);
        let next = last.argmax(0).into_scalar::<i64>() as u32;
        tokens.push(next);
        generated.push(next);
        if stop_ids.contains(&next) {
            break;
        }
    }
    Ok(generated)
}
