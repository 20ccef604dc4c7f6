//! One optimiser step as trainers take it: gradients of a scalar loss, accumulated over
//! micro-batches, clipped by their global L2 norm (PyTorch's `clip_grad_norm_`, not burn's
//! per-tensor clipping), then an AdamW update (PyTorch's formula: decoupled weight decay,
//! bias-corrected moments, ε added to the corrected root).
//!
//! Only parameters that require gradients (the LoRA factors after
//! [`CausalLm::with_lora`](crate::CausalLm::with_lora), every parameter for full fine-tuning)
//! receive gradients and are updated.
//!
//! The update runs on many parameters at once, like PyTorch's multi-tensor (`foreach`)
//! AdamW: gradients, moments and parameters are handled as flat f32 vectors, one per bucket
//! of consecutive parameters (in module order) of up to [`BUCKET_ELEMENTS`] values, so a
//! step costs about a dozen tensor operations per bucket instead of ~15 per parameter. On a
//! GPU, where a small model's step is bound by kernel launches, that is the difference; on a
//! CPU, buckets of 16 MiB are recycled by the allocator where one vector of the whole model
//! (540 MB for SmolLM2-135M) is mapped afresh, page by page, for every intermediate
//! (docs/PERFORMANCE.md). Buckets are independent, so their operations are issued from
//! rayon's pool, one bucket per worker at a time: burn's flex CPU backend runs an element-wise
//! operation on the thread that calls it, so this is what spreads the update over the cores
//! (on a GPU, workers queue kernels on the same device). Moments are kept in f32 whatever the
//! parameters' float type.
//!
//! On burn-flex (the CPU) the clipping norm and the AdamW arithmetic instead run as single
//! fused passes over the buckets' host memory ([`fused`]), where the tensor form costs about
//! fifteen passes per bucket; the update is the same to f32 rounding.

mod buckets;
mod fused;
mod state_file;

use burn::module::Module;
use burn::optim::GradientsParams;
use burn::prelude::*;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

use buckets::{Layout, apply_update, flatten_gradients};
use fused::{AdamStep, HostBuckets};
use state_file::{SavedMoments, mismatch};

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

/// Values per flat bucket (16 MiB in f32). Small enough for glibc's malloc to serve it from
/// its heap once freed (its mapping threshold adapts up to 32 MiB), large enough that a
/// 135 M-parameter model needs a few dozen buckets. A parameter larger than this gets a
/// bucket of its own.
pub const BUCKET_ELEMENTS: usize = 1 << 22;

/// AdamW with global-norm clipping and gradient accumulation.
pub struct Optimizer {
    config: OptimizerConfig,
    moments: Option<Moments>,
    /// Moments read by [`Optimizer::load_state`], moved to the device at the next update.
    loaded: Option<SavedMoments>,
    /// The running micro-batch gradient sum, bucketed, with the parameters it covers.
    accumulated: Option<(Layout, Vec<Tensor<1>>)>,
    micro_steps: usize,
    steps: usize,
    /// [`BUCKET_ELEMENTS`], smaller in tests.
    bucket_elements: usize,
    /// Whether the fused host arithmetic may be used on flex (off in tests that compare it
    /// with the tensor form).
    fuse_on_host: bool,
}

/// The summed gradients of an update, per bucket: device tensors, or their values taken
/// into host memory for the fused arithmetic.
enum Gradients {
    Tensors(Vec<Tensor<1>>),
    Host(HostBuckets),
}

impl Gradients {
    fn device(&self) -> Device {
        match self {
            Self::Tensors(grads) => grads[0].device(),
            Self::Host(host) => host.device(),
        }
    }
}

/// First and second moments per bucket of the layout, `[bucket size]` each, f32.
struct Moments {
    first: Vec<Tensor<1>>,
    second: Vec<Tensor<1>>,
    shapes: Vec<Vec<usize>>,
    /// Updates folded into the moments (t in the bias corrections).
    time: usize,
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
        Ok(Self {
            config,
            moments: None,
            loaded: None,
            accumulated: None,
            micro_steps: 0,
            steps: 0,
            bucket_elements: BUCKET_ELEMENTS,
            fuse_on_host: true,
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
        self.step(model, grads, lr)
    }

    /// [`Optimizer::backward_step`] after the backward pass: accumulates `grads` (of
    /// `model`'s trainable parameters, e.g. from a backward the caller ran and timed
    /// itself) and, every `accumulation_steps`-th call, clips and applies the update.
    pub fn step<M: Module>(
        &mut self,
        model: M,
        grads: GradientsParams,
        lr: f64,
    ) -> (M, StepOutcome) {
        let (layout, flat) = flatten_gradients(&model, grads, self.bucket_elements);
        let sum = match self.accumulated.take() {
            None => flat,
            Some((pending, _)) if pending != layout => {
                return self.skip(
                    model,
                    "the trainable parameters changed between micro-batches".into(),
                );
            }
            Some((_, sum)) => sum.into_par_iter().zip(flat).map(|(a, b)| a + b).collect(),
        };
        self.accumulated = Some((layout, sum));
        self.micro_steps += 1;
        if self.micro_steps < self.config.accumulation_steps {
            return (model, StepOutcome::Accumulated);
        }
        let (layout, grads) = self.accumulated.take().expect("set above");
        self.micro_steps = 0;
        if layout.ids.is_empty() {
            return self.skip(model, "no parameter requires a gradient".into());
        }
        let n = self.config.accumulation_steps as f64;
        let grads = if self.fuse_on_host && fused::is_host(&grads[0].device()) {
            Gradients::Host(HostBuckets::take(grads))
        } else {
            Gradients::Tensors(grads)
        };
        let squares = match &grads {
            Gradients::Host(host) => host.sum_of_squares(),
            // Per-bucket sums of squares in parallel, added in bucket order.
            Gradients::Tensors(grads) => grads
                .par_iter()
                .map(|g| g.clone().square().sum())
                .collect::<Vec<_>>()
                .into_iter()
                .reduce(|a, b| a + b)
                .expect("at least one bucket")
                .into_scalar::<f64>(),
        };
        let grad_norm = squares.sqrt() / n;
        if !grad_norm.is_finite() {
            return self.skip(model, format!("gradient norm is {grad_norm}"));
        }
        let clip = match self.config.max_grad_norm {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        let update = match self.adam_update(&layout, grads, clip / n) {
            Ok(update) => update,
            Err(reason) => return self.skip(model, reason),
        };
        let decay = 1.0 - lr * f64::from(self.config.weight_decay);
        let model = apply_update(model, &layout, update, lr, decay);
        self.steps += 1;
        let report = StepReport {
            step: self.steps,
            grad_norm,
            clipped: clip < 1.0,
        };
        (model, StepOutcome::Updated(report))
    }

    /// Folds `grads` (per bucket, multiplied by `scale` first) into the moments and returns
    /// the bias-corrected step directions m̂ / (√v̂ + ε) per bucket (to be scaled by the
    /// learning rate), or why it cannot. The tensor form is written so that every operation
    /// but three per bucket can reuse its operand's buffer (burn mutates a tensor in place
    /// when nothing else holds it).
    fn adam_update(
        &mut self,
        layout: &Layout,
        grads: Gradients,
        scale: f64,
    ) -> std::result::Result<Vec<Tensor<1>>, String> {
        let (beta1, beta2) = (f64::from(self.config.beta1), f64::from(self.config.beta2));
        if let Some(saved) = self.loaded.take() {
            if saved.shapes != layout.shapes {
                let reason = mismatch(&saved.shapes, &layout.shapes);
                self.loaded = Some(saved);
                return Err(reason);
            }
            let device = grads.device();
            let buckets = |values: Vec<f32>| {
                let mut rest = values.as_slice();
                layout
                    .bucket_sizes()
                    .into_iter()
                    .map(|len| {
                        let (head, tail) = rest.split_at(len);
                        rest = tail;
                        Tensor::<1>::from_data(TensorData::new(head.to_vec(), [len]), &device)
                    })
                    .collect()
            };
            self.moments = Some(Moments {
                first: buckets(saved.first),
                second: buckets(saved.second),
                shapes: saved.shapes,
                time: saved.time,
            });
        }
        let (first, second, time) = match self.moments.take() {
            Some(moments) if moments.shapes != layout.shapes => {
                let reason = mismatch(&moments.shapes, &layout.shapes);
                self.moments = Some(moments);
                return Err(reason);
            }
            Some(moments) => (moments.first, moments.second, moments.time + 1),
            // Zero moments, as PyTorch starts: β·0 + x is exactly x.
            None => {
                let device = grads.device();
                let zeros = || {
                    layout
                        .bucket_sizes()
                        .into_iter()
                        .map(|len| Tensor::<1>::zeros([len], &device))
                        .collect::<Vec<_>>()
                };
                (zeros(), zeros(), 1)
            }
        };
        let correction1 = 1.0 - beta1.powi(time as i32);
        let correction2 = 1.0 - beta2.powi(time as i32);
        let epsilon = f64::from(self.config.epsilon);
        let updated: Vec<(Tensor<1>, (Tensor<1>, Tensor<1>))> = match grads {
            Gradients::Host(grads) => grads.adam(
                first,
                second,
                AdamStep {
                    scale: scale as f32,
                    beta1: beta1 as f32,
                    beta2: beta2 as f32,
                    correction1: correction1 as f32,
                    correction2_sqrt: correction2.sqrt() as f32,
                    epsilon: epsilon as f32,
                },
            ),
            Gradients::Tensors(grads) => grads
                .into_par_iter()
                .zip(first)
                .zip(second)
                .map(|((grad, first), second)| {
                    let grad = if scale == 1.0 { grad } else { grad * scale };
                    // v ← β2·v + (1 − β2)·g², then m ← β1·m + (1 − β1)·g (consuming g).
                    let second = second * beta2 + grad.clone().square() * (1.0 - beta2);
                    let first = first * beta1 + grad * (1.0 - beta1);
                    let denominator =
                        (second.clone().sqrt() / correction2.sqrt()).add_scalar(epsilon);
                    let direction = (first.clone() / correction1) / denominator;
                    (direction, (first, second))
                })
                .collect(),
        };
        let (directions, (first, second)) = updated.into_iter().unzip();
        self.moments = Some(Moments {
            first,
            second,
            shapes: layout.shapes.clone(),
            time,
        });
        Ok(directions)
    }

    fn skip<M>(&mut self, model: M, reason: String) -> (M, StepOutcome) {
        self.accumulated = None;
        self.micro_steps = 0;
        (model, StepOutcome::Skipped { reason })
    }

    /// Changes how many micro-batches make one update, e.g. for a step with fewer pairs than
    /// usual. Errors while micro-batch gradients are pending or for 0.
    pub fn set_accumulation_steps(&mut self, steps: usize) -> Result<()> {
        if steps == 0 || self.micro_steps != 0 {
            return Err(Error::Input {
                reason: format!(
                    "cannot set accumulation_steps to {steps} with {} micro-batches pending",
                    self.micro_steps
                ),
            });
        }
        self.config.accumulation_steps = steps;
        Ok(())
    }

    /// Updates taken so far.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use burn::module::{Param, ParamId};
    use burn::tensor::Tolerance;

    use super::*;

    /// Three trainable tensors of 12, 5 and 4 values.
    #[derive(Module, Debug)]
    struct Three {
        a: Param<Tensor<2>>,
        b: Param<Tensor<1>>,
        c: Param<Tensor<2>>,
    }

    fn three(device: &Device) -> Three {
        let values = |n: usize, offset: f32| -> Vec<f32> {
            (0..n).map(|i| offset + 0.37 * i as f32 - 1.1).collect()
        };
        Three {
            a: Param::from_data(TensorData::new(values(12, 0.2), [3, 4]), device),
            b: Param::from_data(TensorData::new(values(5, -0.4), [5]), device),
            c: Param::from_data(TensorData::new(values(4, 0.9), [2, 2]), device),
        }
    }

    /// Σ ½·k·θ² with k = 1, 2, 3 for a, b, c: gradients that change every step.
    fn loss(model: &Three) -> Tensor<1> {
        model.a.val().square().sum() * 0.5
            + model.b.val().square().sum()
            + model.c.val().square().sum() * 1.5
    }

    fn values(model: &Three) -> Vec<f32> {
        [
            model.a.val().reshape([12]),
            model.b.val(),
            model.c.val().reshape([4]),
        ]
        .into_iter()
        .flat_map(|t| t.into_data().try_to_vec::<f32>().unwrap())
        .collect()
    }

    #[test]
    fn fused_host_update_matches_the_tensor_form() {
        let device = Device::flex().autodiff();
        for bucket_elements in [usize::MAX, 9] {
            let mut tensor_form = optimizer(bucket_elements);
            tensor_form.fuse_on_host = false;
            let reference = train(three(&device), &mut tensor_form, 3);
            let fused = train(three(&device), &mut optimizer(bucket_elements), 3);
            assert_ne!(values(&fused), values(&three(&device)), "the model moved");
            TensorData::new(values(&fused), [21]).assert_approx_eq::<f32>(
                &TensorData::new(values(&reference), [21]),
                Tolerance::absolute(1e-6),
            );
        }
    }

    fn optimizer(bucket_elements: usize) -> Optimizer {
        let mut optimizer = Optimizer::new(OptimizerConfig {
            weight_decay: 0.1,
            ..OptimizerConfig::default()
        })
        .unwrap();
        optimizer.bucket_elements = bucket_elements;
        optimizer
    }

    /// Three updates (clipping active: the first gradients' norm exceeds 1).
    fn train(mut model: Three, optimizer: &mut Optimizer, steps: usize) -> Three {
        for _ in 0..steps {
            let value = loss(&model);
            let (next, outcome) = optimizer.backward_step(model, value, 0.05);
            assert!(matches!(outcome, StepOutcome::Updated(_)), "{outcome:?}");
            model = next;
        }
        model
    }

    #[test]
    fn buckets_group_whole_parameters_in_order() {
        let shapes = vec![vec![3, 4], vec![5], vec![2, 2]];
        let ids: Vec<ParamId> = (0..3).map(|_| ParamId::new()).collect();
        let buckets = |n| Layout::new(ids.clone(), shapes.clone(), n).buckets;
        assert_eq!(buckets(usize::MAX), vec![0..3]);
        assert_eq!(buckets(9), vec![0..1, 1..3]);
        assert_eq!(buckets(4), vec![0..1, 1..2, 2..3]);
        assert_eq!(Layout::new(ids, shapes, 9).bucket_sizes(), vec![12, 9]);
    }

    #[test]
    fn bucket_size_changes_neither_the_update_nor_the_saved_state() {
        let device = Device::flex().autodiff();
        let one_bucket = train(three(&device), &mut optimizer(usize::MAX), 3);
        for bucket_elements in [4, 9] {
            let mut split = optimizer(bucket_elements);
            let model = train(three(&device), &mut split, 2);
            // Saved with small buckets, resumed with one: the file is the same flat layout.
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("optimizer.safetensors");
            split.save_state(&path).unwrap();
            let mut resumed = optimizer(usize::MAX);
            resumed.load_state(&path, 2).unwrap();
            let model = train(model, &mut resumed, 1);
            TensorData::new(values(&model), [21]).assert_approx_eq::<f32>(
                &TensorData::new(values(&one_bucket), [21]),
                Tolerance::absolute(1e-6),
            );
        }
    }
}
