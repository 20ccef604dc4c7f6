//! `cargo xtask bench service`: the reward service under 1, 8 and 64 concurrent clients
//! beside a bare scoring server (`routing_benches::service_bench`, whose docs give the
//! workload); prints a table, then one JSON line.

use anyhow::Result;
use clap::Args;
use routing_benches::service_bench::{self, ServiceBenchConfig};

/// Load levels and duration of the service benchmark.
#[derive(Debug, Args)]
pub struct BenchServiceArgs {
    /// Concurrent clients per level, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 8, 64])]
    clients: Vec<usize>,
    /// Seconds measured per level and server (after a warm-up of a quarter of it).
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// The bandit's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Monte-Carlo draws per Thompson route (default: v5's 1,000).
    #[arg(long, value_name = "N")]
    propensity_draws: Option<usize>,
}

/// Runs the benchmark and prints the table, then the JSON line.
pub fn run(args: &BenchServiceArgs) -> Result<()> {
    let report = service_bench::run(&ServiceBenchConfig {
        clients: args.clients.clone(),
        seconds: args.seconds,
        seed: args.seed,
        propensity_draws: args.propensity_draws,
    })?;
    println!(
        "{:<12} {:>7} {:>9} {:>8} {:>8} {:>9} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6}",
        "workload",
        "clients",
        "req/s",
        "p50 ms",
        "p99 ms",
        "ref req/s",
        "ref p50",
        "ref p99",
        "route",
        "score",
        "ctx",
        "errors"
    );
    for level in &report.levels {
        let share = |stage: &str| 100.0 * level.stage_share.get(stage).copied().unwrap_or(0.0);
        println!(
            "{:<12} {:>7} {:>9.0} {:>8.2} {:>8.2} {:>9.0} {:>8.2} {:>8.2} {:>5.1}% {:>5.1}% {:>5.1}% {:>6}",
            level.workload,
            level.clients,
            level.requests_per_s,
            level.p50_ms,
            level.p99_ms,
            level.reference_requests_per_s,
            level.reference_p50_ms,
            level.reference_p99_ms,
            share("route"),
            share("score"),
            share("context"),
            level.errors
        );
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
