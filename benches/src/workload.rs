//! Synthetic routing workloads shaped like the method's: unit-norm contexts (the offline
//! router L2-normalises them), unit-norm prior vectors, rewards in [0, 1].

use bandit::Prior;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

/// `count` random unit vectors of dimension `dim`, `[count, dim]` row-major.
pub fn unit_vectors(rng: &mut ChaCha8Rng, count: usize, dim: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(count * dim);
    for _ in 0..count {
        let v: Vec<f64> = (0..dim).map(|_| rng.sample(StandardNormal)).collect();
        let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        out.extend(v.iter().map(|x| x / norm));
    }
    out
}

/// A seeded benchmark workload: a prior over K arms, N contexts and one reward per context.
pub struct Workload {
    /// K arms of dimension d with unit-norm means.
    pub prior: Prior,
    /// `[N, d]` row-major unit vectors.
    pub contexts: Vec<f64>,
    /// `[N]` rewards in [0, 1].
    pub rewards: Vec<f64>,
    /// `[N]` arms that judged each context (round robin).
    pub arms: Vec<usize>,
}

impl Workload {
    /// Builds the workload for (d, K, N) from `seed`.
    ///
    /// # Panics
    /// If `dim`, `n_arms` or `n_contexts` is 0.
    pub fn new(dim: usize, n_arms: usize, n_contexts: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let means = unit_vectors(&mut rng, n_arms, dim);
        let prior = Prior::new(
            means
                .chunks_exact(dim)
                .enumerate()
                .map(|(k, m)| (format!("rm-{k}"), m.to_vec()))
                .collect(),
        )
        .expect("valid synthetic prior");
        let contexts = unit_vectors(&mut rng, n_contexts, dim);
        let rewards = (0..n_contexts).map(|_| rng.random::<f64>()).collect();
        let arms = (0..n_contexts).map(|j| j % n_arms).collect();
        Self {
            prior,
            contexts,
            rewards,
            arms,
        }
    }
}
