//! One log, several targets: the whole evaluation behind `cargo xtask bandit ope`.

use std::path::PathBuf;

use bandit::BanditSpec;
use off_policy::{BootstrapConfig, Estimator, Evaluation, OpeData, RewardModelKind, evaluate};
use serde::Serialize;

use crate::error::Result;

use super::log::LoggedValue;
use super::replay::{ReplayReport, replay_report, replay_target};
use super::run::RunLog;
use super::target::Target;

/// What to evaluate: a run's routing log, the target routers, the value and the
/// estimators (`cargo xtask bandit ope`).
#[derive(Clone, Debug)]
pub struct OpeRequest {
    /// The routing log (routing.jsonl); its folder is the run folder (config.toml,
    /// samples.jsonl).
    pub log: PathBuf,
    /// The routers to evaluate.
    pub targets: Vec<Target>,
    /// Which value of a pair to estimate.
    pub value: LoggedValue,
    /// The estimators.
    pub estimators: Vec<Estimator>,
    /// The direct method's model of each arm's value (`None`: ridge on the contexts where
    /// there are contexts, else per-arm means).
    pub reward_model: Option<RewardModelKind>,
    /// Cross-fitting folds of the reward model (by prompt).
    pub folds: usize,
    /// The export whose context function gives every row its context and whose prior state
    /// and replay targets start from (`None`: the log's own contexts, else the run's export).
    pub export: Option<PathBuf>,
    /// Thompson sampling's λ0, σ², propensity draws and seed for `export-thompson` targets
    /// (replay targets name their own spec file).
    pub spec: BanditSpec,
    /// The bootstrap.
    pub bootstrap: BootstrapConfig,
}

/// The evaluation of one log.
#[derive(Clone, Debug, Serialize)]
pub struct OpeReport {
    /// The log.
    pub log: PathBuf,
    /// `correct` or `reward`.
    pub value: String,
    /// Rows on which the value is observed.
    pub rows: usize,
    /// Distinct prompts among them (the bootstrap's clusters).
    pub clusters: usize,
    /// The pool's RMs, in arm order.
    pub arms: Vec<String>,
    /// Where the contexts came from: `none`, `logged`, or the export they were rebuilt with.
    pub contexts: String,
    /// The direct method's model (`zero`, `arm-mean`, `ridge:lambda=1`).
    pub reward_model: String,
    /// Lines observing the value left out because their pair was re-routed after an RM
    /// failed.
    pub rerouted_rows_skipped: usize,
    /// What to keep in mind reading the estimates (e.g. that `reward` rows depend on the
    /// logged arm).
    pub caveats: Vec<String>,
    /// One evaluation per target, in request order.
    pub targets: Vec<TargetReport>,
}

/// One target's estimates.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    /// The target as given.
    pub target: String,
    /// Monte-Carlo draws behind the target's probabilities (Thompson targets; their error
    /// is each estimate's `monte_carlo_se`), absent when they are exact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_draws: Option<usize>,
    /// The estimates, diagnostics and warnings (non-learning targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evaluation: Option<Evaluation>,
    /// The replay estimate (learning targets).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<ReplayReport>,
}

/// Evaluates every target of `request` on its log: opens the run folder, finds or rebuilds
/// the contexts, fits the direct method's model once, and runs the estimators (or the
/// replay) per target.
pub fn evaluate_log(request: &OpeRequest) -> Result<OpeReport> {
    let mut run = RunLog::open(&request.log, request.value)?;
    let base = run.base_contexts(request.export.as_deref())?;
    let (reward_model, q_hat) = run.fit_q_hat(&base, request.reward_model, request.folds)?;
    let mut targets = Vec::with_capacity(request.targets.len());
    for target in &request.targets {
        let report = match target {
            Target::Replay(spec_path) => {
                let spec = BanditSpec::load(spec_path)?;
                let (prior, contexts) = base.required(target)?;
                let outcome = replay_target(spec, prior.clone(), &run.pairs, contexts)?;
                TargetReport {
                    target: target.to_string(),
                    target_draws: None,
                    evaluation: None,
                    replay: Some(replay_report(&run.pairs, &outcome, &request.bootstrap)?),
                }
            }
            _ => {
                let probabilities = run.target_probabilities(target, &base, &request.spec)?;
                let target_draws = probabilities.draws;
                let data = OpeData::new(run.pairs.rows.clone(), probabilities, q_hat.clone())?;
                let evaluation = evaluate(
                    &data,
                    &request.estimators,
                    &request.bootstrap,
                    run.pairs.logging.as_ref(),
                )?;
                TargetReport {
                    target: target.to_string(),
                    target_draws,
                    evaluation: Some(evaluation),
                    replay: None,
                }
            }
        };
        targets.push(report);
    }
    Ok(OpeReport {
        log: request.log.clone(),
        value: request.value.to_string(),
        rows: run.len(),
        clusters: run.pairs.clusters(),
        arms: run.names.clone(),
        contexts: base.source,
        reward_model: reward_model.to_string(),
        rerouted_rows_skipped: run.pairs.rerouted,
        caveats: caveats(request.value),
        targets,
    })
}

/// The caveats of estimating `value`.
fn caveats(value: LoggedValue) -> Vec<String> {
    match value {
        LoggedValue::Correct => Vec::new(),
        LoggedValue::Reward => vec![
            "`reward` is observed on kept pairs only, and whether a pair was kept depends on \
             whether the routed RM tied; the reward itself depends on the logging run's \
             normaliser history. Read these estimates as descriptive, not as what the target \
             would have earned."
                .into(),
        ],
    }
}
