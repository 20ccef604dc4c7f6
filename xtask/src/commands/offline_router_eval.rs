//! `cargo xtask offline-router eval --run DIR` (or `--checkpoint EXPORT …` with `--data
//! FILE`): the paper's routing-accuracy table (each router, each single RM, random, majority
//! vote, oracle) overall and per category, on records where at least one RM is right, on the
//! run's untouched test split by default, with 95% bootstrap intervals over prompts.

use std::path::PathBuf;

use anyhow::{Result, bail};
use clap::Args;
use eval_harness::routing::{Interval, RoutingRow};
use lm::DeviceSpec;
use offline_router::{EvalSplit, RunLayout, evaluate_exports};
use rm_pool::RmPool;
use serde_json::json;

/// Arguments of `offline-router eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// A training run's folder: evaluates its `best/` and `final/` side by side, on its
    /// `judged.jsonl` unless --data says otherwise.
    #[arg(long, conflicts_with = "checkpoint")]
    run: Option<PathBuf>,
    /// An export folder (a run's `best/` or `final/`) or its router.safetensors; repeat to
    /// compare several on the same records.
    #[arg(long)]
    checkpoint: Vec<PathBuf>,
    /// Records (TRL JSONL with judgments, e.g. a run's judged.jsonl).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Judge what the records lack with this pool.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// Which records: `test` (the run's held-out part and prompts it never saw), or
    /// `validation`, `train`, `all` (these need --allow-seen-records when a checkpoint was
    /// trained or selected on them).
    #[arg(long, default_value = "test")]
    split: EvalSplit,
    /// Report records a checkpoint was trained or selected on; the output is marked as such.
    #[arg(long)]
    allow_seen_records: bool,
    /// Pairs per encoder batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// `cpu`, `libtorch` or `cuda[:N]`.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Prints the table, then one JSON line.
pub fn run(args: &EvalArgs) -> Result<()> {
    let (checkpoints, data) = match (&args.run, &args.data) {
        (Some(run), data) => RunLayout::new(run).evaluation_inputs(data.as_deref())?,
        (None, Some(data)) if !args.checkpoint.is_empty() => {
            (args.checkpoint.clone(), data.clone())
        }
        _ => bail!("give --run DIR, or --checkpoint EXPORT (one or more) with --data FILE"),
    };
    let device = args.device.device()?;
    let mut pool = match &args.pool {
        Some(path) => Some(RmPool::from_config_file(path)?),
        None => None,
    };
    let evaluation = evaluate_exports(
        &checkpoints,
        &data,
        pool.as_mut(),
        args.split,
        args.allow_seen_records,
        &device,
        args.batch_size,
        &mut |_, _| {},
    )?;
    let label = |path: &PathBuf| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    };
    eprintln!(
        "{} split of {}: {} records, {} prompts",
        json!(evaluation.split).as_str().unwrap_or_default(),
        data.display(),
        evaluation.records,
        evaluation.prompts
    );
    if let Some(seen) = &evaluation.seen {
        eprintln!("NOT HELD OUT (optimistic): {seen}");
    }
    let ci = |interval: &Interval| format!("[{:.3}, {:.3}]", interval.low, interval.high);
    // Intervals are computed for the overall row only.
    let print_row = |title: &str, rows: &[&RoutingRow], intervals: bool| {
        let interval_text = |interval: &Interval| {
            if intervals {
                ci(interval)
            } else {
                String::new()
            }
        };
        let first = rows[0];
        eprintln!(
            "{title} (n = {}, {} without a correct RM left out)",
            first.n, first.n_excluded
        );
        for (export, row) in evaluation.exports.iter().zip(rows) {
            let name = format!(
                "router ({}, step {})",
                label(&export.checkpoint),
                export.step
            );
            let band = interval_text(&export.intervals.router);
            eprintln!("  {name:<32} {:>8.4} {band}", row.router);
        }
        let reference = &evaluation.exports[0].intervals;
        for (k, (name, accuracy)) in evaluation.rms.iter().zip(&first.single).enumerate() {
            let band = interval_text(&reference.single[k]);
            eprintln!("  {name:<32} {accuracy:>8.4} {band}");
        }
        eprintln!("  {:<32} {:>8.4}", "random", first.random);
        let band = interval_text(&reference.majority_vote);
        eprintln!(
            "  {:<32} {:>8.4} {band}",
            "majority vote", first.majority_vote
        );
        eprintln!("  {:<32} {:>8.4}", "oracle", first.oracle);
    };
    let overall: Vec<&RoutingRow> = evaluation
        .exports
        .iter()
        .map(|e| &e.routing_accuracy.overall)
        .collect();
    print_row("overall", &overall, true);
    for category in evaluation.exports[0].routing_accuracy.categories.keys() {
        let rows: Vec<&RoutingRow> = evaluation
            .exports
            .iter()
            .map(|e| &e.routing_accuracy.categories[category])
            .collect();
        print_row(category, &rows, false);
    }
    for export in &evaluation.exports {
        let best_single = export
            .routing_accuracy
            .overall
            .single
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(k, _)| k)
            .unwrap_or(0);
        eprintln!(
            "router ({}) − {}: {} (95% over prompts); − majority vote: {}",
            label(&export.checkpoint),
            evaluation.rms[best_single],
            ci(&export.intervals.router_minus_single[best_single]),
            ci(&export.intervals.router_minus_majority_vote)
        );
    }
    println!("{}", serde_json::to_string(&evaluation)?);
    Ok(())
}
