//! `cargo xtask experiment [--config FILE] [--strategies a,b] [--seeds N] [--smoke]
//! [--out DIR] [--fresh] [--jobs N]`: the paper's comparison end to end (the experiment
//! crate), one progress bar per stage; prints the main tables and the report's path.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::{Context, Result};
use clap::Args;
use experiment::{
    Event, Experiment, ExperimentConfig, ExperimentOverrides, Options, report, run_experiment,
    run_given_world,
};
use indicatif::{ProgressBar, ProgressStyle};

use crate::logging;

/// Arguments of `experiment`.
#[derive(Debug, Args)]
pub struct ExperimentArgs {
    /// The experiment (TOML; docs/FORMATS.md, "Experiment config"): a world trained here,
    /// or given models and data (a `[world]` table, e.g.
    /// configs/experiment/smollm2-gsm8k.toml); default: the embedded
    /// configs/experiment/default.toml.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Only these strategies (comma-separated trainer names; `single:*` for every RM).
    #[arg(long, value_delimiter = ',')]
    strategies: Option<Vec<String>>,
    /// Online seeds per strategy, the premise checks' lines included (replaces the config's
    /// `seeds` and `premise_seeds`).
    #[arg(long)]
    seeds: Option<usize>,
    /// Tiny sizes: every stage and strategy in well under a minute (what the tests run;
    /// the embedded kind of config only).
    #[arg(long)]
    smoke: bool,
    /// Output root; the run folder is `<out>/<name>`.
    #[arg(long, default_value = "runs/experiment")]
    out: PathBuf,
    /// Rebuild every stage instead of reusing the cached ones.
    #[arg(long)]
    fresh: bool,
    /// Online runs at once (0: one per core); results do not depend on it.
    #[arg(long, default_value_t = 0)]
    jobs: usize,
}

/// Runs the experiment; prints the main table per condition and where the report is.
pub fn run(args: &ExperimentArgs) -> Result<()> {
    let experiment = match &args.config {
        Some(path) => Experiment::read(path)?,
        None => Experiment::Suite(Box::new(ExperimentConfig::embedded())),
    }
    .with_overrides(&ExperimentOverrides {
        smoke: args.smoke,
        strategies: args.strategies.clone(),
        seeds: args.seeds,
    })?;
    let options = Options {
        out: args.out.clone(),
        fresh: args.fresh,
        jobs: args.jobs,
    };
    let bars: Mutex<HashMap<String, ProgressBar>> = Mutex::default();
    let style =
        ProgressStyle::with_template("{prefix:>15} [{bar:30}] {pos}/{len} ({elapsed}, ETA {eta})")
            .expect("valid template")
            .progress_chars("=> ");
    let observe = |event: &Event| {
        let mut bars = bars.lock().expect("no panics while held");
        match event {
            Event::Started { stage, total } => {
                let bar = logging::bar(*total);
                bar.set_style(style.clone());
                bar.set_prefix(stage.clone());
                bars.insert(stage.clone(), bar);
            }
            Event::Advanced { stage } => {
                if let Some(bar) = bars.get(stage) {
                    bar.inc(1);
                }
            }
            Event::Finished {
                stage,
                seconds,
                cached,
            } => {
                if let Some(bar) = bars.remove(stage) {
                    bar.finish_and_clear();
                }
                let how = if *cached { " (cached)" } else { "" };
                logging::bars().suspend(|| eprintln!("{stage:>15}: {seconds:.1} s{how}"));
            }
        }
    };
    let outcome = match &experiment {
        Experiment::Suite(config) => run_experiment(config, &options, &observe),
        Experiment::Given(config) => run_given_world(config, &options, &observe),
    }
    .with_context(|| format!("experiment `{}`", experiment.name()))?;
    println!(
        "\nPremise checks: {} (report.md, \"Premise checks\").",
        report::premise_verdict(&outcome.results)
    );
    for condition in outcome.results.conditions() {
        println!("\n## {condition}\n");
        println!("{}", report::main_table(&outcome.results, condition));
    }
    println!(
        "\n{} online runs, {:.0} s in all ({}). Report: {}",
        // One timing per run; `results.runs` lists a run that reads no router once per
        // condition.
        outcome.timings.runs.len(),
        outcome.timings.total_s,
        outcome.timings.cpu,
        outcome.report.display()
    );
    Ok(())
}
