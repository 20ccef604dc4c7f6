//! Selection: batching, sampling moments, the strong-prior limit, masks and propensities.

use bandit::{ArmMask, BanditParams, LinearBandit, Policy, Prior};
use proptest::prelude::*;

use crate::common::{closed_form, dense_solve, policies, problem, vector};

/// Random contexts for a problem: `[N, d]` row-major.
fn contexts(dim: usize, max_n: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(vector(dim), 1..=max_n).prop_map(|rows| rows.concat())
}

/// A random mask with at least one available arm that keeps `keep` available.
fn mask(n_arms: usize, keep: usize) -> impl Strategy<Value = ArmMask> {
    prop::collection::vec(any::<bool>(), n_arms).prop_map(move |mut flags| {
        flags[keep] = true;
        ArmMask::from_flags(flags)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Selecting N contexts at once gives the same choices and propensities as selecting them
    /// one at a time from the same state and seed, for every policy.
    #[test]
    fn batched_selection_equals_sequential(
        (problem, contexts) in problem(20).prop_flat_map(|p| {
            let d = p.dim;
            (Just(p), contexts(d, 12))
        })
    ) {
        let mask = ArmMask::all(problem.n_arms);
        for policy in policies(problem.n_arms) {
            let mut batched = problem.router(policy.clone());
            let mut sequential = problem.router(policy.clone());
            let at_once = batched.select_batch(&contexts, &mask).unwrap();
            let one_by_one: Vec<_> = contexts
                .chunks(problem.dim)
                .map(|e| sequential.select(e, &mask).unwrap())
                .collect();
            prop_assert_eq!(at_once, one_by_one, "policy {:?}", policy);
        }
    }

    /// Masked arms are never chosen, by any policy; propensities sum to 1 and are 0 on
    /// masked arms; the chosen arm's propensity is the one `propensities` reports (exactly
    /// for deterministic policies).
    #[test]
    fn masks_and_propensities(
        (problem, contexts, mask) in problem(10).prop_flat_map(|p| {
            let (d, k) = (p.dim, p.n_arms);
            (Just(p), contexts(d, 6), mask(k, k - 1))
        })
    ) {
        for policy in policies(problem.n_arms) {
            let mut router = problem.router(policy.clone());
            let choices = router.select_batch(&contexts, &mask).unwrap();
            for (choice, context) in choices.iter().zip(contexts.chunks(problem.dim)) {
                prop_assert!(mask.is_available(choice.arm), "{:?} chose masked arm", policy);
                let propensity = choice.propensity.unwrap();
                prop_assert!((0.0..=1.0).contains(&propensity));
                let all = router.propensities(context, &mask).unwrap();
                prop_assert!((all.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                for (arm, p) in all.iter().enumerate() {
                    if !mask.is_available(arm) {
                        prop_assert_eq!(*p, 0.0);
                    }
                }
                if policy != Policy::Thompson {
                    prop_assert_eq!(all[choice.arm], propensity, "{:?}", policy);
                }
                // The logged distribution: sums to 1, 0 on masked arms, its chosen entry
                // is the propensity and never 0; exact except for Thompson sampling.
                let distribution = choice.distribution.as_ref().unwrap();
                let logged = &distribution.probabilities;
                prop_assert!((logged.iter().sum::<f64>() - 1.0).abs() < 1e-12);
                prop_assert_eq!(logged[choice.arm], propensity);
                prop_assert!(propensity > 0.0, "{:?} logged propensity 0", policy);
                for (arm, p) in logged.iter().enumerate() {
                    if !mask.is_available(arm) {
                        prop_assert_eq!(*p, 0.0);
                    }
                }
                let sampled = policy == Policy::Thompson;
                prop_assert_eq!(distribution.draws.is_some(), sampled, "{:?}", policy);
                if !sampled {
                    prop_assert_eq!(logged, &all, "{:?}", policy);
                }
            }
        }
    }

    /// With λ0 → ∞ the posterior cannot leave the prior, so Thompson sampling chooses what
    /// the offline router (argmax μ0ᵀe) chooses.
    #[test]
    fn strong_prior_gives_offline_argmax(
        (mut problem, contexts) in problem(10).prop_flat_map(|p| {
            let d = p.dim;
            (Just(p), contexts(d, 8))
        })
    ) {
        problem.params.lambda0 = 1e14;
        let prior = problem.prior();
        for context in contexts.chunks(problem.dim) {
            let mut scores: Vec<f64> =
                (0..problem.n_arms).map(|k| dot(prior.mean(k), context)).collect();
            scores.sort_by(|a, b| b.total_cmp(a));
            // Skip near-ties, where rounding alone may decide.
            prop_assume!(scores.len() == 1 || scores[0] - scores[1] > 1e-4);
        }
        let mask = ArmMask::all(problem.n_arms);
        let thompson = problem.router(Policy::Thompson).select_batch(&contexts, &mask).unwrap();
        let offline = problem.router(Policy::OfflineArgmax).select_batch(&contexts, &mask).unwrap();
        let arms = |c: &[bandit::Choice]| c.iter().map(|c| c.arm).collect::<Vec<_>>();
        prop_assert_eq!(arms(&thompson), arms(&offline));
    }

    /// The same seed and the same calls give the same choices.
    #[test]
    fn seeded_runs_repeat(
        (problem, contexts) in problem(10).prop_flat_map(|p| {
            let d = p.dim;
            (Just(p), contexts(d, 8))
        })
    ) {
        let mask = ArmMask::all(problem.n_arms);
        for policy in policies(problem.n_arms) {
            let first = problem.router(policy.clone()).select_batch(&contexts, &mask).unwrap();
            let second = problem.router(policy).select_batch(&contexts, &mask).unwrap();
            prop_assert_eq!(first, second);
        }
    }

    /// LinUCB's score is never below the posterior mean, so with α > 0 it picks an arm whose
    /// upper bound is at least the best mean.
    #[test]
    fn ucb_dominates_the_mean(
        (problem, context) in problem(10).prop_flat_map(|p| {
            let d = p.dim;
            (Just(p), vector(d))
        })
    ) {
        let mask = ArmMask::all(problem.n_arms);
        let greedy = problem.router(Policy::EpsilonGreedy { epsilon: 0.0 });
        let best_mean = (0..problem.n_arms)
            .map(|k| dot(greedy.mean(k).unwrap(), &context))
            .fold(f64::NEG_INFINITY, f64::max);
        let mut ucb = problem.router(Policy::LinUcb {
            alpha: 0.5,
            random_ties: false,
        });
        let arm = ucb.select(&context, &mask).unwrap().arm;
        let scores = ucb.sample_scores(&context, &mask).unwrap();
        prop_assert!(scores.len() == problem.n_arms);
        let chosen_mean = dot(ucb.mean(arm).unwrap(), &context);
        let factor = ucb.cholesky_factor(arm).unwrap();
        let width = predictive_std(&factor, &context);
        prop_assert!(chosen_mean + 0.5 * width >= best_mean - 1e-12);
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// ‖L⁻¹e‖ by forward substitution on a row-major lower-triangular L.
fn predictive_std(factor: &[f64], context: &[f64]) -> f64 {
    let d = context.len();
    let mut z = vec![0.0; d];
    for i in 0..d {
        let tail: f64 = (0..i).map(|k| factor[i * d + k] * z[k]).sum();
        z[i] = (context[i] - tail) / factor[i * d + i];
    }
    z.iter().map(|v| v * v).sum::<f64>().sqrt()
}

/// Thompson scores have the posterior's mean and covariance: sampling s(e) at the basis
/// vectors e_i and at e_i + e_j recovers μ and every entry of Λ⁻¹ (fixed seed, 40,000 draws;
/// tolerances are 5 standard errors).
#[test]
fn thompson_samples_have_posterior_moments() {
    let d = 3;
    let params = BanditParams {
        lambda0: 2.0,
        sigma2: 0.5,
        ..BanditParams::bayesian_v4()
    };
    let prior = Prior::new(vec![("rm".into(), vec![0.5, -0.2, 0.1])]).unwrap();
    let mut router = LinearBandit::new(Policy::Thompson, prior, params.clone(), 11).unwrap();
    let events = [
        (vec![1.0, 0.5, 0.0], 1.0),
        (vec![0.0, 1.0, -1.0], -0.5),
        (vec![0.3, 0.3, 0.3], 0.2),
    ];
    for (context, reward) in &events {
        router.update(0, context, *reward).unwrap();
    }
    let (precision, mean) = closed_form(&params, &[0.5, -0.2, 0.1], events.iter().cloned());
    let covariance: Vec<f64> = (0..d)
        .flat_map(|j| {
            let unit: Vec<f64> = (0..d).map(|i| if i == j { 1.0 } else { 0.0 }).collect();
            dense_solve(&precision, &unit)
        })
        .collect();

    let mask = ArmMask::all(1);
    let draws = 40_000;
    let mut moments = |context: &[f64]| {
        let batch: Vec<f64> = context.iter().cycle().take(d * draws).copied().collect();
        let s = router.sample_scores(&batch, &mask).unwrap();
        let m = s.iter().sum::<f64>() / draws as f64;
        let v = s.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (draws - 1) as f64;
        (m, v)
    };
    for i in 0..d {
        for j in i..d {
            let mut e = vec![0.0; d];
            e[i] += 1.0;
            e[j] += 1.0;
            let (m, v) = moments(&e);
            let expected_mean = mean[i] + if i == j { mean[i] } else { mean[j] };
            let expected_var =
                covariance[i * d + i] + covariance[j * d + j] + 2.0 * covariance[i * d + j];
            let se_mean = (expected_var / draws as f64).sqrt();
            let se_var = expected_var * (2.0 / draws as f64).sqrt();
            assert!(
                (m - expected_mean).abs() < 5.0 * se_mean,
                "mean at e{i}+e{j}: {m} vs {expected_mean}"
            );
            assert!(
                (v - expected_var).abs() < 5.0 * se_var,
                "var at e{i}+e{j}: {v} vs {expected_var}"
            );
        }
    }
}

/// With two arms, P(Thompson picks arm 0) = Φ((m0 − m1)/√(v0 + v1)); the Monte-Carlo
/// propensity and the empirical choice frequency both match it.
#[test]
fn thompson_propensity_matches_choice_frequency() {
    let prior = Prior::new(vec![
        ("a".into(), vec![0.3, 0.0]),
        ("b".into(), vec![0.0, 0.1]),
    ])
    .unwrap();
    let params = BanditParams {
        propensity_draws: 20_000,
        ..BanditParams::bayesian_v4()
    };
    let mut router = LinearBandit::new(Policy::Thompson, prior, params, 5).unwrap();
    let context = [1.0, 1.0];
    let mask = ArmMask::all(2);
    // m0 − m1 = 0.2, v0 = v1 = 2/(1 + 1e-8): P = Φ(0.2/2) = Φ(0.1) = 0.539828.
    let expected = 0.539_828;
    let estimate = router.propensities(&context, &mask).unwrap()[0];
    assert!((estimate - expected).abs() < 0.01, "{estimate}");
    let batch: Vec<f64> = context.iter().cycle().take(2 * 20_000).copied().collect();
    let choices = router.select_batch(&batch, &mask).unwrap();
    let frequency = choices.iter().filter(|c| c.arm == 0).count() as f64 / 20_000.0;
    assert!((frequency - expected).abs() < 0.01, "{frequency}");
}

/// Estimating propensities does not change later choices (separate random stream); only
/// the later propensity estimates themselves move on.
#[test]
fn propensities_do_not_perturb_choices() {
    let prior = Prior::zeros(3, 2).unwrap();
    let mask = ArmMask::all(3);
    let mut plain =
        LinearBandit::new(Policy::Thompson, prior.clone(), BanditParams::default(), 9).unwrap();
    let mut probed =
        LinearBandit::new(Policy::Thompson, prior, BanditParams::default(), 9).unwrap();
    probed.propensities(&[1.0, 0.0], &mask).unwrap();
    let contexts = [1.0, 0.0, 0.0, 1.0, 0.5, 0.5];
    let arms = |router: &mut LinearBandit| -> Vec<usize> {
        let choices = router.select_batch(&contexts, &mask).unwrap();
        choices.iter().map(|c| c.arm).collect()
    };
    assert_eq!(arms(&mut plain), arms(&mut probed));
}

/// Sampled scores are −∞ exactly on masked arms; non-learning policies have none to sample.
#[test]
fn sampled_scores_respect_the_mask() {
    let prior = Prior::new(vec![
        ("a".into(), vec![1.0, 0.0]),
        ("b".into(), vec![0.0, 1.0]),
        ("c".into(), vec![0.5, 0.5]),
    ])
    .unwrap();
    let mask = ArmMask::without(3, &[1]).unwrap();
    let mut router =
        LinearBandit::new(Policy::Thompson, prior.clone(), BanditParams::default(), 3).unwrap();
    let scores = router.sample_scores(&[1.0, 1.0, 0.0, 2.0], &mask).unwrap();
    assert_eq!(scores.len(), 2 * 3);
    for row in scores.chunks(3) {
        assert!(row[0].is_finite() && row[2].is_finite());
        assert_eq!(row[1], f64::NEG_INFINITY);
    }
    let mut uniform =
        LinearBandit::new(Policy::Uniform, prior, BanditParams::default(), 3).unwrap();
    assert!(uniform.sample_scores(&[1.0, 1.0], &mask).is_err());
}

/// A Thompson choice's logged propensity counts its own draw: an arm whose probability is
/// far below 1/draws still gets (0 + 1)/(draws + 1) when it is chosen, never 0, and the
/// draws reported are the propensity draws plus one.
#[test]
fn thompson_choice_counts_its_own_draw() {
    // Arm 1 is 6 prior standard deviations behind: P(choose 1) ≈ Φ(−6/√2) ≈ 1e-5.
    let prior = Prior::new(vec![("a".into(), vec![3.0]), ("b".into(), vec![-3.0])]).unwrap();
    let params = BanditParams {
        propensity_draws: 99,
        ..BanditParams::bayesian_v4()
    };
    let mask = ArmMask::all(2);
    for seed in 0..200 {
        let mut router =
            LinearBandit::new(Policy::Thompson, prior.clone(), params.clone(), seed).unwrap();
        let choice = router.select(&[1.0], &mask).unwrap();
        let distribution = choice.distribution.unwrap();
        assert_eq!(distribution.draws, Some(100));
        let p = choice.propensity.unwrap();
        assert!(
            p >= 0.01,
            "seed {seed}: chosen arm {} logged {p}",
            choice.arm
        );
        assert_eq!(distribution.probabilities[choice.arm], p);
        assert!((distribution.probabilities.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
