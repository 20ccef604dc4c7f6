//! LoRA: trainable low-rank updates on frozen projections, laid out as PEFT lays them out.
//!
//! An adapted projection computes `y = x·W + b + s · dropout(x)·A·B` with `A: [d_in, rank]`,
//! `B: [rank, d_out]` and `s = alpha / rank` (or `alpha / √rank` with rsLoRA). `B` starts at
//! zero, so a freshly adapted model computes exactly what the base computes; `A` starts
//! uniform in ±1/√d_in (PEFT's Kaiming-uniform default with a = √5), drawn from a seeded
//! ChaCha8 stream so that adapters are the same on every backend.
//!
//! The update is applied to activations (two thin matmuls) rather than merged into a dense
//! weight each step: its backward then costs `tokens · (d_in + d_out) · rank` instead of a
//! full weight-shaped gradient, and dropout on the adapter input (PEFT's `lora_dropout`)
//! stays possible. [`merge`] folds an adapter into its base weight for export.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::nn::linear;

/// Projections LoRA can adapt, by their Hugging Face / PEFT module names.
pub const LORA_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// Which projections get adapters, and how they are shaped and scaled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Rank r of each update.
    pub rank: usize,
    /// Scale numerator: the update is multiplied by `alpha / rank` (rsLoRA: `alpha / √rank`).
    pub alpha: f64,
    /// Dropout probability on the adapter's input while training (0 = none).
    #[serde(default)]
    pub dropout: f64,
    /// Module names to adapt, from [`LORA_TARGETS`]; PEFT's `target_modules`.
    #[serde(default = "default_targets")]
    pub target_modules: Vec<String>,
    /// rsLoRA scaling (`alpha / √rank`), PEFT's `use_rslora`.
    #[serde(default)]
    pub use_rslora: bool,
    /// Seed of the `A` initialisation.
    #[serde(default)]
    pub seed: u64,
}

fn default_targets() -> Vec<String> {
    vec!["q_proj".into(), "v_proj".into()]
}

impl LoraConfig {
    /// Rank `rank`, `alpha`, no dropout, on q and v (PEFT's default for Llama-family models).
    pub fn new(rank: usize, alpha: f64) -> Self {
        Self {
            rank,
            alpha,
            dropout: 0.0,
            target_modules: default_targets(),
            use_rslora: false,
            seed: 0,
        }
    }

    /// Checks ranges and target names.
    pub fn validate(&self) -> Result<()> {
        let invalid = |reason: String| Err(Error::Input { reason });
        if self.rank == 0 {
            return invalid("LoRA rank must be at least 1".into());
        }
        if !self.alpha.is_finite() {
            return invalid(format!("LoRA alpha must be finite, got {}", self.alpha));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return invalid(format!(
                "LoRA dropout must be in [0, 1), got {}",
                self.dropout
            ));
        }
        if self.target_modules.is_empty() {
            return invalid("LoRA target_modules is empty".into());
        }
        if let Some(unknown) = self
            .target_modules
            .iter()
            .find(|t| !LORA_TARGETS.contains(&t.as_str()))
        {
            return invalid(format!(
                "unknown LoRA target module {unknown:?}; known: {}",
                LORA_TARGETS.join(", ")
            ));
        }
        Ok(())
    }

    /// The factor `s` the update is multiplied by.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.alpha / (self.rank as f64).sqrt()
        } else {
            self.alpha / self.rank as f64
        }
    }

    /// Whether the projection called `name` gets an adapter.
    pub(crate) fn targets(&self, name: &str) -> bool {
        self.target_modules.iter().any(|t| t == name)
    }
}

/// Draws adapter initialisations in a fixed order (layer by layer, projection by
/// projection), so a seed fixes every adapter.
pub(crate) struct LoraInit {
    config: LoraConfig,
    rng: ChaCha8Rng,
}

impl LoraInit {
    pub(crate) fn new(config: &LoraConfig) -> Self {
        Self {
            config: config.clone(),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
        }
    }

    /// An adapter for the projection `name` (`linear`), in its weight's float type and on
    /// its device, or `None` when `name` is not a target.
    pub(crate) fn adapter(&mut self, name: &str, linear: &Linear) -> Option<LoraAdapter> {
        if !self.config.targets(name) {
            return None;
        }
        let weight = linear.weight.val();
        let ([d_in, d_out], dtype, device) = (weight.dims(), weight.dtype(), weight.device());
        let rank = self.config.rank;
        let bound = 1.0 / (d_in as f32).sqrt();
        let a: Vec<f32> = (0..d_in * rank)
            .map(|_| self.rng.random_range(-bound..bound))
            .collect();
        let a = Tensor::<2>::from_data(TensorData::new(a, [d_in, rank]), &device);
        Some(LoraAdapter::from_factors(
            a.cast(dtype),
            Tensor::<2>::zeros([rank, d_out], &device).cast(dtype),
            self.config.scale(),
            self.config.dropout,
        ))
    }
}

/// One projection's low-rank update.
#[derive(Module, Debug)]
pub(crate) struct LoraAdapter {
    /// Down-projection `A`, `[d_in, rank]` (PEFT's `lora_A.weight` transposed).
    pub(crate) a: Param<Tensor<2>>,
    /// Up-projection `B`, `[rank, d_out]` (PEFT's `lora_B.weight` transposed).
    pub(crate) b: Param<Tensor<2>>,
    /// `s`: alpha / rank (or alpha / √rank).
    scale: f64,
    dropout: Dropout,
}

impl LoraAdapter {
    /// An adapter with the given factors (trainable on an autodiff device).
    pub(crate) fn from_factors(a: Tensor<2>, b: Tensor<2>, scale: f64, dropout: f64) -> Self {
        let trainable = |t: Tensor<2>| {
            if t.device().is_autodiff() {
                t.require_grad()
            } else {
                t
            }
        };
        Self {
            a: Param::from_tensor(trainable(a)),
            b: Param::from_tensor(trainable(b)),
            scale,
            dropout: DropoutConfig::new(dropout).init(),
        }
    }

    /// The update for input `x`: `s · dropout(x)·A·B`.
    ///
    /// # Shapes
    /// `[batch_size, seq_len, d_in]` -> `[batch_size, seq_len, d_out]`.
    fn delta(&self, x: Tensor<3>) -> Tensor<3> {
        let down = linear::linear(self.dropout.forward(x), self.a.val(), None);
        linear::linear(down, self.b.val(), None) * self.scale
    }
}

/// `layer` with `adapter` folded in — `W + s·A·B` in burn's `[d_in, d_out]` layout — or
/// unchanged without one.
pub(crate) fn merge(layer: Linear, adapter: Option<LoraAdapter>) -> Linear {
    let Some(adapter) = adapter else {
        return layer;
    };
    let delta = adapter.a.val().matmul(adapter.b.val()) * adapter.scale;
    Linear {
        weight: layer.weight.map(|w| {
            let dtype = w.dtype();
            (w + delta.cast(dtype)).detach()
        }),
        bias: layer.bias,
    }
}

/// `layer(x)`, plus the adapter's update when there is one.
///
/// # Shapes
/// `[batch_size, seq_len, d_in]` -> `[batch_size, seq_len, d_out]`.
pub(crate) fn project(layer: &Linear, adapter: Option<&LoraAdapter>, x: Tensor<3>) -> Tensor<3> {
    match adapter {
        None => linear::apply(layer, x),
        Some(adapter) => linear::apply(layer, x.clone()) + adapter.delta(x),
    }
}
