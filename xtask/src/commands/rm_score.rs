//! `cargo xtask rm score --pool POOL.toml --pairs PAIRS.jsonl`: every RM of the pool scores
//! both responses of every pair (TRL-style JSONL), with the majority vote and the oracle
//! (`eval_harness::rm_accuracy::score_pairs`, which checks every RM's inputs first and keeps
//! scores and results as it goes). Prints a table, then one JSON line.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use eval_harness::rm_accuracy::score_pairs;
use rm_pool::{RmPool, read_pairs};

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
    let mut pool = RmPool::from_config_file(&args.pool)
        .with_context(|| format!("loading the pool {}", args.pool.display()))?;
    let out = args.out.clone().unwrap_or_else(|| {
        let stem = args.pairs.file_stem().unwrap_or_default().to_string_lossy();
        PathBuf::from("runs/rm-score").join(stem.as_ref())
    });
    eprintln!(
        "{:<24} {:>9} {:>6} {:>6} {:>10}",
        "rm", "accuracy", "ties", "calls", "items/s"
    );
    let report = score_pairs(
        &mut pool,
        &pairs,
        &args.pairs,
        args.tie_eps,
        &out,
        &mut |name, rm| {
            eprintln!(
                "{name:<24} {:>9.3} {:>6} {:>6} {:>10.2}",
                rm.accuracy, rm.ties, rm.calls, rm.items_per_s
            );
        },
    )?;
    for (label, accuracy) in [
        ("majority vote", report.majority_vote_accuracy),
        ("oracle", report.oracle_accuracy),
    ] {
        eprintln!("{label:<24} {:>9.3}", accuracy.unwrap_or(f64::NAN));
    }
    eprintln!("scores and results in {}", out.display());
    println!("{}", serde_json::to_value(&report)?);
    Ok(())
}
