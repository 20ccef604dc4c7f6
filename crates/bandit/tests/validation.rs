//! Bad input is a clear error.

use bandit::{ArmMask, BanditParams, LinearBandit, Policy, Prior};

fn router(policy: Policy) -> LinearBandit {
    LinearBandit::new(
        policy,
        Prior::zeros(3, 2).unwrap(),
        BanditParams::default(),
        0,
    )
    .unwrap()
}

#[test]
fn selection_rejects_bad_contexts_and_masks() {
    let mut r = router(Policy::Thompson);
    let all = ArmMask::all(3);
    let err = r
        .select_batch(&[1.0, 2.0, 3.0], &all)
        .unwrap_err()
        .to_string();
    assert!(err.contains("d = 2") && err.contains("found 3"), "{err}");
    assert!(r.select_batch(&[], &all).is_err());
    let err = r
        .select_batch(&[1.0, 0.0, 0.0, f64::NAN], &all)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("context 1") && err.contains("index 1"),
        "{err}"
    );
    let err = r
        .select(&[1.0, 0.0], &ArmMask::all(2))
        .unwrap_err()
        .to_string();
    assert!(err.contains("arm mask: expected 3"), "{err}");
    let none = ArmMask::from_flags(vec![false; 3]);
    assert!(
        r.select(&[1.0, 0.0], &none)
            .unwrap_err()
            .to_string()
            .contains("all 3 arms are masked")
    );

    let mut fixed = router(Policy::Fixed { arm: 1 });
    let err = fixed
        .select(&[1.0, 0.0], &ArmMask::without(3, &[1]).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("fixed policy's arm 1 is masked"), "{err}");
}

#[test]
fn updates_reject_bad_feedback() {
    let mut r = router(Policy::Thompson);
    let err = r.update(3, &[1.0, 0.0], 1.0).unwrap_err().to_string();
    assert!(
        err.contains("arm 3 is out of range: the router has 3 arms"),
        "{err}"
    );
    let err = r.update(0, &[1.0], 1.0).unwrap_err().to_string();
    assert!(err.contains("expected 2 values, found 1"), "{err}");
    let err = r.update(0, &[1.0, 0.0], f64::NAN).unwrap_err().to_string();
    assert!(err.contains("reward of feedback 0"), "{err}");
    let err = r.update(0, &[1e200, 1e200], 1.0).unwrap_err().to_string();
    assert!(err.contains("overflows"), "{err}");
    // Non-learning policies validate too.
    assert!(
        router(Policy::Uniform)
            .update(0, &[f64::INFINITY, 0.0], 1.0)
            .is_err()
    );
}

#[test]
fn constructor_rejects_bad_parameters() {
    let prior = Prior::zeros(2, 2).unwrap();
    let bad = BanditParams {
        sigma2: -1.0,
        ..BanditParams::default()
    };
    let err = LinearBandit::new(Policy::Thompson, prior.clone(), bad, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("sigma2"), "{err}");
    let err = LinearBandit::new(Policy::Fixed { arm: 2 }, prior, BanditParams::default(), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("arm 2 is out of range"), "{err}");
}

#[test]
fn thompson_propensities_need_draws() {
    let params = BanditParams {
        propensity_draws: 0,
        ..BanditParams::default()
    };
    let mut r =
        LinearBandit::new(Policy::Thompson, Prior::zeros(2, 1).unwrap(), params, 0).unwrap();
    let mask = ArmMask::all(2);
    assert_eq!(r.select(&[1.0], &mask).unwrap().propensity, None);
    assert!(
        r.propensities(&[1.0], &mask)
            .unwrap_err()
            .to_string()
            .contains("propensity_draws")
    );
}

#[test]
fn router_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<LinearBandit>();
    check::<bandit::Error>();
}
