//! Checkpoints: everything a run needs to continue bit for bit, written atomically.
//!
//! `checkpoints/iter-00000010/` holds `state.json` (iteration, prompt schedule, normaliser,
//! optimiser step count, the logs' lengths, the pool's score statistics), `router.json`
//! (the bandit with both of its random streams), `optimizer.safetensors` (AdamW moments) and
//! the policy: `adapter/` (PEFT) under LoRA, else `model/` (a Hugging Face folder); and,
//! when the run copies its policy into the DPO reference (`[dpo] reference_sync_every`), that
//! reference as `reference/` (a Hugging Face folder, adapters merged). A
//! checkpoint is assembled in a staging folder and renamed into place, so a crash leaves the
//! previous checkpoint intact; the two newest are kept.

use std::path::{Path, PathBuf};

use bandit::LinearBandit;
use burn::prelude::*;
use lm::{
    CausalLm, DecoderConfig, Optimizer, WeightDType, load_adapter, load_causal_lm, save_adapter,
};
use rm_pool::ScoreMoments;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::logs::LogLengths;
use crate::normalizer::Normalizer;
use crate::prompts::PromptSchedule;

/// Format tag of `state.json`.
pub const CHECKPOINT_FORMAT: &str = "rlhf-trainer-checkpoint";
/// Version of the checkpoint layout this build writes and reads.
pub const CHECKPOINT_VERSION: u32 = 1;
/// The bandit's state file (also in `final/`; the name predates the bandit / offline-router
/// naming and is kept so that existing run folders resume).
pub const BANDIT_STATE_FILE: &str = "router.json";
/// The optimiser's moments.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
const STATE_FILE: &str = "state.json";
const ADAPTER_DIR: &str = "adapter";
const MODEL_DIR: &str = "model";
const REFERENCE_DIR: &str = "reference";
const CHECKPOINTS_DIR: &str = "checkpoints";
/// Checkpoints kept (the newest ones).
const KEEP: usize = 2;

/// The small state of a checkpoint (`state.json`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    format: String,
    version: u32,
    /// The next iteration to run.
    pub iteration: usize,
    /// Iterations skipped so far.
    pub skipped: usize,
    /// Where the prompt schedule stands.
    pub schedule: PromptSchedule,
    /// The normaliser's state.
    pub normalizer: Normalizer,
    /// Optimiser updates taken.
    pub optimizer_steps: usize,
    /// The logs' byte lengths.
    pub logs: LogLengths,
    /// Each RM's score statistics (ensemble standardisation).
    pub pool_moments: Vec<ScoreMoments>,
}

impl Checkpoint {
    /// A checkpoint state.
    pub fn new(
        iteration: usize,
        skipped: usize,
        schedule: PromptSchedule,
        normalizer: Normalizer,
        optimizer_steps: usize,
        logs: LogLengths,
        pool_moments: Vec<ScoreMoments>,
    ) -> Self {
        Self {
            format: CHECKPOINT_FORMAT.into(),
            version: CHECKPOINT_VERSION,
            iteration,
            skipped,
            schedule,
            normalizer,
            optimizer_steps,
            logs,
            pool_moments,
        }
    }
}

/// Writes a checkpoint of the run in `run_dir` at `state.iteration`.
/// `reference` is the DPO reference when the run updates it (else the initial policy, which
/// a resumption reloads from its path).
pub fn save(
    run_dir: &Path,
    state: &Checkpoint,
    policy: (&CausalLm, &DecoderConfig),
    reference: Option<&CausalLm>,
    router: Option<&LinearBandit>,
    optimizer: &Optimizer,
) -> Result<()> {
    let (policy, decoder) = policy;
    let root = run_dir.join(CHECKPOINTS_DIR);
    std::fs::create_dir_all(&root).map_err(atomic_write::io_error(&root))?;
    let target = root.join(format!("iter-{:08}", state.iteration));
    atomic_write::replace_folder(&target, |dir| -> Result<()> {
        let plain = policy.valid();
        if plain.lora().is_some() {
            save_adapter(&dir.join(ADAPTER_DIR), &plain, "policy")?;
        } else {
            lm::save_pretrained(&dir.join(MODEL_DIR), &plain, decoder, None)?;
        }
        if let Some(reference) = reference {
            lm::save_pretrained(&dir.join(REFERENCE_DIR), reference, decoder, None)?;
        }
        optimizer.save_state(&dir.join(OPTIMIZER_FILE))?;
        if let Some(router) = router {
            router.save(&dir.join(BANDIT_STATE_FILE))?;
        }
        Ok(atomic_write::write_json_pretty(
            &dir.join(STATE_FILE),
            state,
        )?)
    })?;
    // Older checkpoints go once the new one is in place.
    let mut all = checkpoint_dirs(&root)?;
    all.sort();
    for old in all.iter().rev().skip(KEEP) {
        std::fs::remove_dir_all(old).map_err(atomic_write::io_error(old))?;
    }
    Ok(())
}

/// The newest checkpoint of the run in `run_dir` and its state, if any.
pub fn latest(run_dir: &Path) -> Result<Option<(PathBuf, Checkpoint)>> {
    let root = run_dir.join(CHECKPOINTS_DIR);
    if !root.exists() {
        return Ok(None);
    }
    let mut all = checkpoint_dirs(&root)?;
    all.sort();
    let Some(dir) = all.pop() else {
        return Ok(None);
    };
    let path = dir.join(STATE_FILE);
    let state: Checkpoint = atomic_write::read_json(&path)?;
    if (state.format.as_str(), state.version) != (CHECKPOINT_FORMAT, CHECKPOINT_VERSION) {
        return Err(Error::Resume {
            dir: dir.clone(),
            reason: format!(
                "checkpoint format {} v{}, this build reads {CHECKPOINT_FORMAT} v{CHECKPOINT_VERSION}",
                state.format, state.version
            ),
        });
    }
    Ok(Some((dir, state)))
}

/// The policy of checkpoint `dir` on `device`: the base at `base_path` with the saved
/// adapters (LoRA), or the saved model.
pub fn load_policy(dir: &Path, base_path: &Path, lora: bool, device: &Device) -> Result<CausalLm> {
    if lora {
        let (_, base) = load_causal_lm(base_path, device, WeightDType::F32)?;
        Ok(load_adapter(&dir.join(ADAPTER_DIR), base)?)
    } else {
        Ok(load_causal_lm(&dir.join(MODEL_DIR), device, WeightDType::F32)?.1)
    }
}

/// The DPO reference saved in checkpoint `dir` on `device` (runs that update their
/// reference save it); an error names the checkpoint when it has none.
pub fn load_reference(dir: &Path, device: &Device) -> Result<CausalLm> {
    let path = dir.join(REFERENCE_DIR);
    if !path.is_dir() {
        return Err(Error::Resume {
            dir: dir.to_path_buf(),
            reason: format!(
                "the run updates its DPO reference (`dpo.reference_sync_every`) but this \
                 checkpoint has no `{REFERENCE_DIR}/` folder to restore it from"
            ),
        });
    }
    Ok(load_causal_lm(&path, device, WeightDType::F32)?.1)
}

fn checkpoint_dirs(root: &Path) -> Result<Vec<PathBuf>> {
    let mut dirs = Vec::new();
    for entry in std::fs::read_dir(root).map_err(atomic_write::io_error(root))? {
        let path = entry.map_err(atomic_write::io_error(root))?.path();
        let is_checkpoint = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("iter-"));
        if is_checkpoint && path.is_dir() {
            dirs.push(path);
        }
    }
    Ok(dirs)
}
