//! Checkpoint and resume: a run stopped after a checkpoint and resumed ends byte-identical to
//! an uninterrupted one; a resumption with another config is refused by key.

use rlhf_trainer::{Overrides, ROUTING_FILE};

use crate::common::{fn_rms, trainer, write_config};

fn files(run: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    [
        "final/adapter/adapter_model.safetensors",
        "final/policy/model.safetensors",
        "final/router.json",
        ROUTING_FILE,
    ]
    .iter()
    .map(|f| (f.to_string(), std::fs::read(run.join(f)).unwrap()))
    .collect()
}

#[test]
fn resume_continues_bit_for_bit() {
    let whole = tempfile::tempdir().unwrap();
    let config = |dir: &std::path::Path| {
        write_config(
            dir,
            "kind = \"bayesian\"\npreset = \"v4\"",
            "checkpoint_every = 2",
        )
    };
    let overrides = Overrides {
        iterations: Some(4),
        ..Overrides::default()
    };
    let path = config(whole.path());
    trainer(&path, &overrides, &fn_rms(), false)
        .run(&mut |_| {})
        .unwrap();

    // The same run, dropped after iteration 3 (its checkpoint is at 2).
    let cut = tempfile::tempdir().unwrap();
    let path_b = config(cut.path());
    {
        let mut first = trainer(&path_b, &overrides, &fn_rms(), false);
        for _ in 0..2 {
            first.step().unwrap();
        }
        first.save_checkpoint().unwrap();
        first.step().unwrap();
        // Dropped here without a checkpoint: iteration 2's lines are in the logs but the
        // checkpoint says 2 iterations.
    }
    // A new config is refused by the key that differs.
    let other = Overrides {
        seed: Some(99),
        ..overrides.clone()
    };
    let config_other = rlhf_trainer::TrainerConfig::read(&path_b, &other).unwrap();
    let err =
        rlhf_trainer::Trainer::with_pool(config_other, crate::common::pool_of(&fn_rms()), true)
            .err()
            .unwrap()
            .to_string();
    assert!(err.contains("`seed`"), "{err}");
    // A new run into the same folder is refused too.
    let config_new = rlhf_trainer::TrainerConfig::read(&path_b, &overrides).unwrap();
    let err =
        rlhf_trainer::Trainer::with_pool(config_new, crate::common::pool_of(&fn_rms()), false)
            .err()
            .unwrap()
            .to_string();
    assert!(err.contains("--resume"), "{err}");

    let mut resumed = trainer(&path_b, &overrides, &fn_rms(), true);
    assert_eq!(resumed.iteration(), 2);
    resumed.run(&mut |_| {}).unwrap();
    for ((name, a), (_, b)) in files(&whole.path().join("run"))
        .into_iter()
        .zip(files(&cut.path().join("run")))
    {
        assert!(a == b, "{name} differs after resume");
    }
}
