//! `cargo xtask`: the command line for everything a user runs in this workspace.
//!
//! Each subcommand lives in its own file under `commands/`; this file only parses and
//! dispatches, and prints errors with their whole chain of causes.

// A command-line tool prints its results.
#![allow(clippy::print_stdout)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod spec;

/// Reward-model routing for RLHF: experiments, benchmarks and tools.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Measure hot paths against their reference implementations, side by side.
    #[command(subcommand)]
    Bench(commands::bench::BenchCommand),
    /// Work with bandit routers and their logs.
    #[command(subcommand)]
    Router(commands::router::RouterCommand),
}

fn main() -> ExitCode {
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
        Command::Bench(command) => commands::bench::run(command),
        Command::Router(command) => commands::router::run(command),
    }
}
