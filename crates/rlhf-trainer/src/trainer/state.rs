//! The trainer's state: what a run holds between iterations. Each phase of an iteration is
//! an `impl Trainer` block in the file named after it; this one has the fields and the
//! read-only accessors.

use std::path::PathBuf;

use burn::prelude::*;
use lm::{CausalLm, DecoderConfig, Optimizer, Tokenizer};
use rm_pool::RmPool;
use router_export::ContextFunction;

use crate::config::TrainerConfig;
use crate::logs::RunLogs;
use crate::normalizer::Normalizer;
use crate::prompts::{Prompt, PromptSchedule};
use crate::strategy::Strategy;

/// The online DPO trainer (see the module docs).
pub struct Trainer {
    pub(super) config: TrainerConfig,
    pub(super) dir: PathBuf,
    pub(super) device: Device,
    pub(super) train_device: Device,
    pub(super) decoder: DecoderConfig,
    pub(super) policy: CausalLm,
    pub(super) reference: CausalLm,
    pub(super) tokenizer: Tokenizer,
    pub(super) pad_id: u32,
    pub(super) stop_ids: Vec<u32>,
    pub(super) prompts: Vec<Prompt>,
    /// Chat-templated prompt tokens, per prompt.
    pub(super) prompt_tokens: Vec<Vec<u32>>,
    pub(super) pool: RmPool,
    pub(super) oracle: Option<RmPool>,
    pub(super) context_fn: Option<ContextFunction>,
    pub(super) strategy: Strategy,
    pub(super) normalizer: Normalizer,
    pub(super) optimizer: Optimizer,
    pub(super) schedule: PromptSchedule,
    pub(super) iteration: usize,
    pub(super) skipped: usize,
    pub(super) logs: RunLogs,
}

impl Trainer {
    /// The next iteration to run (0-based); equals the iterations done.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The run's config.
    pub fn config(&self) -> &TrainerConfig {
        &self.config
    }

    /// The policy being trained (on the training device).
    pub fn policy(&self) -> &CausalLm {
        &self.policy
    }

    /// The routed pool (its statistics count every RM call).
    pub fn pool(&self) -> &RmPool {
        &self.pool
    }

    /// The bandit, for strategies that route with one.
    pub fn bandit(&self) -> Option<&bandit::LinearBandit> {
        self.strategy.bandit.as_ref()
    }

    /// Where the strategy's routing contexts come from (`None`: it does not route).
    pub fn context_kind(&self) -> Option<crate::strategy::ContextKind> {
        self.strategy.context
    }
}
