//! Checkpoints (everything a run needs to continue bit for bit), resumption from one, and
//! the run's `final/` folder.

use std::path::{Path, PathBuf};

use burn::prelude::*;

use crate::checkpoint::{self, Checkpoint};
use crate::error::Result;

use super::state::Trainer;

/// Where a finished run left its results.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// The run folder.
    pub dir: PathBuf,
    /// Iterations run (all of them, resumed ones included).
    pub iterations: usize,
    /// Iterations skipped because no judge was left.
    pub skipped: usize,
    /// The final policy as a Hugging Face folder.
    pub policy: PathBuf,
}

impl Trainer {
    /// Writes a checkpoint of everything the run needs to continue bit for bit.
    pub fn save_checkpoint(&mut self) -> Result<()> {
        let lengths = self.logs.lengths()?;
        let moments = (0..self.pool.len()).map(|k| self.pool.moments(k)).collect();
        let state = Checkpoint::new(
            self.iteration,
            self.skipped,
            self.schedule.clone(),
            self.normalizer.clone(),
            self.optimizer.steps(),
            lengths,
            moments,
        );
        checkpoint::save(
            &self.dir,
            &state,
            (&self.policy, &self.decoder),
            (self.config.dpo.reference_sync_every > 0).then_some(&self.reference),
            self.strategy.bandit.as_ref(),
            &self.optimizer,
        )
    }

    /// Restores checkpoint `dir` with its `state` (the logs are already cut back to it).
    pub(super) fn restore(&mut self, dir: &Path, state: Checkpoint) -> Result<()> {
        self.policy = checkpoint::load_policy(
            dir,
            &self.config.policy.path,
            self.config.policy.lora.is_some(),
            &self.train_device,
        )?;
        if self.config.dpo.reference_sync_every > 0 {
            self.reference = checkpoint::load_reference(dir, &self.device)?;
        }
        self.optimizer
            .load_state(&dir.join(checkpoint::OPTIMIZER_FILE), state.optimizer_steps)?;
        if let Some(current) = self.strategy.bandit.as_mut() {
            *current = bandit::LinearBandit::load(
                &dir.join(checkpoint::BANDIT_STATE_FILE),
                current.n_arms(),
                current.dim(),
            )?;
        }
        self.pool.restore_moments(&state.pool_moments)?;
        self.normalizer = state.normalizer;
        self.schedule = state.schedule;
        self.iteration = state.iteration;
        self.skipped = state.skipped;
        tracing::info!(iteration = self.iteration, checkpoint = %dir.display(), "resumed");
        Ok(())
    }

    /// Writes `final/`: the policy as a Hugging Face folder (adapters merged), the PEFT
    /// adapter when LoRA trained, and the router state.
    pub(super) fn write_final(&mut self) -> Result<RunSummary> {
        let final_dir = self.dir.join("final");
        let policy_dir = final_dir.join("policy");
        let plain = self.policy.valid();
        lm::save_pretrained(&policy_dir, &plain, &self.decoder, Some(&self.tokenizer))?;
        if self.policy.lora().is_some() {
            let base = &self.config.policy.path;
            lm::save_adapter(
                &final_dir.join("adapter"),
                &plain,
                &base.display().to_string(),
            )?;
        }
        if let Some(bandit) = &self.strategy.bandit {
            bandit.save(&final_dir.join(checkpoint::BANDIT_STATE_FILE))?;
        }
        Ok(RunSummary {
            dir: self.dir.clone(),
            iterations: self.iteration,
            skipped: self.skipped,
            policy: policy_dir,
        })
    }
}
