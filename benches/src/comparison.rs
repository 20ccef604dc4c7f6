//! This project's router against the reference numerics on one synthetic workload, in one
//! process: batched Thompson selection and the reward update (`cargo xtask bench router`
//! prints it as a table and a JSON line).

use std::time::Instant;

use bandit::{ArmMask, BanditParams, Feedback, LinearBandit, Policy};
use serde::Serialize;

use crate::reference::ReferenceThompson;
use crate::workload::Workload;

/// Sizes and repetitions of the comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct ComparisonSizes {
    /// Context dimension d (576 = SmolLM2-135M, the reference encoder).
    pub d: usize,
    /// Number of arms (reward models) K.
    pub k: usize,
    /// Pairs per selected batch N (480 = 32 prompts × 15 pairs, the reference batch).
    pub n: usize,
    /// Timed repetitions of each measurement; the median is reported.
    pub reps: usize,
    /// Reference updates timed (each costs a d×d eigendecomposition).
    pub baseline_updates: usize,
    /// Seed of the workload and the routers.
    pub seed: u64,
}

/// What the comparison measured. Times are wall-clock microseconds, medians over `reps`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RouterComparison {
    /// Context dimension.
    pub d: usize,
    /// Arms.
    pub k: usize,
    /// Pairs per batch.
    pub n: usize,
    /// This project: one `select_batch` of N contexts, divided by N.
    pub select_us_per_pair: f64,
    /// This project: one reward update, when a batch's N rewards are applied together
    /// (`update_batch`, as the trainer does with delayed feedback), divided by N.
    pub update_us: f64,
    /// This project: one reward applied alone (`update`: rank-1 update and a new mean).
    pub single_update_us: f64,
    /// Reference numerics: one batch of N selections (one Cholesky per arm, then a sampled
    /// weight vector per arm and pair), divided by N.
    pub baseline_select_us_per_pair: f64,
    /// Reference numerics: one update (eigendecomposition of Λ).
    pub baseline_update_us: f64,
    /// baseline_update_us / update_us.
    pub update_speedup: f64,
    /// baseline_update_us / single_update_us.
    pub single_update_speedup: f64,
    /// baseline_select_us_per_pair / select_us_per_pair.
    pub select_speedup: f64,
    /// This project with Monte-Carlo propensities (1000 draws) for every pair.
    pub select_with_propensity_us_per_pair: f64,
    /// max |μ − μ_reference| over arms after the same updates (the two must agree).
    pub max_mean_abs_diff: f64,
}

/// Runs the comparison. Sizes must be positive (an error names them otherwise).
pub fn compare_routers(sizes: &ComparisonSizes) -> bandit::Result<RouterComparison> {
    if sizes.d == 0 || sizes.k == 0 || sizes.n == 0 || sizes.reps == 0 {
        return Err(bandit::Error::InvalidParameter {
            name: "sizes",
            value: format!("{sizes:?}"),
            reason: "d, k, n and reps must be positive",
        });
    }
    let (dim, n_arms, n_pairs) = (sizes.d, sizes.k, sizes.n);
    let work = Workload::new(dim, n_arms, n_pairs, sizes.seed);
    let params = BanditParams {
        propensity_draws: 0,
        ..BanditParams::bayesian_v4()
    };
    let mut router = LinearBandit::new(Policy::Thompson, work.prior.clone(), params.clone(), 1)?;
    let mut reference =
        ReferenceThompson::new(&work.prior, params.lambda0, params.sigma2, params.jitter, 1);
    let mask = ArmMask::all(n_arms);
    let context = |j: usize| &work.contexts[j * dim..(j + 1) * dim];

    // Reference updates, timed one by one; our router absorbs the same rewards (untimed) so
    // the two posteriors can be compared.
    let baseline_updates = sizes.baseline_updates.clamp(1, n_pairs);
    let mut baseline_update_times = Vec::with_capacity(baseline_updates);
    for j in 0..baseline_updates {
        let start = Instant::now();
        reference.update(work.arms[j], context(j), work.rewards[j]);
        baseline_update_times.push(micros(start));
        router.update(work.arms[j], context(j), work.rewards[j])?;
    }
    let max_mean_abs_diff = (0..n_arms)
        .flat_map(|k| {
            let ours = router.mean(k).expect("arm in range").to_vec();
            ours.into_iter()
                .zip(reference.mean(k).to_vec())
                .map(|(a, b)| (a - b).abs())
        })
        .fold(0.0, f64::max);

    let select_us_per_pair = median((0..sizes.reps).map(|_| {
        let start = Instant::now();
        let choices = router.select_batch(&work.contexts, &mask);
        std::hint::black_box(choices.expect("validated workload"));
        micros(start) / n_pairs as f64
    }));
    let baseline_select_us_per_pair = median((0..sizes.reps.min(3)).map(|_| {
        let start = Instant::now();
        std::hint::black_box(reference.select_batch(&work.contexts));
        micros(start) / n_pairs as f64
    }));
    // One batch of feedback (N rewards) per repetition, on a copy so every rep starts equal.
    let feedback: Vec<Feedback<'_>> = (0..n_pairs)
        .map(|j| Feedback {
            arm: work.arms[j],
            context: context(j),
            reward: work.rewards[j],
        })
        .collect();
    let update_us = median((0..sizes.reps).map(|_| {
        let mut copy = router.clone();
        let start = Instant::now();
        copy.update_batch(&feedback).expect("validated workload");
        micros(start) / n_pairs as f64
    }));
    let single_update_us = median((0..sizes.reps).map(|_| {
        let mut copy = router.clone();
        let start = Instant::now();
        for item in &feedback[..n_arms.min(n_pairs)] {
            copy.update(item.arm, item.context, item.reward)
                .expect("validated workload");
        }
        micros(start) / n_arms.min(n_pairs) as f64
    }));
    let mut with_propensity = LinearBandit::new(
        Policy::Thompson,
        work.prior.clone(),
        BanditParams {
            propensity_draws: 1000,
            ..params
        },
        1,
    )?;
    let select_with_propensity_us_per_pair = median((0..sizes.reps.min(3)).map(|_| {
        let start = Instant::now();
        let choices = with_propensity.select_batch(&work.contexts, &mask);
        std::hint::black_box(choices.expect("validated workload"));
        micros(start) / n_pairs as f64
    }));
    let baseline_update_us = median(baseline_update_times.into_iter());

    Ok(RouterComparison {
        d: dim,
        k: n_arms,
        n: n_pairs,
        select_us_per_pair,
        update_us,
        single_update_us,
        baseline_select_us_per_pair,
        baseline_update_us,
        update_speedup: baseline_update_us / update_us,
        single_update_speedup: baseline_update_us / single_update_us,
        select_speedup: baseline_select_us_per_pair / select_us_per_pair,
        select_with_propensity_us_per_pair,
        max_mean_abs_diff,
    })
}

fn micros(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e6
}

/// Median of a non-empty sequence.
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_routers_agree_on_a_small_workload() {
        let sizes = ComparisonSizes {
            d: 8,
            k: 3,
            n: 12,
            reps: 1,
            baseline_updates: 4,
            seed: 0,
        };
        let report = compare_routers(&sizes).unwrap();
        assert!(report.max_mean_abs_diff < 1e-6, "{report:?}");
        assert!(report.select_us_per_pair > 0.0 && report.update_us > 0.0);
        let zero = ComparisonSizes { n: 0, ..sizes };
        assert!(compare_routers(&zero).is_err());
    }
}
