//! The reference implementation's numerics for linear Thompson sampling, kept as a baseline.
//!
//! It does what the public BayesianRouter code does per arm: keep the precision matrix Λ and
//! the vector b, and after every reward recompute the posterior mean from a full symmetric
//! eigendecomposition Λ = U S Uᵀ (μ = U S⁻¹ Uᵀ b, O(d³)); to sample, factor Λ by Cholesky and
//! draw a whole weight vector w̃ = μ + L⁻ᵀz per arm and pair, then score w̃ᵀe.
//!
//! It is given one advantage the reference does not have: the Cholesky factors are computed
//! once per selected batch rather than once per pair. The baseline is therefore faster than
//! the code it stands for, and the ratios we report are conservative.

use bandit::Prior;
use faer::linalg::triangular_solve::solve_upper_triangular_in_place;
use faer::{Mat, MatMut, Par, Side};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// One arm: Λ (d×d, full symmetric), b and μ (d).
struct ReferenceArm {
    precision: Mat<f64>,
    info: Vec<f64>,
    mean: Vec<f64>,
}

/// Linear Thompson sampling with the reference implementation's O(d³)-per-update numerics.
pub struct ReferenceThompson {
    arms: Vec<ReferenceArm>,
    sigma2: f64,
    jitter: f64,
    rng: ChaCha8Rng,
}

impl ReferenceThompson {
    /// The prior N(μ0_k, λ0⁻¹ I) for every arm.
    pub fn new(prior: &Prior, lambda0: f64, sigma2: f64, jitter: f64, seed: u64) -> Self {
        let dim = prior.dim();
        let arms = (0..prior.n_arms())
            .map(|k| ReferenceArm {
                precision: Mat::from_fn(dim, dim, |i, j| if i == j { lambda0 } else { 0.0 }),
                info: prior.mean(k).iter().map(|m| lambda0 * m).collect(),
                mean: prior.mean(k).to_vec(),
            })
            .collect();
        Self {
            arms,
            sigma2,
            jitter,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Posterior mean of `arm`, `[d]`.
    pub fn mean(&self, arm: usize) -> &[f64] {
        &self.arms[arm].mean
    }

    /// Λ += e eᵀ/σ², b += r e/σ², then μ from a full eigendecomposition of Λ. O(d³).
    ///
    /// # Panics
    /// If the eigendecomposition fails to converge (it does not for a positive-definite Λ).
    pub fn update(&mut self, arm: usize, context: &[f64], reward: f64) {
        let sigma2 = self.sigma2;
        let state = &mut self.arms[arm];
        let dim = context.len();
        for j in 0..dim {
            for i in 0..dim {
                state.precision[(i, j)] += context[i] * context[j] / sigma2;
            }
        }
        for (b, e) in state.info.iter_mut().zip(context) {
            *b += reward * e / sigma2;
        }
        let eigen = state
            .precision
            .self_adjoint_eigen(Side::Lower)
            .expect("eigendecomposition of a positive-definite matrix");
        let (vectors, values) = (eigen.U(), eigen.S().column_vector());
        // μ = U S⁻¹ Uᵀ b
        let projected: Vec<f64> = (0..dim)
            .map(|k| {
                (0..dim)
                    .map(|i| vectors[(i, k)] * state.info[i])
                    .sum::<f64>()
                    / values[k]
            })
            .collect();
        for i in 0..dim {
            state.mean[i] = (0..dim).map(|k| vectors[(i, k)] * projected[k]).sum();
        }
    }

    /// Routes each context: per arm and context, draw w̃ = μ + L⁻ᵀz (Λ + jitter I = L Lᵀ) and
    /// score w̃ᵀe; pick the argmax.
    ///
    /// # Shapes
    /// `contexts`: `[N, d]` row-major; returns `[N]` arms.
    pub fn select_batch(&mut self, contexts: &[f64]) -> Vec<usize> {
        let dim = self.arms[0].mean.len();
        let factors: Vec<Mat<f64>> = self
            .arms
            .iter()
            .map(|arm| {
                let shifted = Mat::from_fn(dim, dim, |i, j| {
                    arm.precision[(i, j)] + if i == j { self.jitter } else { 0.0 }
                });
                shifted
                    .llt(Side::Lower)
                    .expect("positive-definite precision")
                    .L()
                    .to_owned()
            })
            .collect();
        let mut sample = vec![0.0; dim];
        contexts
            .chunks_exact(dim)
            .map(|context| {
                let mut best = (0, f64::NEG_INFINITY);
                for (k, (arm, factor)) in self.arms.iter().zip(&factors).enumerate() {
                    for z in sample.iter_mut() {
                        *z = StandardNormal.sample(&mut self.rng);
                    }
                    // Lᵀ x = z gives x ~ N(0, Λ⁻¹).
                    let column = MatMut::from_column_major_slice_mut(&mut sample, dim, 1);
                    solve_upper_triangular_in_place(factor.transpose(), column, Par::Seq);
                    let score: f64 = (0..dim)
                        .map(|i| (arm.mean[i] + sample[i]) * context[i])
                        .sum();
                    if score > best.1 {
                        best = (k, score);
                    }
                }
                best.0
            })
            .collect()
    }
}
