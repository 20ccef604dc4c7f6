//! The bucket plumbing of the multi-tensor update: which trainable parameters form which
//! flat bucket, their gradients flattened per bucket, and the update applied back to the
//! parameters.

use std::collections::HashMap;
use std::ops::Range;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

/// The trainable parameters in module order: their ids and shapes, and how they are
/// grouped into flat buckets.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Layout {
    pub(super) ids: Vec<ParamId>,
    pub(super) shapes: Vec<Vec<usize>>,
    /// Consecutive runs of parameter indices, each one flat vector.
    pub(super) buckets: Vec<Range<usize>>,
}

impl Layout {
    /// The parameters `shapes` (with `ids`) in buckets of up to `bucket_elements` values.
    pub(super) fn new(ids: Vec<ParamId>, shapes: Vec<Vec<usize>>, bucket_elements: usize) -> Self {
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
    pub(super) fn bucket_sizes(&self) -> Vec<usize> {
        let numels = self.numels();
        self.buckets
            .iter()
            .map(|range| numels[range.clone()].iter().sum())
            .collect()
    }
}

/// The gradients of the parameters that have one, in module order, as flat f32 vectors per
/// bucket of at most `bucket_elements` values (one concatenation and at most one cast each
/// when they share a float type).
pub(super) fn flatten_gradients<M: Module>(
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
pub(super) fn apply_update<M: Module>(
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
