//! Replay (Li et al., WSDM 2011): a learning router re-run over a log, scored on the rows
//! where it chose the logged arm.

use bandit::{ArmMask, BanditSpec, LinearBandit, Prior};
use off_policy::{BootstrapConfig, Estimator, LoggedRow, OpeData, TargetProbabilities, evaluate};
use serde::Serialize;

use crate::error::{Error, Result};

use super::log::{DISTRIBUTION_TOLERANCE, LoggedPairs};

/// What replaying a learning router over a log gives: the logged values of the rows where
/// its choice matched the logged arm.
#[derive(Clone, Debug)]
pub struct ReplayOutcome {
    /// Indices of the accepted rows.
    pub accepted: Vec<usize>,
    /// Rows offered.
    pub offered: usize,
    /// Whether every logged propensity was 1/K (replay is unbiased only under uniform
    /// logging).
    pub uniform_logging: bool,
}

/// Replays `spec` from `prior` over `pairs` in log order (Li et al.'s replay): per
/// iteration, the router chooses for every row; rows where it chose the logged arm are
/// accepted, and after the iteration it learns from the accepted rows' logged rewards (rows
/// without a reward teach nothing), as the trainer's delayed feedback does.
pub fn replay_target(
    spec: BanditSpec,
    prior: Prior,
    pairs: &LoggedPairs,
    contexts: &[f64],
) -> Result<ReplayOutcome> {
    let n_arms = prior.n_arms();
    let dim = prior.dim();
    if contexts.len() != pairs.rows.len() * dim {
        return Err(Error::Mismatch(format!(
            "replay: {} rows of {dim}-dimensional contexts need {} values, found {}",
            pairs.rows.len(),
            pairs.rows.len() * dim,
            contexts.len()
        )));
    }
    // Replay follows the log's order, iteration by iteration.
    if let Some(i) = (1..pairs.records.len())
        .find(|&i| pairs.records[i].iteration < pairs.records[i - 1].iteration)
    {
        return Err(Error::Line {
            path: pairs.path.clone(),
            line: pairs.lines[i],
            reason: format!(
                "iteration {} after iteration {}: replay needs the log in iteration order",
                pairs.records[i].iteration,
                pairs.records[i - 1].iteration
            ),
        });
    }
    let mut router = LinearBandit::new(spec.policy, prior, spec.params, spec.seed)?;
    let mask = ArmMask::all(n_arms);
    let mut accepted = Vec::new();
    let mut start = 0;
    while start < pairs.rows.len() {
        let iteration = pairs.records[start].iteration;
        let end = (start..pairs.rows.len())
            .find(|&i| pairs.records[i].iteration != iteration)
            .unwrap_or(pairs.rows.len());
        let batch = &contexts[start * dim..end * dim];
        let choices = router.select_batch(batch, &mask)?;
        let mut feedback = Vec::new();
        for (offset, choice) in choices.iter().enumerate() {
            let i = start + offset;
            if choice.arm == pairs.rows[i].arm {
                accepted.push(i);
                if let Some(reward) = pairs.records[i].reward {
                    feedback.push(bandit::Feedback {
                        arm: choice.arm,
                        context: &contexts[i * dim..(i + 1) * dim],
                        reward,
                    });
                }
            }
        }
        router.update_batch(&feedback)?;
        start = end;
    }
    let uniform = 1.0 / n_arms as f64;
    Ok(ReplayOutcome {
        accepted,
        offered: pairs.rows.len(),
        uniform_logging: pairs
            .rows
            .iter()
            .all(|row| (row.propensity - uniform).abs() < DISTRIBUTION_TOLERANCE),
    })
}

/// A replay estimate: the mean logged value over the accepted rows.
#[derive(Clone, Debug, Serialize)]
pub struct ReplayReport {
    /// Accepted rows (the target chose the logged arm).
    pub accepted: usize,
    /// Rows offered.
    pub offered: usize,
    /// Mean value over the accepted rows.
    pub value: f64,
    /// Cluster-bootstrap interval of that mean.
    pub low: f64,
    /// Upper end.
    pub high: f64,
    /// Whether the logging was uniform (otherwise replay is biased toward the logging
    /// router's favourite arms).
    pub uniform_logging: bool,
}

/// The replay's mean over accepted rows with a cluster-bootstrap interval (IPS of a target
/// that always agrees with the log, on the accepted rows only).
pub(super) fn replay_report(
    pairs: &LoggedPairs,
    outcome: &ReplayOutcome,
    bootstrap: &BootstrapConfig,
) -> Result<ReplayReport> {
    if outcome.accepted.is_empty() {
        return Err(Error::Mismatch(
            "replay accepted no row: the target never chose a logged arm".into(),
        ));
    }
    let rows: Vec<LoggedRow> = outcome
        .accepted
        .iter()
        .map(|&i| LoggedRow {
            propensity: 1.0,
            ..pairs.rows[i]
        })
        .collect();
    let values = rows.iter().flat_map(|row| {
        let mut one_hot = vec![0.0; pairs.n_arms()];
        one_hot[row.arm] = 1.0;
        one_hot
    });
    let n_arms = pairs.n_arms();
    let target = TargetProbabilities {
        n_arms,
        values: values.collect(),
        draws: None,
    };
    let q_hat = vec![0.0; rows.len() * n_arms];
    let data = OpeData::new(rows, target, q_hat)?;
    let evaluation = evaluate(&data, &[Estimator::Ips { clip: None }], bootstrap, None)?;
    let estimate = &evaluation.estimates[0];
    Ok(ReplayReport {
        accepted: outcome.accepted.len(),
        offered: outcome.offered,
        value: estimate.value,
        low: estimate.low,
        high: estimate.high,
        uniform_logging: outcome.uniform_logging,
    })
}
