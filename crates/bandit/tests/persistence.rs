//! Saving and loading: exact continuation, shape checks, corrupt files.

use bandit::{ArmMask, Feedback, LinearBandit, Policy};
use proptest::prelude::*;

use crate::common::{policies, problem, vector};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// save → load → continue makes exactly the choices of a router that never stopped.
    #[test]
    fn save_load_continue_is_exact(
        (problem, later) in problem(15).prop_flat_map(|p| {
            let (d, k) = (p.dim, p.n_arms);
            let step = (prop::collection::vec(vector(d), 1..4), 0..k, -2.0..2.0_f64);
            (Just(p), prop::collection::vec(step, 1..6))
        })
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mask = ArmMask::all(problem.n_arms);
        for policy in policies(problem.n_arms) {
            let mut kept = problem.router(policy.clone());
            kept.save(&path).unwrap();
            let mut restored = LinearBandit::load(&path, problem.n_arms, problem.dim).unwrap();
            for (contexts, arm, reward) in &later {
                let flat = contexts.concat();
                prop_assert_eq!(
                    kept.select_batch(&flat, &mask).unwrap(),
                    restored.select_batch(&flat, &mask).unwrap()
                );
                kept.update(*arm, &contexts[0], *reward).unwrap();
                restored.update(*arm, &contexts[0], *reward).unwrap();
            }
            for arm in 0..problem.n_arms {
                prop_assert_eq!(kept.mean(arm).unwrap(), restored.mean(arm).unwrap());
            }
        }
    }

    /// A rejected update leaves the state bit-identical (compared as saved bytes), even when
    /// the bad item comes after good ones in the same batch.
    #[test]
    fn rejected_update_changes_nothing(
        (problem, good, bad_kind) in problem(10).prop_flat_map(|p| {
            let d = p.dim;
            (Just(p), vector(d), 0..5usize)
        })
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (before, after) = (dir.path().join("before.json"), dir.path().join("after.json"));
        let mut router = problem.router(Policy::Thompson);
        router.save(&before).unwrap();

        let mut bad_context = good.clone();
        let (arm, reward) = match bad_kind {
            0 => (problem.n_arms, 0.0),
            1 => (0, f64::NAN),
            2 => (0, f64::INFINITY),
            3 => { bad_context[0] = f64::NAN; (0, 0.0) }
            _ => { bad_context.push(0.0); (0, 0.0) }
        };
        let batch = [
            Feedback { arm: 0, context: &good, reward: 1.0 },
            Feedback { arm, context: &bad_context, reward },
        ];
        prop_assert!(router.update_batch(&batch).is_err());
        router.save(&after).unwrap();
        prop_assert_eq!(std::fs::read(&before).unwrap(), std::fs::read(&after).unwrap());
    }
}

#[test]
fn load_rejects_other_shapes_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let router = LinearBandit::new(
        Policy::Thompson,
        bandit::Prior::zeros(3, 4).unwrap(),
        bandit::BanditParams::default(),
        0,
    )
    .unwrap();
    router.save(&path).unwrap();
    let err = LinearBandit::load(&path, 4, 4).unwrap_err().to_string();
    assert!(err.contains("number of arms is 3, expected 4"), "{err}");
    let err = LinearBandit::load(&path, 3, 5).unwrap_err().to_string();
    assert!(err.contains("context dimension is 4, expected 5"), "{err}");
    assert!(LinearBandit::load(&path, 3, 4).is_ok());
}

#[test]
fn load_rejects_corrupt_files_with_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let router = LinearBandit::new(
        Policy::Thompson,
        bandit::Prior::zeros(2, 2).unwrap(),
        bandit::BanditParams::default(),
        0,
    )
    .unwrap();
    router.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();

    let truncated = dir.path().join("truncated.json");
    std::fs::write(&truncated, &text[..text.len() / 2]).unwrap();
    let err = LinearBandit::load(&truncated, 2, 2)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("truncated.json") && err.contains("line 1"),
        "{err}"
    );

    let short = dir.path().join("short.json");
    std::fs::write(
        &short,
        text.replacen("\"info\":[0.0,0.0]", "\"info\":[0.0]", 1),
    )
    .unwrap();
    let err = LinearBandit::load(&short, 2, 2).unwrap_err().to_string();
    assert!(
        err.contains("arms[0].info: expected 2 values, found 1"),
        "{err}"
    );

    let future = dir.path().join("future.json");
    std::fs::write(&future, text.replacen("\"version\":1", "\"version\":2", 1)).unwrap();
    let err = LinearBandit::load(&future, 2, 2).unwrap_err().to_string();
    assert!(err.contains("unsupported format"), "{err}");

    let missing = dir.path().join("missing.json");
    let err = LinearBandit::load(&missing, 2, 2).unwrap_err().to_string();
    assert!(err.contains("missing.json"), "{err}");
}

#[test]
fn save_replaces_atomically_and_leaves_no_temporary_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.json");
    let mut router = LinearBandit::new(
        Policy::Thompson,
        bandit::Prior::zeros(2, 3).unwrap(),
        bandit::BanditParams::default(),
        0,
    )
    .unwrap();
    router.save(&path).unwrap();
    router.update(1, &[1.0, 0.0, 0.0], 1.0).unwrap();
    router.save(&path).unwrap();
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 1);
    let restored = LinearBandit::load(&path, 2, 3).unwrap();
    assert_eq!(restored.updates(1).unwrap(), 1);

    // Saving into a directory that does not exist fails and names the path.
    let err = router
        .save(&dir.path().join("absent/state.json"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("absent/state.json"), "{err}");
}
