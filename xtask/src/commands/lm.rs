//! `cargo xtask lm …`: run and measure language models from Hugging Face folders or GGUF
//! files.

use anyhow::Result;
use clap::Subcommand;

use super::lm_bench::{self, LmBenchArgs};
use super::lm_generate::{self, GenerateArgs};

/// Language-model tools.
#[derive(Debug, Subcommand)]
pub enum LmCommand {
    /// Generate text from a prompt (greedy unless a temperature is given).
    Generate(GenerateArgs),
    /// Measure prefill, decode and a DPO-shaped training step, beside Hugging Face
    /// transformers on the same machine when a Python with it is given; prints one JSON line
    /// last.
    Bench(LmBenchArgs),
}

/// Runs an lm subcommand.
pub fn run(command: LmCommand) -> Result<()> {
    match command {
        LmCommand::Generate(args) => lm_generate::run(&args),
        LmCommand::Bench(args) => lm_bench::run(&args),
    }
}
