//! `cargo xtask eval …`: benchmark scoring.

use clap::Subcommand;

use super::eval_score::{self, ScoreArgs};

/// Evaluation commands.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Score a predictions (or judgments) file; prints one JSON line of metrics last.
    Score(ScoreArgs),
}

/// Runs an eval subcommand.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Score(args) => eval_score::run(&args),
    }
}
