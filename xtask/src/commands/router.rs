//! `cargo xtask router …`: tools for bandit routers and their logs.

use clap::Subcommand;

use super::router_replay::{self, ReplayArgs};

/// Router tools.
#[derive(Debug, Subcommand)]
pub enum RouterCommand {
    /// Replay logged rewards into a Thompson router and write its posterior as JSON.
    Replay(ReplayArgs),
}

/// Runs a router subcommand.
pub fn run(command: RouterCommand) -> anyhow::Result<()> {
    match command {
        RouterCommand::Replay(args) => router_replay::run(&args),
    }
}
