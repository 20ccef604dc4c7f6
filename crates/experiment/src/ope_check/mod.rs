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
use off_policy::{BootstrapConfig, Estimator, OpeData, Warning, evaluate, true_value};
use rlhf_trainer::ope::{LoggedValue, RunLog, Target, samples_by_slot};
use rlhf_trainer::{ROUTING_FILE, RUN_CONFIG_FILE, winner};
use rm_pool::{RmPool, ScoreItem, Verdict};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod summary;

use self::summary::summarise;
pub use self::summary::{CheckSummary, render_markdown};

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
        // Ridge on the contexts where a router gives them, per-arm means otherwise.
        let (_, q_hat) = log.fit_q_hat(&base, None, config.folds)?;
        let spec = BanditSpec::bayesian_v5();
        for target in &targets {
            let probabilities = log.target_probabilities(target, &base, &spec)?;
            let truth = true_value(&probabilities, &right)?;
            let name = target_name(target);
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
fn target_name(target: &Target) -> String {
    match target {
        Target::Uniform => "random".into(),
        Target::Fixed(rm) => format!("single:{rm}"),
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
    let pairs = log.pairs.clone();
    let records = &pairs.records;
    let (samples, prompts) = log.inputs()?;
    let responses = samples_by_slot(samples);
    let by_id: BTreeMap<usize, &rlhf_trainer::Prompt> = prompts.iter().map(|p| (p.id, p)).collect();
    let mut items = Vec::with_capacity(2 * records.len());
    for (i, record) in records.iter().enumerate() {
        let at = |reason: String| Error::Stage {
            stage: "ope-check",
            reason: format!("{}:{}: {reason}", pairs.path.display(), pairs.lines[i]),
        };
        let slot = (record.iteration, record.prompt_id, pairs.occurrences[i]);
        let texts = &responses
            .get(&slot)
            .ok_or_else(|| at("samples.jsonl has no responses for this pair's prompt".into()))?
            .responses;
        let prompt = by_id.get(&record.prompt_id).ok_or_else(|| Error::Stage {
            stage: "ope-check",
            reason: format!("no prompt with id {}", record.prompt_id),
        })?;
        for r in record.pair {
            let response = texts.get(r).ok_or_else(|| {
                at(format!(
                    "field `pair` names response {r}, but samples.jsonl has {}",
                    texts.len()
                ))
            })?;
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
