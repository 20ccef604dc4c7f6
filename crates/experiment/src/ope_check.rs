//! The off-policy evaluation check: in the embedded world every RM's verdict on every logged
//! pair can be computed, so each estimator's estimate of another router's label correctness
//! on a logged stream can be compared with the value that router really gets on it.
//!
//! For every logging run (by default `random` and `bayesian-v5`) of a finished experiment:
//! the rows observing `correct` (verifier-decided visited pairs), their contexts under the
//! condition's offline router of that seed, every RM's verdict on each row (the pool scores
//! both responses; ties at the run's `tie_eps` count as wrong, as in the log), and for each
//! target router (uniform, every single RM, the offline router's argmax and Thompson sampling
//! at its prior, bayesian-v5's final state of that seed) its true value
//! mean_i Σ_a π(a|x_i)·right(i, a) beside each estimator's estimate and interval. The summary
//! gives per logging strategy and estimator the mean bias, the RMSE and the share of
//! intervals that cover the true value, over targets and seeds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bandit::BanditSpec;
use off_policy::{
    BootstrapConfig, Estimator, OpeData, RewardModelKind, Warning, evaluate, fit_q_hat, true_value,
};
use rlhf_trainer::ope::{LoggedValue, RunLog, Target};
use rlhf_trainer::{ROUTING_FILE, RUN_CONFIG_FILE, winner};
use rm_pool::{RmPool, ScoreItem, Verdict};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What the check evaluates.
#[derive(Clone, Debug)]
pub struct OpeCheckConfig {
    /// Strategies whose runs serve as logs.
    pub logging: Vec<String>,
    /// The estimators.
    pub estimators: Vec<Estimator>,
    /// The bootstrap of every interval.
    pub bootstrap: BootstrapConfig,
    /// Cross-fitting folds of the direct method's ridge model.
    pub folds: usize,
}

impl Default for OpeCheckConfig {
    fn default() -> Self {
        Self {
            logging: vec!["random".into(), "bayesian-v5".into()],
            estimators: vec![
                Estimator::Ips { clip: None },
                Estimator::Snips,
                Estimator::DirectMethod,
                Estimator::DoublyRobust,
                Estimator::SwitchDr {
                    tau: off_policy::DEFAULT_SWITCH_TAU,
                },
            ],
            bootstrap: BootstrapConfig::default(),
            folds: 2,
        }
    }
}

/// One estimate of one target on one logged run, beside the target's true value there.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckRow {
    /// The logging strategy.
    pub logging: String,
    /// Its condition.
    pub condition: String,
    /// Its seed.
    pub seed: u64,
    /// The target router.
    pub target: String,
    /// The estimator.
    pub estimator: String,
    /// Rows of the log observing the value.
    pub rows: usize,
    /// The target's true value on those rows (a fraction).
    pub truth: f64,
    /// The estimate.
    pub estimate: f64,
    /// Its interval.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Kish's effective sample size of the importance weights.
    pub ess: f64,
    /// Whether the evaluation warned that the log does not support the target (target mass
    /// on arms the logging router never chose, a mean weight far from 1, or an effective
    /// sample size below 10%).
    pub flagged: bool,
}

impl CheckRow {
    /// Whether the interval covers the true value.
    pub fn covers(&self) -> bool {
        self.low <= self.truth && self.truth <= self.high
    }
}

/// Bias, error and coverage of one estimator on one logging strategy's runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// The logging strategy.
    pub logging: String,
    /// The estimator.
    pub estimator: String,
    /// (target, run) cases with an estimate.
    pub cases: usize,
    /// (target, run) cases where the estimator is undefined (SNIPS when the target never
    /// chooses a logged arm).
    pub undefined: usize,
    /// Mean of estimate − truth, percentage points.
    pub mean_bias_pp: f64,
    /// Root mean square of estimate − truth, percentage points.
    pub rmse_pp: f64,
    /// Share of intervals covering the truth, a fraction.
    pub coverage: f64,
    /// Mean interval width, percentage points.
    pub mean_width_pp: f64,
    /// Cases the evaluation did not flag as unsupported.
    pub unflagged_cases: usize,
    /// Share of those cases' intervals covering the truth, a fraction (0 without cases).
    pub unflagged_coverage: f64,
    /// Root mean square error over those cases, percentage points.
    pub unflagged_rmse_pp: f64,
}

/// The check's result (ope-check.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpeCheck {
    /// Every estimate.
    pub rows: Vec<CheckRow>,
    /// Per logging strategy and estimator.
    pub summary: Vec<CheckSummary>,
    /// Logged labels the recomputed verdicts disagree with (0 when the pool reproduces the
    /// run's scoring).
    pub verdict_mismatches: usize,
}

/// A finished run of the experiment, as its folder and result say.
struct FinishedRun {
    strategy: String,
    condition: String,
    seed: u64,
    dir: PathBuf,
}

/// The run fields the check needs from a result.json.
#[derive(Deserialize)]
struct ResultHead {
    strategy: String,
    condition: String,
    seed: u64,
}

/// Every finished run under `<experiment>/online/`.
fn finished_runs(experiment: &Path) -> Result<Vec<FinishedRun>> {
    let online = experiment.join("online");
    let entries = std::fs::read_dir(&online).map_err(atomic_write::io_error(&online))?;
    let mut runs = Vec::new();
    for entry in entries {
        let job = entry.map_err(atomic_write::io_error(&online))?.path();
        let result = job.join("result.json");
        if !result.is_file() || !job.join("run").join(RUN_CONFIG_FILE).is_file() {
            continue;
        }
        let head: ResultHead = atomic_write::read_json(&result)?;
        runs.push(FinishedRun {
            strategy: head.strategy,
            condition: head.condition,
            seed: head.seed,
            dir: job.join("run"),
        });
    }
    runs.sort_by(|a, b| {
        (&a.strategy, &a.condition, a.seed).cmp(&(&b.strategy, &b.condition, b.seed))
    });
    Ok(runs)
}

/// Runs the check on the experiment folder `experiment` (`<out>/<name>` of a finished
/// `cargo xtask experiment`), calling `progress(done, total)` after each logging run.
pub fn check_experiment(
    experiment: &Path,
    config: &OpeCheckConfig,
    mut progress: impl FnMut(usize, usize),
) -> Result<OpeCheck> {
    let runs = finished_runs(experiment)?;
    let logs: Vec<&FinishedRun> = runs
        .iter()
        .filter(|run| config.logging.contains(&run.strategy))
        .collect();
    if logs.is_empty() {
        return Err(Error::Stage {
            stage: "ope-check",
            reason: format!(
                "{} holds no finished run of {}",
                experiment.join("online").display(),
                config.logging.join(" or ")
            ),
        });
    }
    // The offline router and bayesian-v5's final state of each (condition, seed).
    let mut exports: BTreeMap<(String, u64), PathBuf> = BTreeMap::new();
    let mut states: BTreeMap<(String, u64), PathBuf> = BTreeMap::new();
    for run in &runs {
        let key = (run.condition.clone(), run.seed);
        let train = rlhf_trainer::TrainerConfig::read(
            &run.dir.join(RUN_CONFIG_FILE),
            &rlhf_trainer::Overrides::default(),
        )?;
        if let Some(router) = train.data.router {
            exports.entry(key.clone()).or_insert(router);
        }
        let state = run.dir.join("final").join("router.json");
        if run.strategy == "bayesian-v5" && state.is_file() {
            states.insert(key, state);
        }
    }
    let mut pool: Option<(PathBuf, RmPool)> = None;
    let mut undefined: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut check = OpeCheck {
        rows: Vec::new(),
        summary: Vec::new(),
        verdict_mismatches: 0,
    };
    for (done, run) in logs.iter().enumerate() {
        // A run that routes on no condition ("any") takes the in-distribution router.
        let condition = if exports.contains_key(&(run.condition.clone(), run.seed)) {
            run.condition.clone()
        } else {
            "in-distribution".to_string()
        };
        let key = (condition, run.seed);
        let mut log = RunLog::open(&run.dir.join(ROUTING_FILE), LoggedValue::Correct)?;
        let pool_path = log.config.data.pool.clone();
        if pool.as_ref().is_none_or(|(path, _)| *path != pool_path) {
            pool = Some((pool_path.clone(), RmPool::from_config_file(&pool_path)?));
        }
        let (_, pool) = pool.as_mut().expect("loaded above");
        let (right, mismatches) = verdicts(&mut log, pool)?;
        check.verdict_mismatches += mismatches;
        let mut targets = vec![Target::Uniform];
        targets.extend(log.names.iter().map(|name| Target::Fixed(name.clone())));
        let export = exports.get(&key);
        if let Some(path) = export {
            targets.push(Target::Export {
                path: path.clone(),
                thompson: false,
            });
            targets.push(Target::Export {
                path: path.clone(),
                thompson: true,
            });
        }
        if let Some(state) = states.get(&key) {
            targets.push(Target::State(state.clone()));
        }
        let base = log.base_contexts(export.map(PathBuf::as_path))?;
        let q_hat = fit_q_hat(
            RewardModelKind::Ridge { lambda: 1.0 },
            &log.pairs.rows,
            base.contexts.as_deref(),
            base.dim(),
            log.names.len(),
            config.folds,
        )?;
        let spec = BanditSpec::bayesian_v5();
        for target in &targets {
            let probabilities = log.target_probabilities(target, &base, &spec)?;
            let truth = true_value(&probabilities, &right)?;
            let name = target_name(target, &log.names);
            let data = OpeData::new(log.pairs.rows.clone(), probabilities, q_hat.clone())?;
            let evaluation = evaluate(
                &data,
                &config.estimators,
                &config.bootstrap,
                log.pairs.logging.as_ref(),
            )?;
            let flagged = evaluation.warnings.iter().any(|w| {
                matches!(
                    w,
                    Warning::UnsupportedTargetMass { .. }
                        | Warning::MeanWeightFar { .. }
                        | Warning::LowEss { .. }
                )
            });
            for estimator in &config.estimators {
                let name = estimator.to_string();
                if !evaluation.estimates.iter().any(|e| e.estimator == name) {
                    *undefined.entry((run.strategy.clone(), name)).or_default() += 1;
                }
            }
            for estimate in evaluation.estimates {
                check.rows.push(CheckRow {
                    logging: run.strategy.clone(),
                    condition: run.condition.clone(),
                    seed: run.seed,
                    target: name.clone(),
                    estimator: estimate.estimator,
                    rows: evaluation.n,
                    truth,
                    estimate: estimate.value,
                    low: estimate.low,
                    high: estimate.high,
                    ess: evaluation.weights.ess,
                    flagged,
                });
            }
        }
        progress(done + 1, logs.len());
    }
    check.summary = summarise(&check.rows, &undefined);
    Ok(check)
}

/// A target's name in the check's tables (exports and states by role, not path).
fn target_name(target: &Target, names: &[String]) -> String {
    match target {
        Target::Uniform => "random".into(),
        Target::Fixed(rm) => format!("single:{}", names.iter().find(|n| *n == rm).unwrap_or(rm)),
        Target::Export {
            thompson: false, ..
        } => "offline-only".into(),
        Target::Export { thompson: true, .. } => "thompson at the prior".into(),
        Target::State(_) => "bayesian-v5 final state".into(),
        Target::Replay(path) => format!("replay:{}", path.display()),
    }
}

/// Whether each RM labels each row right, `[N, K]` (1 right, 0 wrong or tied, at the run's
/// `tie_eps`), and how many logged labels the recomputed verdicts of the logged arm
/// disagree with.
fn verdicts(log: &mut RunLog, pool: &mut RmPool) -> Result<(Vec<f64>, usize)> {
    let tie_eps = log.config.pairs.tie_eps;
    let records = log.pairs.records.clone();
    let (samples, prompts) = log.inputs()?;
    let responses: BTreeMap<(usize, usize), &Vec<String>> = samples
        .iter()
        .map(|s| ((s.iteration, s.prompt_id), &s.responses))
        .collect();
    let by_id: BTreeMap<usize, &rlhf_trainer::Prompt> = prompts.iter().map(|p| (p.id, p)).collect();
    let mut items = Vec::with_capacity(2 * records.len());
    for record in &records {
        let texts = responses
            .get(&(record.iteration, record.prompt_id))
            .ok_or_else(|| Error::Stage {
                stage: "ope-check",
                reason: format!(
                    "samples.jsonl has no responses for prompt {} of iteration {}",
                    record.prompt_id, record.iteration
                ),
            })?;
        let prompt = by_id.get(&record.prompt_id).ok_or_else(|| Error::Stage {
            stage: "ope-check",
            reason: format!("no prompt with id {}", record.prompt_id),
        })?;
        for response in record.pair.map(|r| &texts[r]) {
            items.push(ScoreItem {
                prompt: prompt.messages.clone(),
                response: response.clone(),
                reference: prompt.reference.clone(),
                category: prompt.category.clone(),
            });
        }
    }
    let n_arms = pool.len();
    let mut right = vec![0.0; records.len() * n_arms];
    let mut mismatches = 0;
    for arm in 0..n_arms {
        let scores = pool.score(arm, &items)?;
        for (i, (record, s)) in records.iter().zip(scores.chunks(2)).enumerate() {
            let label = winner(Verdict::from_scores(s[0], s[1], tie_eps));
            right[i * n_arms + arm] = f64::from(u8::from(label.is_some() && label == record.truth));
            if record.arm == Some(arm) && label != record.chosen {
                mismatches += 1;
            }
        }
    }
    Ok((right, mismatches))
}

/// Per logging strategy and estimator: bias, RMSE, coverage and width over the cases, and
/// the `undefined` count of cases without an estimate.
fn summarise(
    rows: &[CheckRow],
    undefined: &BTreeMap<(String, String), usize>,
) -> Vec<CheckSummary> {
    let mut groups: BTreeMap<(String, String), Vec<&CheckRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.logging.clone(), row.estimator.clone()))
            .or_default()
            .push(row);
    }
    groups
        .into_iter()
        .map(|((logging, estimator), cases)| {
            let n = cases.len() as f64;
            let errors: Vec<f64> = cases.iter().map(|c| c.estimate - c.truth).collect();
            let unflagged: Vec<&&CheckRow> = cases.iter().filter(|c| !c.flagged).collect();
            let m = unflagged.len().max(1) as f64;
            CheckSummary {
                cases: cases.len(),
                undefined: undefined
                    .get(&(logging.clone(), estimator.clone()))
                    .copied()
                    .unwrap_or(0),
                logging,
                estimator,
                mean_bias_pp: 100.0 * errors.iter().sum::<f64>() / n,
                rmse_pp: 100.0 * (errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt(),
                coverage: cases.iter().filter(|c| c.covers()).count() as f64 / n,
                mean_width_pp: 100.0 * cases.iter().map(|c| c.high - c.low).sum::<f64>() / n,
                unflagged_cases: unflagged.len(),
                unflagged_coverage: unflagged.iter().filter(|c| c.covers()).count() as f64 / m,
                unflagged_rmse_pp: 100.0
                    * (unflagged
                        .iter()
                        .map(|c| (c.estimate - c.truth).powi(2))
                        .sum::<f64>()
                        / m)
                        .sqrt(),
            }
        })
        .collect()
}

/// One target's true values and each estimator's estimates, over runs.
type TargetColumn = (Vec<f64>, BTreeMap<String, Vec<f64>>);

/// The check as markdown: the summary table, then the true values and DR estimates per
/// target (means over seeds).
pub fn render_markdown(check: &OpeCheck) -> String {
    let mut out = String::from(
        "| logging | estimator | cases | undefined | mean bias (pp) | RMSE (pp) | coverage | \
         mean width (pp) | unflagged cases | their RMSE (pp) | their coverage |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &check.summary {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:+.2} | {:.2} | {:.0}% | {:.1} | {} | {:.2} | {:.0}% |\n",
            s.logging,
            s.estimator,
            s.cases,
            s.undefined,
            s.mean_bias_pp,
            s.rmse_pp,
            100.0 * s.coverage,
            s.mean_width_pp,
            s.unflagged_cases,
            s.unflagged_rmse_pp,
            100.0 * s.unflagged_coverage
        ));
    }
    out.push_str(&format!(
        "\nRecomputed verdicts disagreeing with a logged label: {}.\n",
        check.verdict_mismatches
    ));
    // Per logging strategy and target: the mean true value and each estimator's mean.
    let mut table: BTreeMap<(String, String), TargetColumn> = BTreeMap::new();
    let mut estimators: Vec<String> = Vec::new();
    for row in &check.rows {
        if !estimators.contains(&row.estimator) {
            estimators.push(row.estimator.clone());
        }
        let entry = table
            .entry((row.logging.clone(), row.target.clone()))
            .or_default();
        if row.estimator == estimators[0] {
            entry.0.push(row.truth);
        }
        entry
            .1
            .entry(row.estimator.clone())
            .or_default()
            .push(row.estimate);
    }
    out.push_str(&format!(
        "\n| logging | target | true value (%) | {} |\n|---|---|---:|{}\n",
        estimators.join(" | "),
        "---:|".repeat(estimators.len())
    ));
    let mean = |v: &[f64]| 100.0 * v.iter().sum::<f64>() / v.len().max(1) as f64;
    for ((logging, target), (truths, estimates)) in &table {
        let cells: Vec<String> = estimators
            .iter()
            .map(|e| {
                format!(
                    "{:.1}",
                    mean(estimates.get(e).map_or(&[][..], Vec::as_slice))
                )
            })
            .collect();
        out.push_str(&format!(
            "| {logging} | {target} | {:.1} | {} |\n",
            mean(truths),
            cells.join(" | ")
        ));
    }
    out
}

/// Writes ope-check.json and ope-check.md into the experiment folder (atomically).
pub fn write_check(experiment: &Path, check: &OpeCheck) -> Result<()> {
    atomic_write::write_json_pretty(&experiment.join("ope-check.json"), check)?;
    atomic_write::replace_file(
        &experiment.join("ope-check.md"),
        render_markdown(check).as_bytes(),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use off_policy::TargetProbabilities;

    use super::*;

    fn row(estimator: &str, truth: f64, estimate: f64, low: f64, high: f64) -> CheckRow {
        CheckRow {
            logging: "random".into(),
            condition: "any".into(),
            seed: 0,
            target: "random".into(),
            estimator: estimator.into(),
            rows: 10,
            truth,
            estimate,
            low,
            high,
            ess: 10.0,
            flagged: false,
        }
    }

    #[test]
    fn summary_gives_bias_rmse_and_coverage() {
        let rows = [
            row("ips", 0.5, 0.6, 0.4, 0.7),
            row("ips", 0.5, 0.3, 0.2, 0.4),
            row("dr", 0.5, 0.5, 0.45, 0.55),
        ];
        let undefined = BTreeMap::from([(("random".to_string(), "snips".to_string()), 3)]);
        let summary = summarise(&rows, &undefined);
        assert_eq!(summary.len(), 2);
        let ips = summary.iter().find(|s| s.estimator == "ips").unwrap();
        assert_eq!(ips.cases, 2);
        // Errors +0.1 and −0.2: bias −5 pp, RMSE √((1 + 4)/2)·10 pp.
        assert!((ips.mean_bias_pp + 5.0).abs() < 1e-9);
        assert!((ips.rmse_pp - (2.5_f64).sqrt() * 10.0).abs() < 1e-9);
        assert_eq!(ips.coverage, 0.5);
        assert!((ips.mean_width_pp - 25.0).abs() < 1e-9);
        let markdown = render_markdown(&OpeCheck {
            rows: rows.to_vec(),
            summary,
            verdict_mismatches: 0,
        });
        assert!(
            markdown.contains("| random | ips | 2 | 0 | -5.00 |"),
            "{markdown}"
        );
    }

    #[test]
    fn true_value_weights_each_arm_by_the_target() {
        // Two rows, two arms; the target splits row 0 evenly and picks arm 1 on row 1.
        let target = TargetProbabilities {
            n_arms: 2,
            values: vec![0.5, 0.5, 0.0, 1.0],
            draws: None,
        };
        let right = [1.0, 0.0, 1.0, 1.0];
        assert_eq!(true_value(&target, &right).unwrap(), 0.75);
    }
}
