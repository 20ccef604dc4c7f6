//! `cargo xtask offline-router eval --checkpoint DIR --data FILE`: the paper's
//! routing-accuracy table (router, each single RM, random, majority vote, oracle) overall
//! and per category, on records where at least one RM is right.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use eval_harness::routing::RoutingRow;
use lm::DeviceSpec;
use offline_router::{EvalRecords, RouterExport, evaluate_export};
use rm_pool::RmPool;
use serde_json::json;

/// Arguments of `offline-router eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// An export folder (a run's `best/` or `final/`) or its router.safetensors.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Records (TRL JSONL with judgments, e.g. a run's judged.jsonl).
    #[arg(long)]
    data: PathBuf,
    /// Judge what the records lack with this pool.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// Score only the validation side of a training split with this fraction (and --seed).
    #[arg(long)]
    validation_fraction: Option<f64>,
    /// The training run's seed (with --validation-fraction).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Pairs per encoder batch.
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// `cpu`, `libtorch` or `cuda[:N]`.
    #[arg(long, default_value = "cpu")]
    device: DeviceSpec,
}

/// Prints the table, then one JSON line.
pub fn run(args: &EvalArgs) -> Result<()> {
    let device = args.device.device()?;
    let names = RouterExport::load(&args.checkpoint, &device)?.meta.rm_names;
    let mut pool = match &args.pool {
        Some(path) => Some(RmPool::from_config_file(path)?),
        None => None,
    };
    let which = match args.validation_fraction {
        Some(fraction) => EvalRecords::Validation {
            fraction,
            seed: args.seed,
        },
        None => EvalRecords::All,
    };
    let table = evaluate_export(
        &args.checkpoint,
        &args.data,
        pool.as_mut(),
        which,
        &device,
        args.batch_size,
        &mut |_, _| {},
    )?;
    let print_row = |label: &str, row: &RoutingRow| {
        eprintln!(
            "{label} (n = {}, {} without a correct RM left out)",
            row.n, row.n_excluded
        );
        eprintln!("  {:<28} {:>8.4}", "router", row.router);
        for (name, accuracy) in names.iter().zip(&row.single) {
            eprintln!("  {name:<28} {accuracy:>8.4}");
        }
        eprintln!("  {:<28} {:>8.4}", "random", row.random);
        eprintln!("  {:<28} {:>8.4}", "majority vote", row.majority_vote);
        eprintln!("  {:<28} {:>8.4}", "oracle", row.oracle);
    };
    print_row("overall", &table.overall);
    for (category, row) in &table.categories {
        print_row(category, row);
    }
    println!("{}", json!({ "rms": names, "routing_accuracy": table }));
    Ok(())
}
