//! `cargo xtask eval …`: benchmark runs, judging and scoring.

use clap::Subcommand;

use super::eval_judge::{self, EvalJudgeArgs};
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
    /// Judge a model's AlpacaEval outputs or Arena-Hard answers against the baselines with
    /// an LLM judge (official prompts and protocol) or an RM; prints the metrics last.
    Judge(EvalJudgeArgs),
}

/// Runs an eval subcommand.
pub fn run(command: EvalCommand) -> anyhow::Result<()> {
    match command {
        EvalCommand::Score(args) => eval_score::run(&args),
        EvalCommand::Run(args) => eval_run::run(&args),
        EvalCommand::Judge(args) => eval_judge::run(&args),
    }
}
