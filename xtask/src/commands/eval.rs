//! `cargo xtask eval …`: benchmark scoring.

use clap::Subcommand;

use super::eval_run::{self, RunArgs};
use super::eval_score::{self, ScoreArgs};

/// Evaluation commands.
#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Score a predictions (or judgments) file; prints one JSON line of metrics last.
    Score(ScoreArgs),
    /// Run a benchmark with a local model (GSM8K generation, MMLU log-likelihoods), save
    /// the predictions and metrics, and print the metrics as one JSON line last.
    Run(RunArgs),
}

/// Runs an eval subcommand.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Score(args) => eval_score::run(&args),
        EvalCommand::Run(args) => eval_run::run(&args),
    }
}
