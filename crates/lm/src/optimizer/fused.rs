//! The clipping norm and the AdamW arithmetic as single passes over host memory, for burn's
//! flex CPU backend.
//!
//! On flex each tensor operation is its own pass over memory, on the calling thread, into a
//! fresh buffer unless it owns its operand: the tensor form of the update
//! ([`super::Optimizer`]) reads and writes every bucket about fifteen times. Here a bucket's
//! gradient and moments are taken out of their tensors without copying (flex hands over a
//! buffer nothing else holds), updated together in one loop split over rayon's pool, and the
//! step directions are written over the gradients' buffer, which goes back into a tensor
//! without copying. The arithmetic is the tensor form's, operation for operation, in f32.

use burn::prelude::*;
use rayon::prelude::*;

/// Values per rayon task: large enough to amortise the task, small enough to balance.
const CHUNK: usize = 1 << 16;

/// Whether `device` keeps tensors in host memory that [`HostBuckets`] can borrow: burn-flex.
pub(super) fn is_host(device: &Device) -> bool {
    *device == Device::flex()
}

/// The coefficients of one AdamW update, f32 as the arithmetic runs.
#[derive(Clone, Copy, Debug)]
pub(super) struct AdamStep {
    /// Factor applied to the summed gradients first (clipping ÷ micro-batches).
    pub(super) scale: f32,
    pub(super) beta1: f32,
    pub(super) beta2: f32,
    /// 1 − β1ᵗ.
    pub(super) correction1: f32,
    /// √(1 − β2ᵗ).
    pub(super) correction2_sqrt: f32,
    pub(super) epsilon: f32,
}

/// Flat f32 gradient buckets taken out of their flex tensors.
pub(super) struct HostBuckets {
    buckets: Vec<TensorData>,
    device: Device,
}

impl HostBuckets {
    /// Takes the buckets' values (flex tensors, f32 `[len]`); no copy when nothing else
    /// holds them.
    pub(super) fn take(buckets: Vec<Tensor<1>>) -> Self {
        let device = buckets.first().map(Tensor::device).unwrap_or_default();
        let buckets = buckets.into_par_iter().map(Tensor::into_data).collect();
        Self { buckets, device }
    }

    /// Where the buckets' tensors came from.
    pub(super) fn device(&self) -> Device {
        self.device.clone()
    }

    /// Σ g² over every bucket, accumulated in f64. Chunks are summed in parallel but added
    /// in a fixed order (rayon's own reduction order depends on work stealing), so a run
    /// is reproducible bit for bit.
    pub(super) fn sum_of_squares(&self) -> f64 {
        self.buckets
            .iter()
            .flat_map(|bucket| values(bucket).chunks(CHUNK))
            .collect::<Vec<_>>()
            .par_iter()
            .map(|chunk| chunk.iter().map(|&g| f64::from(g * g)).sum::<f64>())
            .collect::<Vec<_>>()
            .into_iter()
            .sum()
    }

    /// Folds the gradients into the moments (`first`, `second`: one f32 `[len]` tensor per
    /// bucket, consumed) and returns per bucket the step directions m̂ / (√v̂ + ε) and the
    /// new moments, as tensors on the gradients' device.
    pub(super) fn adam(
        self,
        first: Vec<Tensor<1>>,
        second: Vec<Tensor<1>>,
        step: AdamStep,
    ) -> Vec<(Tensor<1>, (Tensor<1>, Tensor<1>))> {
        let device = self.device;
        self.buckets
            .into_par_iter()
            .zip(first)
            .zip(second)
            .map(|((mut grad, first), second)| {
                let (mut first, mut second) = (first.into_data(), second.into_data());
                update_bucket(
                    values_mut(&mut grad),
                    values_mut(&mut first),
                    values_mut(&mut second),
                    step,
                );
                let tensor = |data| Tensor::<1>::from_data(data, &device);
                (tensor(grad), (tensor(first), tensor(second)))
            })
            .collect()
    }
}

/// One bucket in place: `grad` becomes the step direction, `first` and `second` the new
/// moments (all `[len]`).
fn update_bucket(grad: &mut [f32], first: &mut [f32], second: &mut [f32], step: AdamStep) {
    let AdamStep {
        scale,
        beta1,
        beta2,
        correction1,
        correction2_sqrt,
        epsilon,
    } = step;
    grad.par_chunks_mut(CHUNK)
        .zip(first.par_chunks_mut(CHUNK))
        .zip(second.par_chunks_mut(CHUNK))
        .for_each(|((grad, first), second)| {
            for ((g, m), v) in grad.iter_mut().zip(first).zip(second) {
                let scaled = *g * scale;
                *v = *v * beta2 + scaled * scaled * (1.0 - beta2);
                *m = *m * beta1 + scaled * (1.0 - beta1);
                *g = (*m / correction1) / (v.sqrt() / correction2_sqrt + epsilon);
            }
        });
}

fn values(data: &TensorData) -> &[f32] {
    data.as_slice::<f32>()
        .expect("optimizer buckets and moments are f32")
}

fn values_mut(data: &mut TensorData) -> &mut [f32] {
    data.as_mut_slice::<f32>()
        .expect("optimizer buckets and moments are f32")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_update_is_the_adamw_formula() {
        let step = AdamStep {
            scale: 0.5,
            beta1: 0.9,
            beta2: 0.999,
            correction1: 1.0 - 0.9f32.powi(2),
            correction2_sqrt: (1.0 - 0.999f32.powi(2)).sqrt(),
            epsilon: 1e-8,
        };
        let (mut grad, mut first, mut second) = (vec![2.0, -4.0], vec![0.1, 0.0], vec![0.01, 0.5]);
        update_bucket(&mut grad, &mut first, &mut second, step);
        for (i, (g, m0, v0)) in [(2.0f64, 0.1, 0.01), (-4.0, 0.0, 0.5)]
            .into_iter()
            .enumerate()
        {
            let g = g * 0.5;
            let v = 0.999 * v0 + 0.001 * g * g;
            let m = 0.9 * m0 + 0.1 * g;
            let direction =
                (m / (1.0 - 0.9f64.powi(2))) / (v.sqrt() / (1.0 - 0.999f64.powi(2)).sqrt() + 1e-8);
            assert!((f64::from(first[i]) - m).abs() < 1e-6, "m[{i}]");
            assert!((f64::from(second[i]) - v).abs() < 1e-6, "v[{i}]");
            assert!(
                (f64::from(grad[i]) - direction).abs() < 1e-4,
                "direction[{i}]"
            );
        }
    }
}
