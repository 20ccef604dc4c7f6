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

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;
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
}

/// The trainable parameters in module order: their ids and shapes, and how they are
/// grouped into flat buckets.
#[derive(Clone, Debug, PartialEq)]
struct Layout {
    ids: Vec<ParamId>,
    shapes: Vec<Vec<usize>>,
    /// Consecutive runs of parameter indices, each one flat vector.
    buckets: Vec<Range<usize>>,
}

impl Layout {
    /// The parameters `shapes` (with `ids`) in buckets of up to `bucket_elements` values.
    fn new(ids: Vec<ParamId>, shapes: Vec<Vec<usize>>, bucket_elements: usize) -> Self {
        let mut buckets: Vec<Range<usize>> = Vec::new();
        let mut filled = 0;
        for (i, shape) in shapes.iter().enumerate() {
            let numel: usize = shape.iter().product();
            match buckets.last_mut() {
                Some(last) if filled + numel <= bucket_elements => {
                    last.end = i + 1;
                    filled += numel;
                }
                _ => {
                    buckets.push(i..i + 1);
                    filled = numel;
                }
            }
        }
        Self {
            ids,
            shapes,
            buckets,
        }
    }

    fn numels(&self) -> Vec<usize> {
        self.shapes.iter().map(|s| s.iter().product()).collect()
    }

    /// Values per bucket.
    fn bucket_sizes(&self) -> Vec<usize> {
        let numels = self.numels();
        self.buckets
            .iter()
            .map(|range| numels[range.clone()].iter().sum())
            .collect()
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
            bucket_elements: BUCKET_ELEMENTS,
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
        // Per-bucket sums of squares in parallel, added in bucket order.
        let squares = grads
            .par_iter()
            .map(|g| g.clone().square().sum())
            .collect::<Vec<_>>()
            .into_iter()
            .reduce(|a, b| a + b)
            .expect("at least one bucket");
        let grad_norm = squares.into_scalar::<f64>().sqrt() / n;
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
            grads.into_par_iter().map(|g| g * (clip / n)).collect()
        };
        let update = match self.adam_update(&layout, grads) {
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

    /// Folds `grads` (per bucket) into the moments and returns the bias-corrected step
    /// directions m̂ / (√v̂ + ε) per bucket (to be scaled by the learning rate), or why it
    /// cannot. Written so that every operation but three per bucket can reuse its operand's
    /// buffer (burn mutates a tensor in place when nothing else holds it).
    fn adam_update(
        &mut self,
        layout: &Layout,
        grads: Vec<Tensor<1>>,
    ) -> std::result::Result<Vec<Tensor<1>>, String> {
        let (beta1, beta2) = (f64::from(self.config.beta1), f64::from(self.config.beta2));
        if let Some(saved) = self.loaded.take() {
            if saved.shapes != layout.shapes {
                let reason = mismatch(&saved.shapes, &layout.shapes);
                self.loaded = Some(saved);
                return Err(reason);
            }
            let device = grads[0].device();
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
                let zeros = || grads.iter().map(Tensor::zeros_like).collect::<Vec<_>>();
                (zeros(), zeros(), 1)
            }
        };
        let correction1 = 1.0 - beta1.powi(time as i32);
        let correction2 = 1.0 - beta2.powi(time as i32);
        let epsilon = f64::from(self.config.epsilon);
        let updated: Vec<(Tensor<1>, (Tensor<1>, Tensor<1>))> = grads
            .into_par_iter()
            .zip(first)
            .zip(second)
            .map(|((grad, first), second)| {
                // v ← β2·v + (1 − β2)·g², then m ← β1·m + (1 − β1)·g (consuming g).
                let second = second * beta2 + grad.clone().square() * (1.0 - beta2);
                let first = first * beta1 + grad * (1.0 - beta1);
                let denominator = (second.clone().sqrt() / correction2.sqrt()).add_scalar(epsilon);
                let direction = (first.clone() / correction1) / denominator;
                (direction, (first, second))
            })
            .collect();
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
        // The buckets end to end: the file does not depend on the bucket size.
        let flat = |buckets: &[Tensor<1>]| -> Result<Vec<f32>> {
            let mut values = Vec::new();
            for bucket in buckets {
                let part = bucket
                    .clone()
                    .try_into_vec_as::<f32>()
                    .map_err(|e| fail(format!("{e:?}")))?;
                values.extend(part);
            }
            Ok(values)
        };
        let (first, second, shapes, time) = match (&self.moments, &self.loaded) {
            (Some(m), _) => (flat(&m.first)?, flat(&m.second)?, m.shapes.clone(), m.time),
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

/// The gradients of the parameters that have one, in module order, as flat f32 vectors per
/// bucket of at most `bucket_elements` values (one concatenation and at most one cast each
/// when they share a float type).
fn flatten_gradients<M: Module>(
    model: &M,
    mut grads: GradientsParams,
    bucket_elements: usize,
) -> (Layout, Vec<Tensor<1>>) {
    struct Collect<'a> {
        grads: &'a mut GradientsParams,
        ids: Vec<ParamId>,
        shapes: Vec<Vec<usize>>,
        flat: Vec<Tensor<1>>,
    }
    impl ModuleVisitor for Collect<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if let Some(grad) = self.grads.remove::<D>(param.id) {
                let shape = grad.dims().to_vec();
                let numel: usize = shape.iter().product();
                self.ids.push(param.id);
                self.shapes.push(shape);
                self.flat.push(grad.reshape([numel]));
            }
        }
    }
    let mut collect = Collect {
        grads: &mut grads,
        ids: Vec::new(),
        shapes: Vec::new(),
        flat: Vec::new(),
    };
    model.visit(&mut collect);
    let Collect {
        ids, shapes, flat, ..
    } = collect;
    let layout = Layout::new(ids, shapes, bucket_elements);
    let buckets = split_into_buckets(flat, &layout.buckets)
        .into_par_iter()
        .map(concat_f32)
        .collect();
    (layout, buckets)
}

/// `items` (one per parameter) grouped by `buckets`.
fn split_into_buckets<T>(items: Vec<T>, buckets: &[Range<usize>]) -> Vec<Vec<T>> {
    let mut items = items.into_iter();
    buckets
        .iter()
        .map(|range| items.by_ref().take(range.len()).collect())
        .collect()
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

/// θ ← decay·θ − lr·direction for the parameters in `layout`, with `directions` flat per
/// bucket: per bucket one concatenation of the parameters, the arithmetic in f32, one cast
/// back and one split.
fn apply_update<M: Module>(
    model: M,
    layout: &Layout,
    directions: Vec<Tensor<1>>,
    lr: f64,
    decay: f64,
) -> M {
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
    let common = dtypes
        .first()
        .copied()
        .filter(|d| dtypes.iter().all(|x| x == d));
    let numels = layout.numels();
    let updated: Vec<Vec<Tensor<1>>> = layout
        .buckets
        .par_iter()
        .zip(split_into_buckets(parts, &layout.buckets))
        .zip(directions)
        .map(|((range, parts), direction)| {
            let params = concat_f32(parts);
            let params = if decay == 1.0 { params } else { params * decay };
            let updated = params - direction * lr;
            let updated = match common {
                Some(DType::F32) | None => updated,
                Some(dtype) => updated.cast(dtype),
            };
            updated.split_with_sizes(numels[range.clone()].to_vec(), 0)
        })
        .collect();
    let chunks: HashMap<ParamId, Tensor<1>> = layout
        .ids
        .iter()
        .copied()
        .zip(updated.into_iter().flatten())
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

#[cfg(test)]
mod tests {
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
