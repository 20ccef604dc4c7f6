//! `cargo xtask rm score --pool POOL.toml --pairs PAIRS.jsonl`: every RM of the pool scores
//! both responses of every pair (TRL-style JSONL); a pair counts as right for an RM when it
//! scores `chosen` above `rejected` by more than the tie threshold (a tie is wrong, as in
//! RewardBench). Also the K× majority vote (ties abstain; an even vote is wrong) and the
//! oracle (right when at least one RM is right). Prints a table, then one JSON line.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use eval_harness::routing::pair_accuracy;
use rm_pool::{RmPool, ScoreItem, Verdict, read_pairs};
use serde_json::{Map, Value, json};

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
    for rm in 0..pool.len() {
        let name = pool.names()[rm].clone();
        let a = pool
            .score(rm, &chosen)
            .with_context(|| format!("RM {name}"))?;
        let b = pool
            .score(rm, &rejected)
            .with_context(|| format!("RM {name}"))?;
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
    println!("{}", Value::Object(report));
    Ok(())
}
