//! Log-probabilities of given responses after given prompts: what DPO needs from the policy
//! (with gradients, on an autodiff device) and from the frozen reference, and what
//! log-likelihood benchmarks (MMLU's " A" … " D") need.

use burn::prelude::*;
use burn::tensor::activation::log_softmax;

use crate::error::{Error, Result};
use crate::models::batch::{PaddingSide, TokenBatch};
use crate::models::decoder::CausalLm;

/// Per sequence: the summed and mean log-probability of its response tokens, in nats.
#[derive(Clone, Debug)]
pub struct SequenceLogprobs {
    /// Σ_t log P(response_t | prompt, response_<t), `[batch_size]`; differentiable when the
    /// model's parameters are.
    pub sum: Tensor<1>,
    /// `sum` divided by the response length, `[batch_size]`.
    pub mean: Tensor<1>,
    /// Response tokens per sequence.
    pub response_lengths: Vec<usize>,
}

/// Scores each `(prompt, response)` pair in one right-padded batch: the model reads
/// `prompt ++ response`, and only the positions predicting response tokens count.
///
/// # Shapes
/// Returns tensors of `[pairs.len()]`.
pub fn sequence_logprobs(
    model: &CausalLm,
    pairs: &[(Vec<u32>, Vec<u32>)],
    pad_id: u32,
    device: &Device,
) -> Result<SequenceLogprobs> {
    for (i, (prompt, response)) in pairs.iter().enumerate() {
        if prompt.is_empty() || response.is_empty() {
            return Err(Error::Input {
                reason: format!(
                    "pair {i}: prompt has {} tokens and response {}; both need at least one",
                    prompt.len(),
                    response.len()
                ),
            });
        }
    }
    let sequences: Vec<Vec<u32>> = pairs
        .iter()
        .map(|(prompt, response)| [prompt.as_slice(), response].concat())
        .collect();
    let batch = TokenBatch::new(&sequences, pad_id, PaddingSide::Right, device)?;
    let [batch_size, _] = batch.dims();
    // Position t predicts token t + 1. Only positions predicting response tokens count, so
    // logits are computed for the window of positions that covers them in every row.
    let start = pairs.iter().map(|(p, _)| p.len() - 1).min().unwrap_or(0);
    let end = sequences.iter().map(|s| s.len() - 1).max().unwrap_or(0);
    let window = end - start;
    // Targets are the next tokens; a weight of 1 marks a response token's position.
    let mut targets = vec![0_i64; batch_size * window];
    let mut weights = vec![0.0_f32; batch_size * window];
    for (row, ((prompt, _), sequence)) in pairs.iter().zip(&sequences).enumerate() {
        for t in prompt.len() - 1..sequence.len() - 1 {
            targets[row * window + t - start] = i64::from(sequence[t + 1]);
            weights[row * window + t - start] = 1.0;
        }
    }
    let targets =
        Tensor::<3, Int>::from_data(TensorData::new(targets, [batch_size, window, 1]), device);
    let weights = Tensor::<2>::from_data(TensorData::new(weights, [batch_size, window]), device);
    // [batch_size, window, vocab_size] → gathered [batch_size, window, 1] → [batch_size, window]
    let log_probs = log_softmax(model.forward_window(&batch, start, end), 2);
    let token_log_probs = log_probs.gather(2, targets).reshape([batch_size, window]);
    let weights = weights.cast(token_log_probs.dtype());
    let sum = (token_log_probs * weights).sum_dim(1).reshape([batch_size]);
    let response_lengths: Vec<usize> = pairs.iter().map(|(_, r)| r.len()).collect();
    let lengths = Tensor::<1>::from_data(
        TensorData::new(
            response_lengths.iter().map(|&n| n as f32).collect(),
            [batch_size],
        ),
        device,
    );
    Ok(SequenceLogprobs {
        mean: sum.clone() / lengths.cast(sum.dtype()),
        sum,
        response_lengths,
    })
}

/// [`sequence_logprobs`] of the same pairs under a policy and a frozen reference, as a DPO
/// step needs them; the reference is scored on a second thread meanwhile.
///
/// The two forwards are independent, and on the CPU running them side by side keeps both
/// cores busy: burn's flex backend runs element-wise operations on the calling thread only,
/// so while one forward is in its single-threaded stretches the other one's matrix products
/// use the idle core (docs/PERFORMANCE.md). On a GPU both queue kernels on the same device.
///
/// Returns `(policy, reference)`, each on its own model's device; the policy's tensors carry
/// its graph when `policy_device` is an autodiff device.
pub fn policy_and_reference_logprobs(
    policy: (&CausalLm, &Device),
    reference: (&CausalLm, &Device),
    pairs: &[(Vec<u32>, Vec<u32>)],
    pad_id: u32,
) -> Result<(SequenceLogprobs, SequenceLogprobs)> {
    let (policy, policy_device) = policy;
    let (reference, reference_device) = reference;
    std::thread::scope(|scope| {
        let reference_job =
            scope.spawn(|| sequence_logprobs(reference, pairs, pad_id, reference_device));
        let policy_logprobs = sequence_logprobs(policy, pairs, pad_id, policy_device);
        let reference_logprobs = match reference_job.join() {
            Ok(result) => result,
            // A panic on the reference thread is the caller's panic, as without the thread.
            Err(panic) => std::panic::resume_unwind(panic),
        };
        Ok((policy_logprobs?, reference_logprobs?))
    })
}

/// Log-probabilities of the next token after each prompt, from one forward pass over a
/// left-padded batch (only the last position goes through the LM head). This is what scores
/// single-token continuations (MMLU's " A" … " D" after one shared context) and judge
/// verdict tokens.
///
/// # Shapes
/// Returns `[prompts.len(), vocab_size]`.
pub fn next_token_logprobs(
    model: &CausalLm,
    prompts: &[Vec<u32>],
    pad_id: u32,
    device: &Device,
) -> Result<Tensor<2>> {
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(Error::Input {
            reason: format!("prompt {i} is empty; the next token needs a context"),
        });
    }
    let batch = TokenBatch::new(prompts, pad_id, PaddingSide::Left, device)?;
    let [rows, len] = batch.dims();
    // [rows, 1, vocab] → [rows, vocab]
    let logits = model.forward_window(&batch, len - 1, len);
    let [_, _, vocab] = logits.dims();
    Ok(log_softmax(logits.reshape([rows, vocab]), 1))
}
