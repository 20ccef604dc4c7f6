//! `cargo xtask offline-router …`: build verifier-grounded preference data, train the
//! offline router, and evaluate an export.

use clap::Subcommand;

use super::offline_router_build::{self, BuildDataArgs};
use super::offline_router_eval::{self, EvalArgs};
use super::offline_router_train::{self, TrainArgs};

/// Offline-router tools.
#[derive(Debug, Subcommand)]
pub enum OfflineRouterCommand {
    /// Sample answers with a policy, label them with the task's checker, and write
    /// (correct ≻ incorrect) pairs as TRL JSONL.
    BuildData(BuildDataArgs),
    /// Train the router from a TOML config (judging the records with the pool first).
    Train(TrainArgs),
    /// The routing-accuracy table of an export on a records file; one JSON line last.
    Eval(EvalArgs),
}

/// Runs an offline-router subcommand.
pub fn run(command: OfflineRouterCommand) -> anyhow::Result<()> {
    match command {
        OfflineRouterCommand::BuildData(args) => offline_router_build::run(&args),
        OfflineRouterCommand::Train(args) => offline_router_train::run(&args),
        OfflineRouterCommand::Eval(args) => offline_router_eval::run(&args),
    }
}
