//! The DPO reference's hard updates and sampling from the reference (`[dpo]
//! reference_sync_every`, `[sampling] generator`): a reference synced before every iteration
//! makes every pair's loss ln 2 at its step; samples of the reference do not depend on the
//! policy's updates; a run that syncs resumes bit for bit from a checkpoint taken between
//! syncs.

use std::path::{Path, PathBuf};

use rlhf_trainer::{Overrides, ROUTING_FILE, SAMPLES_FILE};

use crate::common::{fn_rms, read_jsonl, trainer, write_config};

/// `write_config`'s file for `single:length` with `sampling` and `dpo` lines added to those
/// tables and `top` at the top level.
fn config(dir: &Path, top: &str, sampling: &str, dpo: &str) -> PathBuf {
    let path = write_config(dir, "kind = \"single\"\nrm = \"length\"", top);
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[sampling]\n", &format!("[sampling]\n{sampling}\n"))
        .replace("[dpo]\n", &format!("[dpo]\n{dpo}\n"));
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `iterations` of the config at `path` to the end.
fn run(path: &Path, iterations: usize) {
    let overrides = Overrides {
        iterations: Some(iterations),
        ..Overrides::default()
    };
    trainer(path, &overrides, &fn_rms(), false)
        .run(&mut |_| {})
        .unwrap();
}

/// Every kept pair's logged DPO loss (before its step), with its iteration.
fn losses(run_dir: &Path) -> Vec<(u64, f64)> {
    read_jsonl(&run_dir.join(ROUTING_FILE))
        .into_iter()
        .filter(|r| r["kept"] == true)
        .map(|r| {
            (
                r["iteration"].as_u64().unwrap(),
                r["loss"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_reference_synced_before_every_step_gives_every_pair_ln_2() {
    let synced = tempfile::tempdir().unwrap();
    let frozen = tempfile::tempdir().unwrap();
    run(
        &config(synced.path(), "", "", "reference_sync_every = 1"),
        3,
    );
    run(&config(frozen.path(), "", "", ""), 3);
    let synced = losses(&synced.path().join("run"));
    assert!(synced.iter().any(|&(it, _)| it == 2), "{synced:?}");
    for &(iteration, loss) in &synced {
        assert!(
            (loss - std::f64::consts::LN_2).abs() < 1e-4,
            "iteration {iteration}: loss {loss} with a reference synced before the step"
        );
    }
    // A frozen reference has moved away from the policy by then (the same check fails).
    let frozen = losses(&frozen.path().join("run"));
    assert!(
        frozen
            .iter()
            .any(|&(it, loss)| it >= 1 && (loss - std::f64::consts::LN_2).abs() > 1e-3),
        "{frozen:?}"
    );
}

#[test]
fn samples_of_the_reference_ignore_the_policys_updates() {
    let samples = |generator: &str, lr: &str| {
        let dir = tempfile::tempdir().unwrap();
        let path = config(dir.path(), "", generator, "");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("lr = 0.01", lr);
        std::fs::write(&path, text).unwrap();
        run(&path, 4);
        std::fs::read(dir.path().join("run").join(SAMPLES_FILE)).unwrap()
    };
    let reference = "generator = \"reference\"";
    assert_eq!(
        samples(reference, "lr = 0.05"),
        samples(reference, "lr = 0.0"),
        "the reference's samples changed with the policy's learning rate"
    );
    // The policy's own samples do change (the same comparison fails for online DPO).
    assert_ne!(samples("", "lr = 0.05"), samples("", "lr = 0.0"));
}

#[test]
fn a_run_that_syncs_its_reference_resumes_bit_for_bit() {
    let files = |run: &Path| -> Vec<(String, Vec<u8>)> {
        ["final/policy/model.safetensors", ROUTING_FILE, SAMPLES_FILE]
            .iter()
            .map(|f| (f.to_string(), std::fs::read(run.join(f)).unwrap()))
            .collect()
    };
    let make = |dir: &Path| {
        config(
            dir,
            "",
            "generator = \"reference\"",
            "reference_sync_every = 2",
        )
    };
    let whole = tempfile::tempdir().unwrap();
    run(&make(whole.path()), 5);

    // Stopped after a checkpoint at iteration 3, between the syncs before 2 and 4: the
    // reference to restore is the policy of iteration 2, not the initial one.
    let cut = tempfile::tempdir().unwrap();
    let path = make(cut.path());
    let overrides = Overrides {
        iterations: Some(5),
        ..Overrides::default()
    };
    {
        let mut first = trainer(&path, &overrides, &fn_rms(), false);
        for _ in 0..3 {
            first.step().unwrap();
        }
        first.save_checkpoint().unwrap();
        first.step().unwrap();
    }
    let checkpoint = cut.path().join("run/checkpoints/iter-00000003");
    assert!(checkpoint.join("reference/model.safetensors").is_file());
    let mut resumed = trainer(&path, &overrides, &fn_rms(), true);
    assert_eq!(resumed.iteration(), 3);
    resumed.run(&mut |_| {}).unwrap();
    for ((name, a), (_, b)) in files(&whole.path().join("run"))
        .into_iter()
        .zip(files(&cut.path().join("run")))
    {
        assert!(a == b, "{name} differs after resume");
    }

    // Without the saved reference the resumption is refused, naming what is missing.
    std::fs::remove_dir_all(checkpoint.join("reference")).unwrap();
    let all_later: Vec<_> = std::fs::read_dir(cut.path().join("run/checkpoints"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &checkpoint)
        .collect();
    for later in all_later {
        std::fs::remove_dir_all(later).unwrap();
    }
    let config = rlhf_trainer::TrainerConfig::read(&path, &overrides).unwrap();
    let err = rlhf_trainer::Trainer::with_pool(config, crate::common::pool_of(&fn_rms()), true)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("reference_sync_every"), "{err}");
}
