//! Checkpoints of the offline router's training: `checkpoints/step-NNNNNN/` with the
//! trainable weights (`model.bpk`), the AdamW moments and `state.json`, written atomically;
//! listing, pruning, and the checks a resumption must pass.

use std::path::{Path, PathBuf};

use burn::store::{BurnpackStore, ModuleSnapshot};
use lm::Optimizer;
use serde::{Deserialize, Serialize};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::RouterModel;
use atomic_write::write_json_pretty as write_json;

/// Format tag of a checkpoint's `state.json`.
pub const CHECKPOINT_FORMAT: &str = "offline-router-checkpoint";
/// Version of the checkpoint layout.
pub const CHECKPOINT_VERSION: u32 = 1;

/// A checkpoint's `state.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CheckpointState {
    pub(super) format: String,
    pub(super) version: u32,
    pub(super) step: usize,
    pub(super) total_steps: usize,
    pub(super) rm_names: Vec<String>,
    pub(super) dim: usize,
    pub(super) best_step: usize,
    pub(super) best_accuracy: Option<f64>,
    /// Validations since the best (early stopping); absent in checkpoints that predate it.
    #[serde(default)]
    pub(super) validations_since_best: usize,
    pub(super) config: TrainConfig,
}

pub(super) fn write_checkpoint(
    dir: &Path,
    model: &RouterModel,
    optimizer: &Optimizer,
    state: &CheckpointState,
) -> Result<()> {
    atomic_write::replace_folder(dir, |staging| {
        let path = staging.join("model.bpk");
        let mut store = BurnpackStore::from_file(&path).overwrite(true);
        model
            .save_into(&mut store)
            .map_err(|err| Error::artifact(&path, err.to_string()))?;
        optimizer.save_state(&staging.join("optimizer.safetensors"))?;
        Ok(write_json(&staging.join("state.json"), state)?)
    })
}

/// Step checkpoints in the folder, oldest first.
fn list_checkpoints(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.exists() {
        return Ok(Vec::new());
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(atomic_write::io_error(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("step-"))
                && path.join("state.json").exists()
        })
        .collect();
    found.sort();
    Ok(found)
}

/// The newest complete checkpoint under `dir`.
pub fn latest_checkpoint(dir: &Path) -> Result<Option<PathBuf>> {
    Ok(list_checkpoints(dir)?.pop())
}

pub(super) fn prune_checkpoints(dir: &Path, keep: usize) -> Result<()> {
    let found = list_checkpoints(dir)?;
    for old in found.iter().take(found.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(old).map_err(atomic_write::io_error(old))?;
    }
    Ok(())
}

pub(super) fn check_resumable(
    dir: &Path,
    state: &CheckpointState,
    config: &TrainConfig,
    rm_names: &[String],
    dim: usize,
) -> Result<()> {
    let bad = |reason: String| Err(Error::artifact(dir, reason));
    if (state.format.as_str(), state.version) != (CHECKPOINT_FORMAT, CHECKPOINT_VERSION) {
        return bad(format!(
            "checkpoint {} v{}, this build reads {CHECKPOINT_FORMAT} v{CHECKPOINT_VERSION}",
            state.format, state.version
        ));
    }
    if state.rm_names != rm_names || state.dim != dim {
        return bad(format!(
            "checkpoint is for RMs {:?} at d = {}, this run has {rm_names:?} at d = {dim}",
            state.rm_names, state.dim
        ));
    }
    if &state.config != config {
        return bad(
            "the configuration changed since this checkpoint; resume with the same one".into(),
        );
    }
    Ok(())
}
