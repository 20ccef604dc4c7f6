//! `cargo xtask bandit ope-check` (alias `router ope-check`): off-policy estimates checked
//! against the truth on a finished embedded-world experiment (`experiment::ope_check`).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use experiment::ope_check::{OpeCheckConfig, check_experiment, render_markdown, write_check};
use indicatif::{ProgressBar, ProgressStyle};

/// Arguments of `bandit ope-check`.
#[derive(Debug, Args)]
pub struct OpeCheckArgs {
    /// The experiment folder (`<out>/<name>` of `cargo xtask experiment`).
    #[arg(long, value_name = "DIR", default_value = "runs/experiment/default")]
    experiment: PathBuf,
    /// Strategies whose runs serve as logs, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "random,bayesian-v5")]
    logging: Vec<String>,
    /// Bootstrap resamples per interval.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
}

/// Runs the check, prints its tables and writes ope-check.json / ope-check.md.
pub fn run(args: OpeCheckArgs) -> Result<()> {
    let mut config = OpeCheckConfig {
        logging: args.logging,
        ..OpeCheckConfig::default()
    };
    config.bootstrap.resamples = args.resamples;
    let bar = ProgressBar::new(0).with_style(ProgressStyle::with_template(
        "{msg} [{bar:30}] {pos}/{len} logs ({elapsed})",
    )?);
    bar.set_message("ope-check");
    let check = check_experiment(&args.experiment, &config, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })?;
    bar.finish_and_clear();
    write_check(&args.experiment, &check)?;
    println!("{}", render_markdown(&check));
    println!(
        "wrote {} and ope-check.md",
        args.experiment.join("ope-check.json").display()
    );
    Ok(())
}
