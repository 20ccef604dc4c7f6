//! `cargo xtask rm score --pool POOL.toml --pairs PAIRS.jsonl`: every RM of the pool scores
//! both responses of every pair (TRL-style JSONL); a pair counts as right for an RM when it
//! scores `chosen` above `rejected` by more than the tie threshold (a tie is wrong, as in
//! RewardBench). Also the K× majority vote (ties abstain; an even vote is wrong) and the
//! oracle (right when at least one RM is right). Prints a table, then one JSON line.
//!
//! Every RM's input requirements are checked against every pair before anything is scored.
//! Each RM's scores are appended as they are computed (`<out>/scores/<rm>.jsonl`, reused by
//! a rerun: only what is missing is scored) and the results so far are rewritten to
//! `<out>/results.json`, so a failure in a later RM loses nothing.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use eval_harness::routing::pair_accuracy;
use rm_pool::{RmPool, ScoreItem, Verdict, read_pairs};
use serde_json::{Map, Value, json};

/// Items per pool call: the most an interrupted run can lose per RM (scores are appended
/// to `<out>/scores/<rm>.jsonl` after every call).
const CALL_ITEMS: usize = 64;

/// Arguments of `rm score`.
#[derive(Debug, Args)]
pub struct RmScoreArgs {
    /// The pool file (e.g. configs/rm-pool.toml).
    #[arg(long)]
    pool: PathBuf,
    /// Preference pairs: JSONL with prompt, chosen, rejected (and optional reference,
    /// category).
    #[arg(long)]
    pairs: PathBuf,
    /// Score differences up to this count as ties.
    #[arg(long, default_value_t = 0.0)]
    tie_eps: f32,
    /// Where the scores and results go; default: `runs/rm-score/<pairs file name>`.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Scores the pairs and prints the results.
pub fn run(args: &RmScoreArgs) -> Result<()> {
    let pairs = read_pairs(&args.pairs)?;
    if pairs.is_empty() {
        bail!("{}: no pairs", args.pairs.display());
    }
    let mut pool = RmPool::from_config_file(&args.pool)
        .with_context(|| format!("loading the pool {}", args.pool.display()))?;
    let (chosen, rejected): (Vec<ScoreItem>, Vec<ScoreItem>) =
        pairs.iter().map(|p| p.items()).unzip();
    for (side, items) in [("chosen", &chosen), ("rejected", &rejected)] {
        pool.check_items(items).with_context(|| {
            format!(
                "{} ({side} responses; item = pair index): nothing was scored",
                args.pairs.display()
            )
        })?;
    }
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = args.pairs.file_stem().unwrap_or_default().to_string_lossy();
        PathBuf::from("runs/rm-score").join(stem.as_ref())
    });
    let scores_dir = out.join("scores");
    let reused = pool.keep_scores_in(&scores_dir)?;
    let categories: Vec<&str> = pairs
        .iter()
        .map(|p| p.category.as_deref().unwrap_or("all"))
        .collect();
    let mut per_rm = Map::new();
    let mut any_right = vec![false; pairs.len()];
    eprintln!(
        "{:<24} {:>9} {:>6} {:>6} {:>10}",
        "rm", "accuracy", "ties", "calls", "items/s"
    );
    for (rm, reused) in reused.into_iter().enumerate() {
        let name = pool.names()[rm].clone();
        if reused > 0 {
            eprintln!(
                "{name}: {reused} scores reused from {}",
                rm_pool::score_file_path(&scores_dir, &name).display()
            );
        }
        // Scored in chunks, each appended to the RM's score file as it is computed.
        let mut scored = || -> rm_pool::Result<(Vec<f32>, Vec<f32>)> {
            for chunk in chosen.chunks(CALL_ITEMS).chain(rejected.chunks(CALL_ITEMS)) {
                pool.score(rm, chunk)?;
            }
            Ok((pool.score(rm, &chosen)?, pool.score(rm, &rejected)?))
        };
        let (a, b) = scored().with_context(|| format!("RM {name}"))?;
        let verdicts: Vec<Verdict> = a
            .iter()
            .zip(&b)
            .map(|(&a, &b)| Verdict::from_scores(a, b, args.tie_eps))
            .collect();
        let ties = verdicts.iter().filter(|v| **v == Verdict::Tie).count();
        for (right, verdict) in any_right.iter_mut().zip(&verdicts) {
            *right |= *verdict == Verdict::First;
        }
        // Ties are wrong: score them as equal for pair_accuracy.
        let triples = categories.iter().zip(&verdicts).map(|(category, verdict)| {
            let chosen = if *verdict == Verdict::First { 1.0 } else { 0.0 };
            (*category, chosen, 0.0)
        });
        let accuracy = pair_accuracy(triples)?;
        let stats = pool.stats(rm);
        eprintln!(
            "{name:<24} {:>9.3} {ties:>6} {:>6} {:>10.2}",
            accuracy.accuracy,
            stats.calls,
            stats.items_per_s()
        );
        per_rm.insert(
            name,
            json!({
                "accuracy": accuracy.accuracy,
                "ties": ties,
                "calls": stats.calls,
                "items_per_s": stats.items_per_s(),
                "truncations": stats.truncations,
                "subsets": accuracy.subsets,
            }),
        );
        let so_far = json!({ "rms": Value::Object(per_rm.clone()), "n": pairs.len() });
        atomic_write::replace_file(
            &out.join("results.json"),
            serde_json::to_string_pretty(&so_far)?.as_bytes(),
        )?;
    }
    let item_pairs: Vec<(ScoreItem, ScoreItem)> = chosen.into_iter().zip(rejected).collect();
    let majority = pool.majority_vote(&item_pairs, args.tie_eps)?;
    let n = pairs.len() as f64;
    let majority_accuracy = majority.iter().filter(|v| **v == Verdict::First).count() as f64 / n;
    let oracle_accuracy = any_right.iter().filter(|r| **r).count() as f64 / n;
    eprintln!("{:<24} {majority_accuracy:>9.3}", "majority vote");
    eprintln!("{:<24} {oracle_accuracy:>9.3}", "oracle");
    let mut report = Map::new();
    report.insert("rms".into(), Value::Object(per_rm));
    report.insert("majority_vote_accuracy".into(), json!(majority_accuracy));
    report.insert("oracle_accuracy".into(), json!(oracle_accuracy));
    report.insert("n".into(), json!(pairs.len()));
    atomic_write::replace_file(
        &out.join("results.json"),
        serde_json::to_string_pretty(&report)?.as_bytes(),
    )?;
    eprintln!("scores and results in {}", out.display());
    println!("{}", Value::Object(report));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup(pairs: &str) -> (tempfile::TempDir, RmScoreArgs) {
        let dir = tempfile::tempdir().unwrap();
        let pool = dir.path().join("pool.toml");
        std::fs::write(
            &pool,
            "[[rm]]\nname = \"exact\"\nkind = \"verifier\"\ntask = \"exact\"\n",
        )
        .unwrap();
        let pairs_file = dir.path().join("pairs.jsonl");
        std::fs::write(&pairs_file, pairs).unwrap();
        let args = RmScoreArgs {
            pool,
            pairs: pairs_file,
            tie_eps: 0.0,
            out: Some(dir.path().join("out")),
        };
        (dir, args)
    }

    #[test]
    fn pairs_an_rm_cannot_score_fail_before_anything_is_scored() {
        let (_dir, args) = setup(concat!(
            "{\"prompt\": \"2 + 2?\", \"chosen\": \"4\", \"rejected\": \"5\", \"reference\": \"4\"}\n",
            "{\"prompt\": \"1 + 1?\", \"chosen\": \"2\", \"rejected\": \"3\"}\n",
        ));
        let err = format!("{:#}", run(&args).unwrap_err());
        assert!(
            err.contains("nothing was scored")
                && err.contains("item 1")
                && err.contains("reference"),
            "{err}"
        );
        assert!(
            !args.out.as_ref().unwrap().exists(),
            "files written before the check"
        );
    }

    #[test]
    fn scores_and_results_are_saved_and_a_rerun_reuses_them() {
        let (_dir, args) = setup(concat!(
            "{\"prompt\": \"2 + 2?\", \"chosen\": \"4\", \"rejected\": \"5\", \"reference\": \"4\"}\n",
            "{\"prompt\": \"1 + 1?\", \"chosen\": \"2\", \"rejected\": \"3\", \"reference\": \"3\"}\n",
        ));
        run(&args).unwrap();
        let out = args.out.clone().unwrap();
        let scores = std::fs::read_to_string(out.join("scores/exact.jsonl")).unwrap();
        assert_eq!(scores.lines().count(), 1 + 4, "{scores}");
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(results["rms"]["exact"]["accuracy"], json!(0.5));
        // A rerun scores nothing: the saved file is unchanged and the RM made no call.
        run(&args).unwrap();
        let again = std::fs::read_to_string(out.join("scores/exact.jsonl")).unwrap();
        assert_eq!(again, scores);
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(results["rms"]["exact"]["calls"], json!(0));
    }
}
