//! `cargo xtask train --config FILE [--resume] [--strategy S] [--seed N] [--iterations N]
//! [--out DIR]`: online DPO with reward-model routing (rlhf-trainer), with a progress bar
//! showing the loss, the routing shares and the ETA.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use indicatif::ProgressStyle;
use rlhf_trainer::{IterationReport, Overrides, StrategyConfig, Trainer, TrainerConfig};
use serde_json::json;

use crate::logging;

/// Arguments of `train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// The run's configuration (TOML; docs/FORMATS.md, "Trainer config").
    #[arg(long)]
    config: PathBuf,
    /// Continue from the run folder's latest checkpoint (the config must be the same, bar
    /// `iterations`).
    #[arg(long)]
    resume: bool,
    /// Replace the config's strategy: bayesian-v5, bayesian-v4, online-only, offline-only,
    /// laser, laser-per-prompt, epsilon-greedy, random, `single:<rm>`, ensemble, majority,
    /// oracle.
    #[arg(long)]
    strategy: Option<StrategyConfig>,
    /// Replace the config's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Replace the config's number of iterations.
    #[arg(long)]
    iterations: Option<usize>,
    /// Replace the config's run folder.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Trains; prints one JSON line with the run's summary last.
pub fn run(args: &TrainArgs) -> Result<()> {
    let overrides = Overrides {
        strategy: args.strategy.clone(),
        seed: args.seed,
        iterations: args.iterations,
        output: args.out.clone(),
    };
    let config = TrainerConfig::read(&args.config, &overrides)?;
    let strategy = config.strategy.name();
    let total = config.iterations as u64;
    let start = std::time::Instant::now();
    let mut trainer = Trainer::from_config(config, args.resume)
        .with_context(|| format!("setting up the run of {}", args.config.display()))?;
    let bar = logging::bar(total);
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed}, ETA {eta})",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(strategy.clone());
    bar.set_position(trainer.iteration() as u64);
    let summary = trainer
        .run(&mut |report: &IterationReport| {
            bar.set_position(report.iteration as u64 + 1);
            bar.set_message(progress_message(report));
        })
        .with_context(|| format!("training with {}", args.config.display()))?;
    bar.finish_and_clear();
    let pool = trainer.pool();
    let calls: serde_json::Map<String, serde_json::Value> = pool
        .names()
        .into_iter()
        .enumerate()
        .map(|(k, name)| (name, json!(pool.stats(k).items)))
        .collect();
    eprintln!(
        "done: {} iterations ({} skipped) in {:.0} s; policy in {}",
        summary.iterations,
        summary.skipped,
        start.elapsed().as_secs_f64(),
        summary.policy.display()
    );
    println!(
        "{}",
        json!({
            "strategy": strategy,
            "iterations": summary.iterations,
            "skipped": summary.skipped,
            "rm_items_scored": calls,
            "seconds": start.elapsed().as_secs_f64(),
            "output": summary.dir,
            "policy": summary.policy,
        })
    );
    Ok(())
}

/// The bar's message: loss, kept pairs and the routing shares of the iteration.
fn progress_message(report: &IterationReport) -> String {
    if let Some(reason) = &report.skipped {
        return format!("skipped: {reason}");
    }
    let metrics = &report.metrics;
    let mut message = match metrics.get("loss").and_then(|v| v.as_f64()) {
        Some(loss) => format!("loss {loss:.4}"),
        None => "no pairs".into(),
    };
    if let Some(kept) = metrics.get("pairs/kept") {
        message.push_str(&format!(", {kept} pairs"));
    }
    let shares: Vec<String> = metrics
        .iter()
        .filter_map(|(key, value)| {
            let name = key.strip_prefix("routing/share/")?;
            Some(format!("{name} {:.0}%", 100.0 * value.as_f64()?))
        })
        .collect();
    if !shares.is_empty() {
        message.push_str(&format!(" | {}", shares.join(" ")));
    }
    message
}
