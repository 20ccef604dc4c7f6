//! `cargo xtask rm …`: reward-model pools.

use clap::Subcommand;

use super::rm_score::{self, RmScoreArgs};

/// Reward-model tools.
#[derive(Debug, Subcommand)]
pub enum RmCommand {
    /// Score preference pairs with every RM of a pool; prints per-RM accuracy, majority vote
    /// and oracle, and one JSON line last.
    Score(RmScoreArgs),
}

/// Runs an rm subcommand.
pub fn run(command: RmCommand) -> anyhow::Result<()> {
    match command {
        RmCommand::Score(args) => rm_score::run(&args),
    }
}
