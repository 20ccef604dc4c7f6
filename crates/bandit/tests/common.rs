//! Shared helpers: an independent dense solver and proptest strategies.

use bandit::{BanditParams, LinearBandit, Policy, Prior};
use proptest::prelude::*;

/// Relative tolerance for comparing the O(d²) factor updates with a dense O(d³) solve.
pub const CLOSED_FORM_RTOL: f64 = 1e-8;

/// One logged reward.
#[derive(Clone, Debug)]
pub struct Event {
    pub arm: usize,
    pub context: Vec<f64>,
    pub reward: f64,
}

/// Solves A x = b for a dense row-major `[n, n]` A by Gaussian elimination with partial
/// pivoting: deliberately independent of faer.
pub fn dense_solve(a: &[f64], b: &[f64]) -> Vec<f64> {
    let n = b.len();
    let mut m: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            let mut row = a[i * n..(i + 1) * n].to_vec();
            row.push(b[i]);
            row
        })
        .collect();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&x, &y| m[x][col].abs().total_cmp(&m[y][col].abs()))
            .unwrap();
        m.swap(col, pivot);
        let (upper, lower) = m.split_at_mut(col + 1);
        let pivot_row = &upper[col];
        for row in lower.iter_mut() {
            let factor = row[col] / pivot_row[col];
            for (entry, &p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *entry -= factor * p;
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let tail: f64 = (row + 1..n).map(|k| m[row][k] * x[k]).sum();
        x[row] = (m[row][n] - tail) / m[row][row];
    }
    x
}

/// The closed-form posterior of one arm: Λ = λ0 I + XᵀX/σ², b = λ0 μ0 + Xᵀr/σ², and
/// μ = (Λ + jitter I)⁻¹ b. Returns (Λ row-major, μ).
pub fn closed_form(
    params: &BanditParams,
    prior_mean: &[f64],
    events: impl Iterator<Item = (Vec<f64>, f64)>,
) -> (Vec<f64>, Vec<f64>) {
    let d = prior_mean.len();
    let mut precision = vec![0.0; d * d];
    let mut info: Vec<f64> = prior_mean.iter().map(|m| params.lambda0 * m).collect();
    for i in 0..d {
        precision[i * d + i] = params.lambda0;
    }
    for (x, r) in events {
        for i in 0..d {
            info[i] += r * x[i] / params.sigma2;
            for j in 0..d {
                precision[i * d + j] += x[i] * x[j] / params.sigma2;
            }
        }
    }
    let mut shifted = precision.clone();
    for i in 0..d {
        shifted[i * d + i] += params.jitter;
    }
    let mean = dense_solve(&shifted, &info);
    (precision, mean)
}

/// max |a − b| / max(1, max |b|).
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    let scale = b.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
    a.iter()
        .zip(b)
        .fold(0.0_f64, |m, (x, y)| m.max((x - y).abs()))
        / scale
}

/// A random problem: K arms, dimension d, a prior, a sequence of events.
#[derive(Clone, Debug)]
pub struct Problem {
    pub n_arms: usize,
    pub dim: usize,
    pub prior_means: Vec<Vec<f64>>,
    pub events: Vec<Event>,
    pub params: BanditParams,
    pub seed: u64,
}

impl Problem {
    pub fn prior(&self) -> Prior {
        Prior::new(
            self.prior_means
                .iter()
                .enumerate()
                .map(|(k, m)| (format!("rm-{k}"), m.clone()))
                .collect(),
        )
        .unwrap()
    }

    pub fn router(&self, policy: Policy) -> LinearBandit {
        let mut router =
            LinearBandit::new(policy, self.prior(), self.params.clone(), self.seed).unwrap();
        for event in &self.events {
            router
                .update(event.arm, &event.context, event.reward)
                .unwrap();
        }
        router
    }
}

/// Vectors of length `dim` with entries in [−1, 1].
pub fn vector(dim: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-1.0..1.0_f64, dim)
}

/// Random problems with up to `max_events` rewards.
pub fn problem(max_events: usize) -> impl Strategy<Value = Problem> {
    (
        1usize..=4,
        1usize..=7,
        0.05..20.0_f64,
        0.1..4.0_f64,
        any::<u64>(),
    )
        .prop_flat_map(move |(n_arms, dim, lambda0, sigma2, seed)| {
            let event =
                (0..n_arms, vector(dim), -3.0..3.0_f64).prop_map(|(arm, context, reward)| Event {
                    arm,
                    context,
                    reward,
                });
            (
                prop::collection::vec(vector(dim), n_arms),
                prop::collection::vec(event, 0..=max_events),
                prop::sample::select(vec![0_u64, 3, 1000]),
            )
                .prop_map(move |(prior_means, events, refactor_every)| Problem {
                    n_arms,
                    dim,
                    prior_means,
                    events,
                    params: BanditParams {
                        lambda0,
                        sigma2,
                        refactor_every,
                        propensity_draws: 64,
                        ..BanditParams::bayesian_v4()
                    },
                    seed,
                })
        })
}

/// Every policy that is valid for `n_arms` arms.
pub fn policies(n_arms: usize) -> Vec<Policy> {
    vec![
        Policy::Thompson,
        Policy::LinUcb {
            alpha: 0.1,
            random_ties: false,
        },
        Policy::EpsilonGreedy { epsilon: 0.3 },
        Policy::OfflineArgmax,
        Policy::Fixed { arm: n_arms - 1 },
        Policy::Uniform,
    ]
}
