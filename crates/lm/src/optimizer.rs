//! One optimiser step as trainers take it: gradients of a scalar loss, accumulated over
//! micro-batches, clipped by their global L2 norm (PyTorch's `clip_grad_norm_`, not burn's
//! per-tensor clipping), then an AdamW update.
//!
//! Only parameters that require gradients (the LoRA factors after
//! [`CausalLm::with_lora`](crate::CausalLm::with_lora), every parameter for full fine-tuning)
//! receive gradients and are updated.

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// AdamW hyper-parameters, clipping and accumulation. Defaults are PyTorch's AdamW with
/// Hugging Face `TrainingArguments`' weight decay (0) and clipping (1.0).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OptimizerConfig {
    /// First-moment decay β1.
    pub beta1: f32,
    /// Second-moment decay β2.
    pub beta2: f32,
    /// Denominator term ε.
    pub epsilon: f32,
    /// Decoupled weight decay (fraction of the weight per unit learning rate).
    pub weight_decay: f32,
    /// Clip the global gradient L2 norm to this (`None`: no clipping).
    pub max_grad_norm: Option<f64>,
    /// Micro-batches whose gradients are averaged into one update.
    pub accumulation_steps: usize,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: Some(1.0),
            accumulation_steps: 1,
        }
    }
}

/// What an update did.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepReport {
    /// Updates taken so far, this one included.
    pub step: usize,
    /// Global L2 norm of the averaged gradients before clipping.
    pub grad_norm: f64,
    /// Whether clipping scaled the gradients down.
    pub clipped: bool,
}

/// What [`Optimizer::backward_step`] did with a loss.
#[derive(Clone, Debug, PartialEq)]
pub enum StepOutcome {
    /// Gradients were added to the running micro-batch sum; no update yet.
    Accumulated,
    /// An AdamW update was applied.
    Updated(StepReport),
    /// The loss or the gradients were not finite: nothing was applied, the pending
    /// micro-batch sum was dropped, and model and moments are as they were before the call.
    Skipped {
        /// What was not finite.
        reason: String,
    },
}

/// AdamW with global-norm clipping and gradient accumulation.
pub struct Optimizer {
    config: OptimizerConfig,
    adamw: ModuleOptimizer,
    accumulated: Option<GradientsParams>,
    micro_steps: usize,
    steps: usize,
}

impl Optimizer {
    /// A fresh optimiser (no moments yet).
    pub fn new(config: OptimizerConfig) -> Result<Self> {
        if config.accumulation_steps == 0 {
            return Err(Error::Input {
                reason: "optimizer accumulation_steps must be at least 1".into(),
            });
        }
        if let Some(norm) = config.max_grad_norm
            && !(norm > 0.0 && norm.is_finite())
        {
            return Err(Error::Input {
                reason: format!("optimizer max_grad_norm must be positive, got {norm}"),
            });
        }
        let adamw = AdamWConfig::new()
            .with_beta_1(config.beta1)
            .with_beta_2(config.beta2)
            .with_epsilon(config.epsilon)
            .with_weight_decay(config.weight_decay)
            .init();
        Ok(Self {
            config,
            adamw,
            accumulated: None,
            micro_steps: 0,
            steps: 0,
        })
    }

    /// Back-propagates `loss` (a one-element tensor on an autodiff device) into `model`'s
    /// trainable parameters and accumulates the gradients; every `accumulation_steps`-th
    /// call averages them, clips, and applies an AdamW update at learning rate `lr`.
    ///
    /// Returns the (possibly updated) model and what happened.
    pub fn backward_step<M: Module>(
        &mut self,
        model: M,
        loss: Tensor<1>,
        lr: f64,
    ) -> (M, StepOutcome) {
        let loss_value = loss.clone().into_scalar::<f64>();
        if !loss_value.is_finite() {
            return self.skip(model, format!("loss is {loss_value}"));
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        self.accumulated = Some(match self.accumulated.take() {
            None => grads,
            Some(sum) => add_grads(&model, sum, grads),
        });
        self.micro_steps += 1;
        if self.micro_steps < self.config.accumulation_steps {
            return (model, StepOutcome::Accumulated);
        }
        let mut grads = self.accumulated.take().unwrap_or_default();
        self.micro_steps = 0;
        let n = self.config.accumulation_steps as f64;
        let grad_norm = global_norm(&model, &grads) / n;
        if !grad_norm.is_finite() {
            return self.skip(model, format!("gradient norm is {grad_norm}"));
        }
        let clip = match self.config.max_grad_norm {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        scale_grads(&model, &mut grads, clip / n);
        let model = self.adamw.step(lr, model, grads);
        self.steps += 1;
        let report = StepReport {
            step: self.steps,
            grad_norm,
            clipped: clip < 1.0,
        };
        (model, StepOutcome::Updated(report))
    }

    fn skip<M>(&mut self, model: M, reason: String) -> (M, StepOutcome) {
        self.accumulated = None;
        self.micro_steps = 0;
        (model, StepOutcome::Skipped { reason })
    }

    /// Updates taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }

    /// Writes the AdamW moments to `path` (burn's burnpack format, keyed by parameter id),
    /// for a checkpoint; the update count is the caller's to keep ([`Optimizer::steps`]).
    /// Parameter ids survive only a model saved in burnpack too, so save the trainable
    /// module beside it that way.
    ///
    /// Errors while micro-batch gradients are pending: checkpoint after an update.
    pub fn save_state(&self, path: &std::path::Path) -> Result<()> {
        if self.micro_steps != 0 {
            return Err(Error::Input {
                reason: format!(
                    "optimizer state saved with {} of {} micro-batches pending",
                    self.micro_steps, self.config.accumulation_steps
                ),
            });
        }
        self.adamw
            .to_record()
            .save(path)
            .map_err(|err| Error::Config {
                reason: format!("writing optimizer state {}: {err}", path.display()),
            })
    }

    /// Restores moments written by [`Optimizer::save_state`] and the update count `steps`
    /// they were saved at; the next update continues as the saved optimiser would have.
    pub fn load_state(&mut self, path: &std::path::Path, steps: usize) -> Result<()> {
        let record = OptimizerRecord::load(path).map_err(|err| Error::Config {
            reason: format!("reading optimizer state {}: {err}", path.display()),
        })?;
        self.adamw = self.adamw.clone().load_record(record);
        self.accumulated = None;
        self.micro_steps = 0;
        self.steps = steps;
        Ok(())
    }
}

/// `a + b`, parameter by parameter.
fn add_grads<M: Module>(
    model: &M,
    mut a: GradientsParams,
    mut b: GradientsParams,
) -> GradientsParams {
    struct Add<'a> {
        a: &'a mut GradientsParams,
        b: &'a mut GradientsParams,
    }
    impl ModuleVisitor for Add<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            let sum = match (self.a.remove::<D>(param.id), self.b.remove::<D>(param.id)) {
                (Some(x), Some(y)) => x + y,
                (Some(x), None) | (None, Some(x)) => x,
                (None, None) => return,
            };
            self.a.register(param.id, sum);
        }
    }
    model.visit(&mut Add {
        a: &mut a,
        b: &mut b,
    });
    a
}

/// √(Σ over parameters of Σ g²), read back once.
fn global_norm<M: Module>(model: &M, grads: &GradientsParams) -> f64 {
    struct SquaredNorm<'a> {
        grads: &'a GradientsParams,
        total: Option<Tensor<1>>,
    }
    impl ModuleVisitor for SquaredNorm<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.get::<D>(param.id) {
                let squares = grad.square().sum();
                self.total = Some(match self.total.take() {
                    Some(total) => total + squares,
                    None => squares,
                });
            }
        }
    }
    let mut visitor = SquaredNorm { grads, total: None };
    model.visit(&mut visitor);
    visitor.total.map_or(0.0, |t| t.into_scalar::<f64>().sqrt())
}

/// Multiplies every gradient by `factor`.
fn scale_grads<M: Module>(model: &M, grads: &mut GradientsParams, factor: f64) {
    struct Scale<'a> {
        grads: &'a mut GradientsParams,
        factor: f64,
    }
    impl ModuleVisitor for Scale<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.remove::<D>(param.id) {
                self.grads.register(param.id, grad * self.factor);
            }
        }
    }
    if factor != 1.0 {
        model.visit(&mut Scale { grads, factor });
    }
}
