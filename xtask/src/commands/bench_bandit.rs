//! `cargo xtask bench bandit` (alias `bench router`): batched Thompson selection and the reward update, this
//! project's O(d²) Cholesky bandit against the reference O(d³) eigendecomposition numerics,
//! on the same synthetic workload in the same process (`routing_benches::compare_routers`).

use anyhow::Result;
use clap::Args;
use routing_benches::{ComparisonSizes, compare_routers};

/// Sizes and repetitions of the bandit benchmark.
#[derive(Debug, Args)]
pub struct BenchBanditArgs {
    /// Context dimension d (576 = SmolLM2-135M, the reference encoder).
    #[arg(long, default_value_t = 576)]
    d: usize,
    /// Number of arms (reward models) K.
    #[arg(long, default_value_t = 8)]
    k: usize,
    /// Pairs per selected batch N (480 = 32 prompts × 15 pairs, the reference batch).
    #[arg(long, default_value_t = 480)]
    n: usize,
    /// Timed repetitions of each measurement; the median is reported.
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Reference updates timed (each costs a d×d eigendecomposition).
    #[arg(long, default_value_t = 16)]
    baseline_updates: usize,
    /// Seed of the workload and the routers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

/// Runs the benchmark and prints the table, then the JSON line.
pub fn run(args: &BenchBanditArgs) -> Result<()> {
    let report = compare_routers(&ComparisonSizes {
        d: args.d,
        k: args.k,
        n: args.n,
        reps: args.reps,
        baseline_updates: args.baseline_updates,
        seed: args.seed,
    })?;
    println!(
        "bandit bench: d = {}, K = {}, N = {} pairs per batch",
        report.d, report.k, report.n
    );
    println!(
        "{:<28} {:>14} {:>14} {:>9}",
        "", "this project", "reference", "speedup"
    );
    println!(
        "{:<28} {:>14.3} {:>14.3} {:>8.1}x",
        "select (µs per pair)",
        report.select_us_per_pair,
        report.baseline_select_us_per_pair,
        report.select_speedup
    );
    println!(
        "{:<28} {:>14.3} {:>14.3} {:>8.1}x",
        "update, batched (µs/reward)",
        report.update_us,
        report.baseline_update_us,
        report.update_speedup
    );
    println!(
        "{:<28} {:>14.3} {:>14.3} {:>8.1}x",
        "update, alone (µs/reward)",
        report.single_update_us,
        report.baseline_update_us,
        report.single_update_speedup
    );
    println!(
        "{:<28} {:>14.3}",
        "select + propensity (µs/pair)", report.select_with_propensity_us_per_pair
    );
    println!("max |μ − μ_ref| = {:.3e}", report.max_mean_abs_diff);
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
