//! One optimiser step as trainers take it: gradients of a scalar loss, accumulated over
//! micro-batches, clipped by their global L2 norm (PyTorch's `clip_grad_norm_`, not burn's
//! per-tensor clipping), then an AdamW update (PyTorch's formula: decoupled weight decay,
//! bias-corrected moments, ε added to the corrected root).
//!
//! Only parameters that require gradients (the LoRA factors after
//! [`CausalLm::with_lora`](crate::CausalLm::with_lora), every parameter for full fine-tuning)
//! receive gradients and are updated.
//!
//! The update runs on all trainable parameters at once, like PyTorch's multi-tensor
//! (`foreach`) AdamW: gradients, moments and parameters are handled as flat f32 vectors in
//! the module's parameter order, so a step costs a few dozen tensor operations instead of
//! ~15 per parameter. On a GPU, where a small model's step is bound by kernel launches, that
//! is the difference (docs/PERFORMANCE.md). Moments are kept in f32 whatever the parameters'
//! float type.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::DType;
use safetensors::{Dtype, tensor::TensorView};
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
    moments: Option<Moments>,
    /// Moments read by [`Optimizer::load_state`], moved to the device at the next update.
    loaded: Option<SavedMoments>,
    /// The running micro-batch gradient sum, flat, with the parameters it covers.
    accumulated: Option<(Layout, Tensor<1>)>,
    micro_steps: usize,
    steps: usize,
}

/// The trainable parameters in module order: their ids and shapes.
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    ids: Vec<ParamId>,
    shapes: Vec<Vec<usize>>,
}

impl Layout {
    fn numels(&self) -> Vec<usize> {
        self.shapes.iter().map(|s| s.iter().product()).collect()
    }
}

/// First and second moments over the flat parameter vector, `[n]` each, f32.
struct Moments {
    first: Tensor<1>,
    second: Tensor<1>,
    shapes: Vec<Vec<usize>>,
    /// Updates folded into the moments (t in the bias corrections).
    time: usize,
}

/// Moments as read from a file, before the device is known.
struct SavedMoments {
    first: Vec<f32>,
    second: Vec<f32>,
    shapes: Vec<Vec<usize>>,
    time: usize,
}

/// The metadata of a saved state.
#[derive(Serialize, Deserialize)]
struct StateHeader {
    format: String,
    time: usize,
    shapes: Vec<Vec<usize>>,
}

/// `format` of a saved optimiser state.
const STATE_FORMAT: &str = "lm-adamw-flat-v1";

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
        let (layout, flat) = flatten_gradients(&model, grads);
        let sum = match self.accumulated.take() {
            None => flat,
            Some((pending, _)) if pending != layout => {
                return self.skip(
                    model,
                    "the trainable parameters changed between micro-batches".into(),
                );
            }
            Some((_, sum)) => sum + flat,
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
        let grad_norm = grads.clone().square().sum().into_scalar::<f64>().sqrt() / n;
        if !grad_norm.is_finite() {
            return self.skip(model, format!("gradient norm is {grad_norm}"));
        }
        let clip = match self.config.max_grad_norm {
            Some(max) if grad_norm > max => max / (grad_norm + 1e-6),
            _ => 1.0,
        };
        let grads = if clip / n == 1.0 {
            grads
        } else {
            grads * (clip / n)
        };
        let update = match self.adam_update(&layout, grads) {
            Ok(update) => update,
            Err(reason) => return self.skip(model, reason),
        };
        let decay = 1.0 - lr * f64::from(self.config.weight_decay);
        let model = apply_update(model, &layout, update * lr, decay);
        self.steps += 1;
        let report = StepReport {
            step: self.steps,
            grad_norm,
            clipped: clip < 1.0,
        };
        (model, StepOutcome::Updated(report))
    }

    /// Folds `grads` into the moments and returns the bias-corrected step direction
    /// m̂ / (√v̂ + ε) (to be scaled by the learning rate), or why it cannot.
    fn adam_update(
        &mut self,
        layout: &Layout,
        grads: Tensor<1>,
    ) -> std::result::Result<Tensor<1>, String> {
        let (beta1, beta2) = (f64::from(self.config.beta1), f64::from(self.config.beta2));
        if let Some(saved) = self.loaded.take() {
            let device = grads.device();
            let flat = |values: Vec<f32>| {
                let len = values.len();
                Tensor::<1>::from_data(TensorData::new(values, [len]), &device)
            };
            self.moments = Some(Moments {
                first: flat(saved.first),
                second: flat(saved.second),
                shapes: saved.shapes,
                time: saved.time,
            });
        }
        let moments = match self.moments.take() {
            Some(moments) if moments.shapes != layout.shapes => {
                let reason = mismatch(&moments.shapes, &layout.shapes);
                self.moments = Some(moments);
                return Err(reason);
            }
            Some(moments) => Moments {
                first: moments.first * beta1 + grads.clone() * (1.0 - beta1),
                second: moments.second * beta2 + grads.square() * (1.0 - beta2),
                shapes: moments.shapes,
                time: moments.time + 1,
            },
            None => Moments {
                first: grads.clone() * (1.0 - beta1),
                second: grads.square() * (1.0 - beta2),
                shapes: layout.shapes.clone(),
                time: 1,
            },
        };
        let time = moments.time as i32;
        let correction1 = 1.0 - beta1.powi(time);
        let correction2 = 1.0 - beta2.powi(time);
        let denominator = (moments.second.clone().sqrt() / correction2.sqrt())
            .add_scalar(f64::from(self.config.epsilon));
        let direction = (moments.first.clone() / correction1) / denominator;
        self.moments = Some(moments);
        Ok(direction)
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

    /// Writes the AdamW moments to `path` as safetensors (`exp_avg`, `exp_avg_sq`: f32
    /// `[n]` over the trainable parameters in module order; metadata: the parameters'
    /// shapes and the update count t), for a checkpoint. The model is saved separately.
    ///
    /// Errors while micro-batch gradients are pending: checkpoint after an update.
    pub fn save_state(&self, path: &Path) -> Result<()> {
        if self.micro_steps != 0 {
            return Err(Error::Input {
                reason: format!(
                    "optimizer state saved with {} of {} micro-batches pending",
                    self.micro_steps, self.config.accumulation_steps
                ),
            });
        }
        let fail = |reason: String| Error::Weights {
            reason: format!("writing optimizer state {}: {reason}", path.display()),
        };
        let (first, second, shapes, time) = match (&self.moments, &self.loaded) {
            (Some(m), _) => (
                m.first
                    .clone()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| fail(format!("{e:?}")))?,
                m.second
                    .clone()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| fail(format!("{e:?}")))?,
                m.shapes.clone(),
                m.time,
            ),
            (None, Some(saved)) => (
                saved.first.clone(),
                saved.second.clone(),
                saved.shapes.clone(),
                saved.time,
            ),
            (None, None) => (Vec::new(), Vec::new(), Vec::new(), 0),
        };
        let header = StateHeader {
            format: STATE_FORMAT.into(),
            time,
            shapes,
        };
        let header = serde_json::to_string(&header).map_err(|e| fail(e.to_string()))?;
        let bytes =
            |values: &[f32]| -> Vec<u8> { values.iter().flat_map(|v| v.to_le_bytes()).collect() };
        let (first_bytes, second_bytes) = (bytes(&first), bytes(&second));
        let views = [
            ("exp_avg", &first_bytes, first.len()),
            ("exp_avg_sq", &second_bytes, second.len()),
        ]
        .into_iter()
        .map(|(name, data, len)| {
            TensorView::new(Dtype::F32, vec![len], data)
                .map(|view| (name.to_string(), view))
                .map_err(|e| fail(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
        let metadata = HashMap::from([("optimizer".to_string(), header)]);
        safetensors::serialize_to_file(views, Some(metadata), path).map_err(|e| fail(e.to_string()))
    }

    /// Restores moments written by [`Optimizer::save_state`] and the update count `steps`
    /// they were saved at; the next update continues as the saved optimiser would have. The
    /// parameters' shapes are checked against the model's at that update (a mismatch skips
    /// it, naming the first differing parameter).
    pub fn load_state(&mut self, path: &Path, steps: usize) -> Result<()> {
        let fail = |reason: String| Error::Weights {
            reason: format!("reading optimizer state {}: {reason}", path.display()),
        };
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let (_, metadata) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| fail(e.to_string()))?;
        let header: StateHeader = metadata
            .metadata()
            .as_ref()
            .and_then(|m| m.get("optimizer"))
            .ok_or_else(|| fail("no `optimizer` metadata (not an lm optimizer state)".into()))
            .and_then(|text| serde_json::from_str(text).map_err(|e| fail(e.to_string())))?;
        if header.format != STATE_FORMAT {
            return Err(fail(format!(
                "format {:?}, expected {STATE_FORMAT:?}",
                header.format
            )));
        }
        let file =
            safetensors::SafeTensors::deserialize(&bytes).map_err(|e| fail(e.to_string()))?;
        let expected: usize = header
            .shapes
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum();
        let read = |name: &str| -> Result<Vec<f32>> {
            let view = file
                .tensor(name)
                .map_err(|e| fail(format!("{name}: {e}")))?;
            if view.dtype() != Dtype::F32 || view.shape() != [expected] {
                return Err(fail(format!(
                    "{name}: {:?} {:?}, expected F32 [{expected}]",
                    view.dtype(),
                    view.shape()
                )));
            }
            Ok(view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        };
        let (first, second) = (read("exp_avg")?, read("exp_avg_sq")?);
        self.moments = None;
        self.loaded = (header.time > 0).then_some(SavedMoments {
            first,
            second,
            shapes: header.shapes,
            time: header.time,
        });
        self.accumulated = None;
        self.micro_steps = 0;
        self.steps = steps;
        Ok(())
    }
}

/// Why saved moments do not fit the model's trainable parameters.
fn mismatch(saved: &[Vec<usize>], model: &[Vec<usize>]) -> String {
    match saved.iter().zip(model).position(|(a, b)| a != b) {
        Some(i) => format!(
            "optimizer moments do not fit the model: trainable parameter {i} has shape {:?}, \
             the moments were for {:?}",
            model[i], saved[i]
        ),
        None => format!(
            "optimizer moments do not fit the model: {} trainable parameters, the moments \
             were for {}",
            model.len(),
            saved.len()
        ),
    }
}

/// The gradients of the parameters that have one, in module order, as one flat f32 vector
/// (one concatenation and at most one cast when they share a float type).
fn flatten_gradients<M: Module>(model: &M, mut grads: GradientsParams) -> (Layout, Tensor<1>) {
    struct Collect<'a> {
        grads: &'a mut GradientsParams,
        layout: Layout,
        flat: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.remove::<D>(param.id) {
                let shape = grad.dims().to_vec();
                let numel: usize = shape.iter().product();
                self.layout.ids.push(param.id);
                self.layout.shapes.push(shape);
                self.flat.push(grad.reshape([numel]));
            }
        }
    }
    let mut collect = Collect {
        grads: &mut grads,
        layout: Layout {
            ids: Vec::new(),
            shapes: Vec::new(),
        },
        flat: Vec::new(),
    };
    model.visit(&mut collect);
    let Collect { layout, flat, .. } = collect;
    (layout, concat_f32(flat))
}

/// `parts` concatenated and cast to f32.
fn concat_f32(parts: Vec<Tensor<1>>) -> Tensor<1> {
    if parts.is_empty() {
        return Tensor::empty([0], &Default::default());
    }
    if parts.windows(2).all(|w| w[0].dtype() == w[1].dtype()) {
        let flat = Tensor::cat(parts, 0);
        if flat.dtype() == DType::F32 {
            flat
        } else {
            flat.cast(DType::F32)
        }
    } else {
        Tensor::cat(parts.into_iter().map(|p| p.cast(DType::F32)).collect(), 0)
    }
}

/// θ ← decay·θ − step for the parameters in `layout`, with `step` flat over them: one
/// concatenation of the parameters, the arithmetic in f32, one cast back and one split.
fn apply_update<M: Module>(model: M, layout: &Layout, step: Tensor<1>, decay: f64) -> M {
    struct Gather<'a> {
        wanted: &'a Layout,
        values: HashMap<ParamId, Tensor<1>>,
        dtypes: Vec<DType>,
    }
    impl ModuleVisitor for Gather<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if self.wanted.ids.contains(&param.id) {
                let value = param.val().inner();
                self.dtypes.push(value.dtype());
                let numel = value.shape().num_elements();
                self.values.insert(param.id, value.reshape([numel]));
            }
        }
    }
    let mut gather = Gather {
        wanted: layout,
        values: HashMap::new(),
        dtypes: Vec::new(),
    };
    model.visit(&mut gather);
    let Gather {
        mut values, dtypes, ..
    } = gather;
    let parts: Vec<Tensor<1>> = layout
        .ids
        .iter()
        .map(|id| values.remove(id).expect("every id has a value"))
        .collect();
    let params = concat_f32(parts);
    let params = if decay == 1.0 { params } else { params * decay };
    let updated = params - step;
    let common = dtypes
        .first()
        .copied()
        .filter(|d| dtypes.iter().all(|x| x == d));
    let updated = match common {
        Some(DType::F32) | None => updated,
        Some(dtype) => updated.cast(dtype),
    };
    let chunks: HashMap<ParamId, Tensor<1>> = layout
        .ids
        .iter()
        .copied()
        .zip(updated.split_with_sizes(layout.numels(), 0))
        .collect();

    struct Assign {
        chunks: HashMap<ParamId, Tensor<1>>,
    }
    impl ModuleMapper for Assign {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let Some(chunk) = self.chunks.remove(&param.id) else {
                return param;
            };
            param.map(|old| {
                let require_grad = old.is_require_grad();
                let dtype = old.dtype();
                let chunk = if chunk.dtype() == dtype {
                    chunk
                } else {
                    chunk.cast(dtype)
                };
                let new = Tensor::from_inner(chunk.reshape(old.dims()));
                if require_grad {
                    new.require_grad()
                } else {
                    new
                }
            })
        }
    }
    model.map(&mut Assign { chunks })
}
