//! `cargo xtask bench …`: hot paths measured beside their references in one run.

use clap::Subcommand;

use super::bench_router::{self, BenchRouterArgs};

/// Benchmarks that print a side-by-side table and, last, one JSON line.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Thompson-sampling selection and update vs the reference numerics.
    Router(BenchRouterArgs),
}

/// Runs a bench subcommand.
pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Router(args) => bench_router::run(&args),
    }
}
