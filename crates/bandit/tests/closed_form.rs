//! The O(d²) posterior equals the Bayesian ridge closed form.

use bandit::{Feedback, LinearBandit, Policy};
use proptest::prelude::*;

use crate::common::{CLOSED_FORM_RTOL, Problem, closed_form, problem, rel_err};

/// Checks every arm of `router` against the closed form of `problem`'s events:
/// μ_k = (λ0 I + XᵀX/σ² + jitter I)⁻¹(λ0 μ0 + Xᵀr/σ²), Λ_k = λ0 I + XᵀX/σ², L Lᵀ = Λ_k +
/// jitter I with L lower triangular, and the update counts.
fn check_against_closed_form(
    router: &LinearBandit,
    problem: &Problem,
) -> Result<(), TestCaseError> {
    let d = problem.dim;
    for arm in 0..problem.n_arms {
        let events: Vec<_> = problem.events.iter().filter(|e| e.arm == arm).collect();
        let (precision, mean) = closed_form(
            &problem.params,
            &problem.prior_means[arm],
            events.iter().map(|e| (e.context.clone(), e.reward)),
        );
        prop_assert_eq!(router.updates(arm).unwrap(), events.len() as u64);
        prop_assert!(rel_err(router.mean(arm).unwrap(), &mean) < CLOSED_FORM_RTOL);
        prop_assert!(rel_err(&router.precision(arm).unwrap(), &precision) < 1e-12);

        let factor = router.cholesky_factor(arm).unwrap();
        let mut product = vec![0.0; d * d];
        for i in 0..d {
            for j in 0..d {
                product[i * d + j] = (0..d).map(|k| factor[i * d + k] * factor[j * d + k]).sum();
            }
            product[i * d + i] -= problem.params.jitter;
        }
        prop_assert!(rel_err(&product, &precision) < CLOSED_FORM_RTOL);
        for i in 0..d {
            for j in i + 1..d {
                prop_assert_eq!(factor[i * d + j], 0.0, "L is lower triangular");
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// After any sequence of single updates the posterior equals the closed form.
    #[test]
    fn posterior_matches_dense_solve(problem in problem(40)) {
        check_against_closed_form(&problem.router(Policy::Thompson), &problem)?;
    }

    /// Absorbing the rewards in batches (rank-r updates, arms in any grouping) gives the same
    /// posterior.
    #[test]
    fn batched_updates_match_dense_solve(problem in problem(40), chunk in 1usize..12) {
        let mut router =
            LinearBandit::new(Policy::Thompson, problem.prior(), problem.params.clone(), problem.seed)
                .unwrap();
        for events in problem.events.chunks(chunk) {
            let feedback: Vec<Feedback<'_>> = events
                .iter()
                .map(|e| Feedback { arm: e.arm, context: &e.context, reward: e.reward })
                .collect();
            router.update_batch(&feedback).unwrap();
        }
        check_against_closed_form(&router, &problem)?;
    }
}

/// A hand-computed case: d = 1, λ0 = 2, σ² = 0.5, μ0 = 1, rewards 3 at e = 1 and −1 at e = 2.
/// Λ = 2 + (1 + 4)/0.5 = 12; b = 2 + (3 − 2)/0.5 = 4; μ = 1/3.
#[test]
fn one_dimensional_case_by_hand() {
    let prior = bandit::Prior::new(vec![("rm".into(), vec![1.0])]).unwrap();
    let params = bandit::BanditParams {
        lambda0: 2.0,
        sigma2: 0.5,
        jitter: 0.0,
        ..bandit::BanditParams::default()
    };
    let mut router = LinearBandit::new(Policy::Thompson, prior, params, 0).unwrap();
    router.update(0, &[1.0], 3.0).unwrap();
    router.update(0, &[2.0], -1.0).unwrap();
    assert!((router.precision(0).unwrap()[0] - 12.0).abs() < 1e-12);
    assert!((router.mean(0).unwrap()[0] - 1.0 / 3.0).abs() < 1e-12);
    assert!((router.cholesky_factor(0).unwrap()[0] - 12.0_f64.sqrt()).abs() < 1e-12);
}

/// Ten thousand updates at d = 32 without refactorisation stay close to the closed form:
/// the rank-1 updates do not drift.
#[test]
fn long_runs_do_not_drift() {
    use rand::{RngExt, SeedableRng};
    let d = 32;
    let params = bandit::BanditParams {
        refactor_every: 0,
        ..bandit::BanditParams::bayesian_v4()
    };
    let prior = bandit::Prior::zeros(1, d).unwrap();
    let mut router = LinearBandit::new(Policy::Thompson, prior, params.clone(), 1).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let mut events = Vec::new();
    for _ in 0..10_000 {
        let context: Vec<f64> = (0..d).map(|_| rng.random_range(-1.0..1.0)).collect();
        let reward = rng.random_range(-2.0..2.0);
        router.update(0, &context, reward).unwrap();
        events.push((context, reward));
    }
    let (_, mean) = closed_form(&params, &vec![0.0; d], events.into_iter());
    let err = rel_err(router.mean(0).unwrap(), &mean);
    assert!(err < 1e-10, "drift {err:e}");
}
