//! The training configuration, a TOML file (example: configs/offline-router/). Relative
//! paths are relative to the file; unknown keys are errors naming the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::loss::LossWeights;
use router_export::encoder::EncoderConfig;

/// Everything one training run needs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Seeds the head's initialisation, the split, the edge balancing and the batch order.
    #[serde(default)]
    pub seed: u64,
    /// Run folder: checkpoints, exports, metrics.
    pub output: PathBuf,
    /// `cpu`, `libtorch` or `cuda[:N]`.
    #[serde(default = "default_device")]
    pub device: String,
    /// The data and the RMs.
    pub data: DataConfig,
    /// The backbone.
    pub encoder: EncoderConfig,
    /// Loss weights.
    #[serde(default)]
    pub loss: LossWeights,
    /// Optimiser and schedule.
    #[serde(default)]
    pub optim: OptimConfig,
    /// Checkpoints.
    #[serde(default)]
    pub checkpoint: CheckpointConfig,
}

fn default_device() -> String {
    "cpu".into()
}

/// `[data]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// Records (TRL pairs JSONL, with or without judgments).
    pub records: PathBuf,
    /// An rm-pool TOML: judges what the records lack, and names the arms.
    #[serde(default)]
    pub pool: Option<PathBuf>,
    /// Where the pool's scores are kept (`<rm>.jsonl`, appended as computed; default
    /// `<output>/scores`). Runs over the same items may share one folder, e.g. the
    /// `scores/` of a `cargo xtask rm score --out` run.
    #[serde(default)]
    pub scores: Option<PathBuf>,
    /// The arms, in order (default: the pool's order). Required without a pool.
    #[serde(default)]
    pub rms: Option<Vec<String>>,
    /// Fraction of prompts held out for validation (keep-best selection).
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
    /// Fraction of prompts held out for the test part, which training never reads and
    /// `eval` reports on (0 when the test records are a separate file).
    #[serde(default = "default_test_fraction")]
    pub test_fraction: f64,
    /// Remove BT edges until no RM wins globally (METHOD.md §2).
    #[serde(default)]
    pub balance: bool,
    /// Records per pool call when judging.
    #[serde(default = "default_judge_batch")]
    pub judge_batch_size: usize,
}

fn default_validation_fraction() -> f64 {
    0.2
}

fn default_test_fraction() -> f64 {
    0.2
}

fn default_judge_batch() -> usize {
    8
}

/// Learning-rate schedule after warm-up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Linear decay to 0 at the last update (transformers' default).
    #[default]
    Linear,
    /// Half-cosine decay to 0.
    Cosine,
    /// Constant.
    Constant,
}

/// `[optim]`. Defaults: the reference's AdamW at lr 2e-5, batch 8, 2 epochs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Passes over the training records.
    pub epochs: usize,
    /// Records per update.
    pub batch_size: usize,
    /// Fraction of the updates spent warming up linearly from 0.
    pub warmup_fraction: f64,
    /// Decay after warm-up.
    pub schedule: Schedule,
    /// AdamW's decoupled weight decay.
    pub weight_decay: f32,
    /// Clip the global gradient norm (0: no clipping).
    pub max_grad_norm: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        Self {
            lr: 2e-5,
            epochs: 2,
            batch_size: 8,
            warmup_fraction: 0.1,
            schedule: Schedule::Linear,
            weight_decay: 0.0,
            max_grad_norm: 1.0,
        }
    }
}

impl OptimConfig {
    /// The learning rate of update `step` (0-based) of `total`.
    pub fn lr_at(&self, step: usize, total: usize) -> f64 {
        let warmup = (self.warmup_fraction * total as f64).ceil() as usize;
        if step < warmup {
            return self.lr * step as f64 / warmup as f64;
        }
        let span = total.saturating_sub(warmup).max(1) as f64;
        let progress = ((step - warmup) as f64 / span).clamp(0.0, 1.0);
        match self.schedule {
            Schedule::Linear => self.lr * (1.0 - progress),
            Schedule::Cosine => self.lr * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
            Schedule::Constant => self.lr,
        }
    }
}

/// `[checkpoint]`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CheckpointConfig {
    /// Checkpoint (and validate) every this many updates; 0: only at the end.
    pub every: usize,
    /// Step checkpoints kept (the oldest are removed).
    pub keep: usize,
    /// Early stopping: stop after this many validations in a row without a new best
    /// (0: never; `final/` is then also chosen by the validation records).
    pub patience: usize,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self {
            every: 100,
            keep: 2,
            patience: 0,
        }
    }
}

impl TrainConfig {
    /// Reads `path`, resolving relative paths against its folder and checking values.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(atomic_write::io_error(path))?;
        let bad = |reason: String| Error::Config {
            path: path.into(),
            reason,
        };
        let mut config: Self = toml::from_str(&text).map_err(|err| bad(err.to_string()))?;
        let base = path.parent().unwrap_or(Path::new("."));
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base.join(p)
            }
        };
        config.output = resolve(&config.output);
        config.data.records = resolve(&config.data.records);
        config.data.pool = config.data.pool.as_deref().map(resolve);
        config.data.scores = config.data.scores.as_deref().map(resolve);
        config.encoder.path = resolve(&config.encoder.path);
        config.validate().map_err(bad)?;
        Ok(config)
    }

    /// Checks ranges; the message names the key.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let o = &self.optim;
        if !(o.lr > 0.0 && o.lr.is_finite()) {
            return Err(format!("optim.lr must be positive, got {}", o.lr));
        }
        if o.epochs == 0 || o.batch_size == 0 {
            return Err("optim.epochs and optim.batch_size must be at least 1".into());
        }
        if !(0.0..1.0).contains(&o.warmup_fraction) {
            return Err(format!(
                "optim.warmup_fraction must be in [0, 1), got {}",
                o.warmup_fraction
            ));
        }
        let (validation, test) = (self.data.validation_fraction, self.data.test_fraction);
        if !(0.0..1.0).contains(&validation)
            || !(0.0..1.0).contains(&test)
            || validation + test >= 1.0
        {
            return Err(format!(
                "data.validation_fraction ({validation}) and data.test_fraction ({test}) must \
                 each be in [0, 1) and leave prompts to train on (sum below 1)"
            ));
        }
        if self.data.pool.is_none() && self.data.rms.is_none() {
            return Err("data: give `pool` (an rm-pool TOML) or `rms` (the arms' names)".into());
        }
        let w = &self.loss;
        if [w.bt, w.cls, w.reg]
            .iter()
            .any(|x| !(*x >= 0.0 && x.is_finite()))
        {
            return Err("loss weights must be finite and non-negative".into());
        }
        if self.encoder.training == router_export::encoder::Training::Lora
            && self.encoder.lora.is_none()
        {
            return Err("encoder.training = \"lora\" needs an [encoder.lora] table".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let optim = OptimConfig {
            lr: 1.0,
            warmup_fraction: 0.1,
            ..OptimConfig::default()
        };
        assert_eq!(optim.lr_at(0, 100), 0.0);
        assert!((optim.lr_at(5, 100) - 0.5).abs() < 1e-12);
        assert!((optim.lr_at(10, 100) - 1.0).abs() < 1e-12);
        assert!((optim.lr_at(55, 100) - 0.5).abs() < 1e-12);
        let cosine = OptimConfig {
            schedule: Schedule::Cosine,
            ..optim.clone()
        };
        assert!((cosine.lr_at(55, 100) - 0.5).abs() < 1e-12);
        assert!(cosine.lr_at(99, 100) < 0.01);
        let constant = OptimConfig {
            schedule: Schedule::Constant,
            ..optim
        };
        assert_eq!(constant.lr_at(99, 100), 1.0);
    }
}
