//! The DPO objective (Rafailov et al., 2023) on preference pairs against a frozen reference,
//! and one optimiser step of it (METHOD.md §5).
//!
//! For a pair with chosen y_w and rejected y_l after prompt x,
//! Δ = [log π(y_w|x) − log π_ref(y_w|x)] − [log π(y_l|x) − log π_ref(y_l|x)] with log-probs
//! summed over response tokens (nats), and the pair's loss is ℓ = −log σ(βΔ), computed as a
//! log-sigmoid, which is stable for large |βΔ| where σ underflows to 0 and its log to −inf.
//! The batch loss is the mean of ℓ. Reported metrics use TRL's names and definitions
//! (`rewards/chosen` = mean β·(log π(y_w) − log π_ref(y_w)), …).
//!
//! With `rpo_alpha` = α > 0 the objective adds α times the chosen response's negative
//! log-likelihood per token, −log π(y_w|x)/|y_w| (the NLL term of iterative RPO, Pang et
//! al. 2024; TRL's `rpo_alpha`): DPO alone can lower the chosen response's likelihood along
//! with the rejected one's, the NLL term makes a correct label teach the correct answer.
//! The per-pair losses the router learns from stay the DPO losses ℓ.

use burn::prelude::*;
use burn::tensor::activation::log_sigmoid;
use lm::{CausalLm, Optimizer, StepOutcome, policy_and_reference_logprobs};
use serde::Serialize;

use crate::error::Result;

/// One preference pair as token ids: the prompt (chat template applied) and the chosen and
/// rejected responses (each at least one token).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenPair {
    /// Prompt tokens.
    pub prompt: Vec<u32>,
    /// The preferred response's tokens.
    pub chosen: Vec<u32>,
    /// The other response's tokens.
    pub rejected: Vec<u32>,
}

/// What a DPO step optimises: β of the DPO loss and the weight α of the NLL term.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Objective {
    /// β of the DPO loss.
    pub beta: f64,
    /// Weight of the chosen response's per-token NLL (0: plain DPO).
    pub rpo_alpha: f64,
}

impl Objective {
    /// Plain DPO with `beta`.
    pub fn dpo(beta: f64) -> Self {
        Self {
            beta,
            rpo_alpha: 0.0,
        }
    }
}

/// The DPO loss of a batch of pairs, with what a step reports about it.
#[derive(Debug)]
pub struct DpoLoss {
    /// Mean objective over the pairs (DPO, plus α × the chosen NLL), `[1]`, on the policy's
    /// device, carrying its graph.
    pub loss: Tensor<1>,
    /// Per pair: ℓ = −log σ(βΔ), nats (before any optimiser step).
    pub pair_losses: Vec<f64>,
    /// Per pair: −log π(y_w|x)/|y_w|, nats per token.
    pub chosen_nll: Vec<f64>,
    /// Per pair: β·(log π(y_w) − log π_ref(y_w)), the implicit reward of the chosen response.
    pub chosen_rewards: Vec<f64>,
    /// Per pair: β·(log π(y_l) − log π_ref(y_l)).
    pub rejected_rewards: Vec<f64>,
    /// Per pair: log π(y_w|x), nats.
    pub chosen_logps: Vec<f64>,
    /// Per pair: log π(y_l|x), nats.
    pub rejected_logps: Vec<f64>,
}

/// The objective of `policy` (on `policy_device`, autodiff when it is to be trained) against
/// the frozen `reference` on `pairs`; `pad_id` pads the right-padded batch.
///
/// # Shapes
/// One forward of `[2 · pairs.len(), max_len]` per model (chosen rows, then rejected rows);
/// `loss` is `[1]`, the per-pair vectors have `pairs.len()` entries.
pub fn dpo_loss(
    policy: (&CausalLm, &Device),
    reference: (&CausalLm, &Device),
    pairs: &[TokenPair],
    objective: Objective,
    pad_id: u32,
) -> Result<DpoLoss> {
    let Objective { beta, rpo_alpha } = objective;
    let n = pairs.len();
    let sequences: Vec<(Vec<u32>, Vec<u32>)> = pairs
        .iter()
        .map(|p| (p.prompt.clone(), p.chosen.clone()))
        .chain(pairs.iter().map(|p| (p.prompt.clone(), p.rejected.clone())))
        .collect();
    let policy_device = policy.1;
    let (policy_logps, reference_logps) =
        policy_and_reference_logprobs(policy, reference, &sequences, pad_id)?;
    // The reference carries no graph: its values enter the policy's device as constants.
    let reference_logps =
        Tensor::<1>::from_data(reference_logps.sum.into_data(), policy_device).detach();
    let reference_values = to_f64(reference_logps.clone());
    // [n]: the chosen responses' NLL per token.
    let chosen_nll = policy_logps.mean.clone().narrow(0, 0, n).neg();
    let policy_logps = policy_logps.sum;
    let policy_values = to_f64(policy_logps.clone());
    // [n] each: log-ratios of the chosen and the rejected responses.
    let chosen_ratio =
        policy_logps.clone().narrow(0, 0, n) - reference_logps.clone().narrow(0, 0, n);
    let rejected_ratio = policy_logps.narrow(0, n, n) - reference_logps.narrow(0, n, n);
    let pair_losses = log_sigmoid((chosen_ratio - rejected_ratio) * beta).neg();
    let loss = if rpo_alpha > 0.0 {
        (pair_losses.clone() + chosen_nll.clone() * rpo_alpha).mean()
    } else {
        pair_losses.clone().mean()
    };
    let ratio = |i: usize| policy_values[i] - reference_values[i];
    Ok(DpoLoss {
        loss,
        pair_losses: to_f64(pair_losses),
        chosen_nll: to_f64(chosen_nll),
        chosen_rewards: (0..n).map(|i| beta * ratio(i)).collect(),
        rejected_rewards: (0..n).map(|i| beta * ratio(n + i)).collect(),
        chosen_logps: policy_values[..n].to_vec(),
        rejected_logps: policy_values[n..].to_vec(),
    })
}

/// TRL's per-step DPO metrics (means over the step's pairs).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DpoMetrics {
    /// Pairs in the step.
    pub pairs: usize,
    /// Mean loss, nats.
    pub loss: f64,
    /// `rewards/chosen`.
    pub rewards_chosen: f64,
    /// `rewards/rejected`.
    pub rewards_rejected: f64,
    /// `rewards/margins`: mean of chosen − rejected rewards.
    pub rewards_margins: f64,
    /// `rewards/accuracies`: share of pairs whose chosen reward is higher.
    pub rewards_accuracies: f64,
    /// `logps/chosen`, nats.
    pub logps_chosen: f64,
    /// `logps/rejected`, nats.
    pub logps_rejected: f64,
    /// `nll_loss`: mean of the chosen responses' NLL per token, nats (logged whatever
    /// `rpo_alpha` is).
    pub nll_chosen: f64,
    /// Gradient L2 norm before clipping (`None` when the step was skipped).
    pub grad_norm: Option<f64>,
    /// Why the update was skipped (non-finite loss or gradients), if it was.
    pub skipped: Option<String>,
}

/// What one DPO step computed: the per-pair losses before the update and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct DpoStep {
    /// Per pair, in input order: ℓ before the update, nats.
    pub pair_losses: Vec<f64>,
    /// TRL's metrics.
    pub metrics: DpoMetrics,
}

/// One DPO update of `policy` on `pairs` at learning rate `lr`, in `micro_batches`
/// consecutive slices whose gradients the optimiser accumulates (the update equals the one of
/// the whole batch's mean loss). The optimiser must have been built with
/// `accumulation_steps = micro_batches`. Returns the (possibly) updated policy; when the loss
/// or the gradients are not finite the policy and optimiser are left as they were.
///
/// # Panics
/// If `pairs` is empty or `micro_batches` is 0 or exceeds `pairs.len()`.
#[allow(clippy::too_many_arguments)]
pub fn dpo_step(
    policy: CausalLm,
    policy_device: &Device,
    reference: (&CausalLm, &Device),
    pairs: &[TokenPair],
    objective: Objective,
    pad_id: u32,
    optimizer: &mut Optimizer,
    lr: f64,
    micro_batches: usize,
) -> Result<(CausalLm, DpoStep)> {
    assert!(
        !pairs.is_empty() && (1..=pairs.len()).contains(&micro_batches),
        "dpo_step needs pairs and 1..=pairs.len() micro-batches"
    );
    let n = pairs.len();
    let mut policy = policy;
    let mut parts: Vec<DpoLoss> = Vec::with_capacity(micro_batches);
    let mut outcome = StepOutcome::Accumulated;
    for m in 0..micro_batches {
        let slice = &pairs[m * n / micro_batches..(m + 1) * n / micro_batches];
        let part = dpo_loss(
            (&policy, policy_device),
            reference,
            slice,
            objective,
            pad_id,
        )?;
        // The optimiser averages micro-batch gradients; weighting each slice's mean by
        // micro_batches·|slice|/n makes that average the gradient of the whole batch's mean.
        let weight = (micro_batches * slice.len()) as f64 / n as f64;
        let loss = part.loss.clone() * weight;
        let (next, step) = optimizer.backward_step(policy, loss, lr);
        policy = next;
        outcome = step;
        parts.push(part);
        if matches!(outcome, StepOutcome::Skipped { .. }) {
            break;
        }
    }
    let all = |field: fn(&DpoLoss) -> &Vec<f64>| -> Vec<f64> {
        parts
            .iter()
            .flat_map(|p| field(p).iter().copied())
            .collect()
    };
    let pair_losses = all(|p| &p.pair_losses);
    let chosen = all(|p| &p.chosen_rewards);
    let rejected = all(|p| &p.rejected_rewards);
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len().max(1) as f64;
    let margins: Vec<f64> = chosen.iter().zip(&rejected).map(|(c, r)| c - r).collect();
    let (grad_norm, skipped) = match outcome {
        StepOutcome::Updated(report) => (Some(report.grad_norm), None),
        StepOutcome::Skipped { reason } => (None, Some(reason)),
        StepOutcome::Accumulated => (None, Some("micro-batches still pending".into())),
    };
    let metrics = DpoMetrics {
        pairs: pair_losses.len(),
        loss: mean(&pair_losses),
        rewards_chosen: mean(&chosen),
        rewards_rejected: mean(&rejected),
        rewards_margins: mean(&margins),
        rewards_accuracies: mean(
            &margins
                .iter()
                .map(|&m| f64::from(u8::from(m > 0.0)))
                .collect::<Vec<_>>(),
        ),
        logps_chosen: mean(&all(|p| &p.chosen_logps)),
        logps_rejected: mean(&all(|p| &p.rejected_logps)),
        nll_chosen: mean(&all(|p| &p.chosen_nll)),
        grad_norm,
        skipped,
    };
    Ok((
        policy,
        DpoStep {
            pair_losses,
            metrics,
        },
    ))
}

/// A 1-D tensor's values as f64.
pub(crate) fn to_f64(tensor: Tensor<1>) -> Vec<f64> {
    tensor
        .try_into_vec_as::<f64>()
        .expect("a float tensor converts to f64")
}
