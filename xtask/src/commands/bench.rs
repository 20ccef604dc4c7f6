//! `cargo xtask bench …`: hot paths measured beside their references in one run.

use clap::Subcommand;

use super::bench_bandit::{self, BenchBanditArgs};

/// Benchmarks that print a side-by-side table and, last, one JSON line.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Thompson-sampling selection and update vs the reference numerics (old name `router`,
    /// kept as an alias for one release).
    #[command(alias = "router")]
    Bandit(BenchBanditArgs),
}

/// Runs a bench subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Bandit(args) => bench_bandit::run(&args),
    }
}
