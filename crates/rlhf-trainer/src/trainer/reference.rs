//! The DPO reference's hard updates (`[dpo] reference_sync_every`): before every s-th
//! iteration the policy's current weights (adapters merged) become the reference, and, with
//! `[sampling] generator = "reference"`, the model that samples the candidates (semi-online
//! DPO).

use burn::prelude::*;

use super::state::Trainer;

impl Trainer {
    /// Whether `iteration` (0-based) starts with a copy of the policy into the reference:
    /// every `reference_sync_every`-th iteration after the first.
    pub(super) fn reference_due(&self, iteration: usize) -> bool {
        let every = self.config.dpo.reference_sync_every;
        every > 0 && iteration > 0 && iteration.is_multiple_of(every)
    }

    /// Makes the policy's current weights the reference (inference device, no graph, LoRA
    /// adapters folded in).
    pub(super) fn sync_reference(&mut self) {
        let snapshot = self.policy.valid();
        let snapshot = if snapshot.lora().is_some() {
            snapshot.merge_lora()
        } else {
            snapshot
        };
        self.reference = snapshot.to_device(&self.device);
        tracing::debug!(
            iteration = self.iteration,
            "reference synced with the policy"
        );
    }
}
