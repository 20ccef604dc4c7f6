//! The DPO step of an iteration: the kept pairs as token pairs, one optimiser step on them,
//! and each pair's loss for the normaliser.

use crate::dpo::{DpoMetrics, Objective, TokenPair, dpo_step, to_f64};
use crate::error::Result;

use super::labelling::Outcomes;
use super::sampling::Drawn;
use super::state::Trainer;

impl Trainer {
    /// Trains on the kept pairs of `outcomes` and records their losses there; returns the
    /// step's metrics (default when nothing was kept). A step the optimiser skips (a
    /// non-finite gradient) leaves every loss `None`: those pairs reach neither the
    /// normaliser nor the bandit.
    pub(super) fn dpo_update(
        &mut self,
        iteration: usize,
        drawn: &Drawn,
        outcomes: &mut Outcomes,
    ) -> Result<DpoMetrics> {
        let token_pairs: Vec<TokenPair> = (0..outcomes.kept.len())
            .map(|j| {
                let p = outcomes.kept[j].0;
                let (chosen, rejected) = outcomes.chosen_rejected(j, &drawn.pairs);
                TokenPair {
                    prompt: self.prompt_tokens[drawn.batch[p]].clone(),
                    chosen: drawn.samples[p][chosen].tokens.clone(),
                    rejected: drawn.samples[p][rejected].tokens.clone(),
                }
            })
            .collect();
        if token_pairs.is_empty() {
            return Ok(DpoMetrics::default());
        }
        let micro = self.config.dpo.accumulation.min(token_pairs.len());
        self.optimizer.set_accumulation_steps(micro)?;
        let (policy, step) = dpo_step(
            self.policy.clone(),
            &self.train_device,
            (&self.reference, &self.device),
            &token_pairs,
            Objective {
                beta: self.config.dpo.beta,
                rpo_alpha: self.config.dpo.rpo_alpha,
            },
            self.pad_id,
            &mut self.optimizer,
            self.config.dpo.lr,
            micro,
        )?;
        self.policy = policy;
        if step.metrics.skipped.is_none() {
            outcomes.losses = step.pair_losses.iter().map(|&l| Some(l)).collect();
        } else {
            tracing::warn!(iteration, reason = ?step.metrics.skipped,
                "DPO update skipped; its pairs reach neither the normaliser nor the bandit");
        }
        Ok(step.metrics)
    }
}

/// Sequences per forward pass of [`Trainer::implicit_rewards`].
const IMPLICIT_REWARD_BATCH: usize = 64;

impl Trainer {
    /// The DPO implicit reward of each `(prompt tokens, response tokens)` under the policy
    /// now: Δ = log π(response | prompt) − log π_ref(response | prompt), summed over the
    /// response tokens, nats (β·Δ is DPO's reward; a pair's loss is −log σ(β(Δ_chosen −
    /// Δ_rejected))). π_ref is the reference now: the latest copy of the policy when the run
    /// syncs it. Evaluation only: no step is taken. Responses carry their end-of-turn
    /// token, as the trainer's samples do.
    pub fn implicit_rewards(&self, sequences: &[(Vec<u32>, Vec<u32>)]) -> Result<Vec<f64>> {
        let mut rewards = Vec::with_capacity(sequences.len());
        for chunk in sequences.chunks(IMPLICIT_REWARD_BATCH) {
            let (policy, reference) = lm::policy_and_reference_logprobs(
                (&self.policy, &self.train_device),
                (&self.reference, &self.device),
                chunk,
                self.pad_id,
            )?;
            let (policy, reference) = (to_f64(policy.sum), to_f64(reference.sum));
            rewards.extend(policy.iter().zip(&reference).map(|(p, r)| p - r));
        }
        Ok(rewards)
    }
}
