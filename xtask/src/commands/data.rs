//! `cargo xtask data …`: the data sets runs are made of.

use clap::Subcommand;

use super::data_gsm8k_split::{self, Gsm8kSplitArgs};

/// Data-set tools.
#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Split GSM8K's test set (the only split reachable here) into disjoint parts: the
    /// offline router's questions, online training prompts and held-out evaluation problems.
    Gsm8kSplit(Gsm8kSplitArgs),
}

/// Runs a data subcommand.
pub fn run(command: DataCommand) -> anyhow::Result<()> {
    match command {
        DataCommand::Gsm8kSplit(args) => data_gsm8k_split::run(&args),
    }
}
