//! `cargo xtask bandit ope` (alias `router ope`): off-policy evaluation of routers from a
//! run's routing log (`rlhf_trainer::ope::evaluate_log`, estimators from `off_policy`).
//!
//! Each `--target` is a router: `uniform`, `fixed:RM`, `export:PATH` (the offline router's
//! argmax), `export-thompson:PATH` (Thompson sampling at its prior, `--bandit`'s λ0 and
//! draws), `state:PATH` (a saved bandit state, e.g. a run's final/router.json) or
//! `replay:SPEC.toml` (a bandit config re-run over the log). The output is a table per
//! target and, with `--out`, the whole report as JSON (docs/FORMATS.md).

use std::path::PathBuf;

use anyhow::{Context, Result};
use bandit::BanditSpec;
use clap::Args;
use off_policy::{BootstrapConfig, Estimator, RewardModelKind};
use rlhf_trainer::ope::{LoggedValue, OpeReport, OpeRequest, Target, evaluate_log};

/// Arguments of `bandit ope`.
#[derive(Debug, Args)]
pub struct OpeArgs {
    /// The routing log (a run folder's routing.jsonl; config.toml and samples.jsonl are read
    /// beside it).
    #[arg(long, value_name = "routing.jsonl")]
    log: PathBuf,
    /// A router to evaluate (repeat for several): uniform, fixed:RM, export:PATH,
    /// export-thompson:PATH, state:PATH, replay:SPEC.toml.
    #[arg(long = "target", value_name = "TARGET", required = true)]
    targets: Vec<Target>,
    /// The value to estimate: `correct` (the routed label agrees with the verifier) or
    /// `reward` (the normalised reward the bandit learned from).
    #[arg(long, default_value = "correct")]
    value: LoggedValue,
    /// Estimators, comma-separated (`ips:clip=10`, `switch-dr:tau=5` set parameters).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "ips,snips,dm,dr,switch-dr"
    )]
    estimators: Vec<Estimator>,
    /// The direct method's model: `ridge` (on the contexts; `ridge:lambda=L`), `arm-mean` or
    /// `zero` (default: ridge where there are contexts, else arm-mean).
    #[arg(long, value_name = "MODEL")]
    reward_model: Option<RewardModelKind>,
    /// Cross-fitting folds of that model (by prompt).
    #[arg(long, default_value_t = 2)]
    folds: usize,
    /// The export whose context function gives each pair its context (default: the log's
    /// own contexts, else the run's export).
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Bandit spec for export-thompson targets (default: the v5 preset).
    #[arg(long, value_name = "SPEC.toml")]
    bandit: Option<PathBuf>,
    /// Bootstrap resamples.
    #[arg(long, default_value_t = 1000)]
    resamples: usize,
    /// Seed of the bootstrap.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the report as JSON here (atomically).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// Evaluates the targets, prints one table per target and writes the JSON report.
pub fn run(args: OpeArgs) -> Result<()> {
    let spec = match &args.bandit {
        Some(path) => BanditSpec::load(path)?,
        None => BanditSpec::bayesian_v5(),
    };
    let request = OpeRequest {
        log: args.log,
        targets: args.targets,
        value: args.value,
        estimators: args.estimators,
        reward_model: args.reward_model,
        folds: args.folds,
        export: args.export,
        spec,
        bootstrap: BootstrapConfig {
            resamples: args.resamples,
            seed: args.seed,
            ..BootstrapConfig::default()
        },
    };
    let report = evaluate_log(&request)?;
    print_report(&report);
    if let Some(out) = &args.out {
        atomic_write::write_json_pretty(out, &report)
            .with_context(|| format!("writing {}", out.display()))?;
        println!("wrote {}", out.display());
    }
    Ok(())
}

/// One table per target: estimator, estimate, interval, Monte-Carlo error; then the weight
/// diagnostics and warnings.
fn print_report(report: &OpeReport) {
    println!(
        "{}: {} rows over {} prompts observe `{}`; contexts: {}; direct-method model: {}",
        report.log.display(),
        report.rows,
        report.clusters,
        report.value,
        report.contexts,
        report.reward_model
    );
    if report.rerouted_rows_skipped > 0 {
        println!(
            "left out {} re-routed rows (their propensity is conditional on an RM's failure)",
            report.rerouted_rows_skipped
        );
    }
    for caveat in &report.caveats {
        println!("caveat: {caveat}");
    }
    for target in &report.targets {
        match target.target_draws {
            Some(draws) => println!(
                "\ntarget {} ({draws} Monte-Carlo draws per row)",
                target.target
            ),
            None => println!("\ntarget {}", target.target),
        }
        if let Some(replay) = &target.replay {
            println!(
                "  replay  {:.4}  [{:.4}, {:.4}]  accepted {} of {} rows{}",
                replay.value,
                replay.low,
                replay.high,
                replay.accepted,
                replay.offered,
                if replay.uniform_logging {
                    ""
                } else {
                    " (logging not uniform: replay is biased)"
                }
            );
        }
        if let Some(evaluation) = &target.evaluation {
            for estimate in &evaluation.estimates {
                let mc = estimate
                    .monte_carlo_se
                    .map(|se| format!("  MC se {se:.4}"))
                    .unwrap_or_default();
                println!(
                    "  {:<16} {:.4}  [{:.4}, {:.4}]{mc}",
                    estimate.estimator, estimate.value, estimate.low, estimate.high
                );
            }
            let w = &evaluation.weights;
            println!(
                "  weights: ESS {:.1} of {} ({:.1}%), mean {:.3}, max {:.1}, min propensity {:.2e}",
                w.ess,
                evaluation.n,
                100.0 * w.ess_fraction,
                w.mean_weight,
                w.max_weight,
                w.min_propensity
            );
            for warning in &evaluation.warnings {
                println!("  warning: {warning}");
            }
        }
    }
}
