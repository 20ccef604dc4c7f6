//! The timed pieces of the workload: medians over repeats, prefill, cached decoding and one
//! DPO step with its phases timed apart (which the trainer's `dpo_step` cannot do).

use std::time::Instant;

use burn::optim::GradientsParams;
use burn::prelude::*;
use lm::{
    CausalLm, GenerationRequest, Optimizer, PaddingSide, SamplingParams, StepOutcome, TokenBatch,
};
use rlhf_trainer::{Objective, TokenPair, dpo_loss};

use super::{DPO_BETA, Error, LEARNING_RATE, Result};

/// The median of `values` (not empty).
pub(super) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The median wall time of `repeats` calls of `run`, after one untimed warm-up call.
pub(super) fn median_seconds(repeats: usize, mut run: impl FnMut() -> Result<()>) -> Result<f64> {
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
pub(super) fn prefill(model: &CausalLm, prompts: &[Vec<u32>], device: &Device) -> Result<()> {
    let batch = TokenBatch::new(prompts, 0, PaddingSide::Left, device)?;
    let [_, len] = batch.dims();
    let logits = model.forward_window(&batch, len - 1, len);
    logits.sum().into_scalar::<f32>();
    Ok(())
}

/// Greedy generation of exactly `new_tokens` tokens per prompt.
pub(super) fn decode(
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
        return Err(Error::Bench(format!(
            "generation stopped early ({} tokens)",
            short.tokens.len()
        )));
    }
    Ok(())
}

/// Wall time of each phase of one DPO step, in seconds.
pub(super) struct StepPhases {
    /// Policy and reference forwards and the loss, up to reading the loss back.
    pub(super) forward_s: f64,
    /// The backward pass.
    pub(super) backward_s: f64,
    /// Gradient clipping and the AdamW update.
    pub(super) optimizer_s: f64,
}

/// One DPO update of `policy` against the frozen `reference`, timing its phases (the
/// device is synchronised at each boundary, so queued kernels count where they belong).
pub(super) fn dpo_step(
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
            .map_err(|e| Error::Bench(format!("synchronising {train_device:?}: {e:?}")))
    };
    let start = Instant::now();
    let loss = dpo_loss(
        (&policy, train_device),
        (reference, device),
        pairs,
        Objective::dpo(DPO_BETA),
        0,
    )?
    .loss;
    let loss_value = loss.clone().into_scalar::<f64>();
    if !loss_value.is_finite() {
        return Err(Error::Bench(format!("DPO loss is {loss_value}")));
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
        other => Err(Error::Bench(format!("DPO step did not update: {other:?}"))),
    }
}
