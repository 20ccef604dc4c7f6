//! A pool's accuracy on preference pairs (rm_accuracy::score_pairs), with a verifier RM:
//! inputs checked before anything is scored, scores and results kept, a rerun scoring
//! nothing.

use std::path::{Path, PathBuf};

use eval_harness::rm_accuracy::score_pairs;
use rm_pool::{RmPool, read_pairs};
use serde_json::{Value, json};

/// A pool of one exact-match verifier and `pairs` written to a file, in a temporary folder.
fn setup(pairs: &str) -> (tempfile::TempDir, RmPool, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pool = dir.path().join("pool.toml");
    std::fs::write(
        &pool,
        "[[rm]]\nname = \"exact\"\nkind = \"verifier\"\ntask = \"exact\"\n",
    )
    .unwrap();
    let pairs_file = dir.path().join("pairs.jsonl");
    std::fs::write(&pairs_file, pairs).unwrap();
    (dir, RmPool::from_config_file(&pool).unwrap(), pairs_file)
}

fn score(pool: &mut RmPool, pairs_file: &Path, out: &Path) -> eval_harness::Result<Value> {
    let pairs = read_pairs(pairs_file).unwrap();
    let report = score_pairs(pool, &pairs, pairs_file, 0.0, out, &mut |_, _| {})?;
    Ok(serde_json::to_value(report).unwrap())
}

#[test]
fn pairs_an_rm_cannot_score_fail_before_anything_is_scored() {
    let (dir, mut pool, pairs) = setup(concat!(
        "{\"prompt\": \"2 + 2?\", \"chosen\": \"4\", \"rejected\": \"5\", \"reference\": \"4\"}\n",
        "{\"prompt\": \"1 + 1?\", \"chosen\": \"2\", \"rejected\": \"3\"}\n",
    ));
    let out = dir.path().join("out");
    let err = score(&mut pool, &pairs, &out).unwrap_err().to_string();
    assert!(
        err.contains("nothing was scored") && err.contains("item 1") && err.contains("reference"),
        "{err}"
    );
    assert!(!out.exists(), "files written before the check");
}

#[test]
fn scores_and_results_are_saved_and_a_rerun_reuses_them() {
    let (dir, mut pool, pairs) = setup(concat!(
        "{\"prompt\": \"2 + 2?\", \"chosen\": \"4\", \"rejected\": \"5\", \"reference\": \"4\"}\n",
        "{\"prompt\": \"1 + 1?\", \"chosen\": \"2\", \"rejected\": \"3\", \"reference\": \"3\"}\n",
    ));
    let out = dir.path().join("out");
    let report = score(&mut pool, &pairs, &out).unwrap();
    assert_eq!(report["rms"]["exact"]["accuracy"], json!(0.5));
    assert_eq!(report["majority_vote_accuracy"], json!(0.5));
    assert_eq!(report["oracle_accuracy"], json!(0.5));
    let scores = std::fs::read_to_string(out.join("scores/exact.jsonl")).unwrap();
    assert_eq!(scores.lines().count(), 1 + 4, "{scores}");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(saved, report);
    // A rerun (a fresh pool, as a new process has) scores nothing: the saved file is
    // unchanged and the RM made no call.
    let (_, mut fresh, _) = setup("");
    let again = score(&mut fresh, &pairs, &out).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.join("scores/exact.jsonl")).unwrap(),
        scores
    );
    assert_eq!(again["rms"]["exact"]["calls"], json!(0));
}
