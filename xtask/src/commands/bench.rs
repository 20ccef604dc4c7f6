//! `cargo xtask bench …`: hot paths measured beside their references in one run.

use clap::Subcommand;

use super::bench_bandit::{self, BenchBanditArgs};
use super::bench_service::{self, BenchServiceArgs};

/// Benchmarks that print a side-by-side table and, last, one JSON line.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Thompson-sampling selection and update vs the reference numerics (old name `router`,
    /// kept as an alias for one release).
    #[command(alias = "router")]
    Bandit(BenchBanditArgs),
    /// The reward service: requests/s and p50/p99 latency at 1, 8 and 64 concurrent
    /// clients, beside a bare scoring server, with the router's share of request time.
    Service(BenchServiceArgs),
}

/// Runs a bench subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Bandit(args) => bench_bandit::run(&args),
        BenchCommand::Service(args) => bench_service::run(&args),
    }
}
