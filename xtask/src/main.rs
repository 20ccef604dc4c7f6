//! `cargo xtask`: the command line for everything a user runs in this workspace.
//!
//! Each subcommand lives in its own file under `commands/`; this file only parses and
//! dispatches, and prints errors with their whole chain of causes.

// A command-line tool prints its results.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod logging;

/// Reward-model routing for RLHF: experiments, benchmarks and tools.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch the real models and data (configs/assets.toml) into ./assets, sha256-checked.
    Assets(commands::assets::AssetsArgs),
    /// Measure hot paths against their reference implementations, side by side.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Prepare data sets (splits of the benchmarks reachable here).
    #[command(subcommand)]
    Data(commands::data::DataCommand),
    /// The paper's comparison end to end: every routing strategy through online DPO on the
    /// embedded miniature world (or `--config`), reported with confidence intervals.
    Experiment(commands::experiment::ExperimentArgs),
    /// Score benchmarks as their official tools do.
    #[command(subcommand)]
    Eval(commands::eval::EvalCommand),
    /// Run language models (Hugging Face folders or GGUF files).
    #[command(subcommand)]
    Lm(commands::lm::LmCommand),
    /// Build preference data, train the offline router, evaluate its export.
    #[command(subcommand)]
    OfflineRouter(commands::offline_router::OfflineRouterCommand),
    /// Score preference pairs with a pool of reward models.
    #[command(subcommand)]
    Rm(commands::rm::RmCommand),
    /// Work with the online bandit and its logs (old name `router`, kept as an alias for one
    /// release).
    #[command(subcommand, alias = "router")]
    Bandit(commands::bandit::BanditCommand),
    /// Serve the pool and a router over HTTP (OpenRLHF's /get_reward, a pairwise endpoint,
    /// feedback to the bandit) until SIGTERM.
    Serve(commands::serve::ServeArgs),
    /// Online DPO with reward-model routing (one strategy, one run).
    Train(commands::train::TrainArgs),
}

fn main() -> ExitCode {
    logging::init();
    // Large tensors recycled from the heap rather than mapped afresh (lm::allocator).
    lm::allocator::reuse_freed_memory();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Assets(args) => commands::assets::run(&args),
        Command::Bench(command) => commands::bench::run(command),
        Command::Data(command) => commands::data::run(command),
        Command::Eval(command) => commands::eval::run(command),
        Command::Experiment(args) => commands::experiment::run(&args),
        Command::Lm(command) => commands::lm::run(command),
        Command::OfflineRouter(command) => commands::offline_router::run(command),
        Command::Rm(command) => commands::rm::run(command),
        Command::Bandit(command) => commands::bandit::run(command),
        Command::Serve(args) => commands::serve::run(args),
        Command::Train(args) => commands::train::run(&args),
    }
}
