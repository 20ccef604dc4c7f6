//! Which rows of a routing log observe the value, with the logging router's propensities,
//! checked line by line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use off_policy::{LoggedRow, LoggingDistribution};

use crate::error::{Error, Result};
use crate::logs::RoutingRecord;

/// Tolerance on a logged distribution's sum and on its agreement with the logged propensity.
pub(super) const DISTRIBUTION_TOLERANCE: f64 = 1e-6;

/// Which value of a routed pair the evaluation estimates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LoggedValue {
    /// 1 when the routed RM's label agrees with the verifier's, 0 when it disagrees or ties;
    /// observed on every visited pair the verifier decides (needs a run with an oracle).
    Correct,
    /// The normalised reward the bandit learned from; observed on the kept pairs with a
    /// finite DPO loss. Which pairs are kept depends on whether the routed RM tied, and the
    /// reward on the logging run's normaliser history, so estimates of another router's
    /// `reward` are descriptive at best (the report says so); it is what replay learns from.
    Reward,
}

impl std::fmt::Display for LoggedValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Correct => "correct",
            Self::Reward => "reward",
        })
    }
}

impl FromStr for LoggedValue {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "correct" => Ok(Self::Correct),
            "reward" => Ok(Self::Reward),
            other => Err(format!(
                "unknown value `{other}`: expected correct or reward"
            )),
        }
    }
}

/// The rows of a routing log on which the value is observed.
#[derive(Clone, Debug)]
pub struct LoggedPairs {
    /// The log.
    pub path: PathBuf,
    /// The used lines' records, in file order.
    pub records: Vec<RoutingRecord>,
    /// Their 1-based line numbers.
    pub lines: Vec<usize>,
    /// One OPE row per record (cluster: the prompt id).
    pub rows: Vec<LoggedRow>,
    /// Per record, which occurrence of its (iteration, prompt) in the iteration's batch it
    /// belongs to (0, or 1+ when an epoch boundary put a prompt in a batch twice): the k-th
    /// occurrence's responses are the k-th samples.jsonl line of that (iteration, prompt).
    pub occurrences: Vec<usize>,
    /// Lines observing the value that were left out because their pair was re-routed after
    /// an RM failed (their propensity is conditional on the failure).
    pub rerouted: usize,
    /// The logging router's whole distribution per row.
    pub logging: Option<LoggingDistribution>,
    /// RMs of the pool.
    n_arms: usize,
}

impl LoggedPairs {
    /// RMs of the pool (arms).
    pub fn n_arms(&self) -> usize {
        self.n_arms
    }

    /// Distinct prompts among the rows (the bootstrap's clusters).
    pub fn clusters(&self) -> usize {
        let clusters: std::collections::HashSet<u64> =
            self.rows.iter().map(|row| row.cluster).collect();
        clusters.len()
    }
}

/// Reads a routing log (routing.jsonl), keeping its lines as (1-based line number, record);
/// blank lines are skipped, a malformed line is an error naming it.
pub fn read_routing_log(path: &Path) -> Result<Vec<(usize, RoutingRecord)>> {
    let text = atomic_write::read_text(path)?;
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(index, line)| {
            serde_json::from_str(line)
                .map(|record| (index + 1, record))
                .map_err(|err| Error::Line {
                    path: path.to_path_buf(),
                    line: index + 1,
                    reason: err.to_string(),
                })
        })
        .collect()
}

/// The rows of the log at `path` that observe `value`, checked against a pool of `n_arms`
/// RMs: every such row needs a routed arm below `n_arms` and a propensity in (0, 1]; a
/// logged distribution must have `n_arms` entries summing to 1 and agree with the
/// propensity. Errors name the file and line.
pub fn logged_pairs(path: &Path, value: LoggedValue, n_arms: usize) -> Result<LoggedPairs> {
    let mut pairs = LoggedPairs {
        path: path.to_path_buf(),
        records: Vec::new(),
        lines: Vec::new(),
        rows: Vec::new(),
        occurrences: Vec::new(),
        rerouted: 0,
        logging: None,
        n_arms,
    };
    let mut distributions = Vec::new();
    let mut draws = None;
    let mut slots = BatchSlots::default();
    for (line, record) in read_routing_log(path)? {
        let at = |reason: String| Error::Line {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let occurrence = slots.occurrence(&record);
        let observed = match value {
            LoggedValue::Correct => record
                .visited
                .then_some(record.truth)
                .flatten()
                .map(|truth| f64::from(u8::from(record.chosen == Some(truth)))),
            LoggedValue::Reward => record.reward,
        };
        let Some(observed) = observed else {
            continue;
        };
        if record.rerouted {
            pairs.rerouted += 1;
            continue;
        }
        if !observed.is_finite() {
            return Err(at(format!("field `reward` is {observed}")));
        }
        let arm = record.arm.ok_or_else(|| {
            at(format!(
                "field `arm` is missing: the judge `{}` is not one routed RM, so the log \
                 cannot be evaluated off-policy",
                record.judge
            ))
        })?;
        if arm >= n_arms {
            return Err(at(format!(
                "field `arm` is {arm}, but the pool has {n_arms} RMs"
            )));
        }
        let propensity = record.propensity.ok_or_else(|| {
            at("field `propensity` is missing (a router run without propensity draws)".into())
        })?;
        if !(propensity > 0.0 && propensity <= 1.0) {
            return Err(at(format!(
                "field `propensity` is {propensity} for the logged arm: it must be in (0, 1] \
                 for the row to be weighted"
            )));
        }
        // Logs written before the whole distribution was logged also recorded the
        // verifier's truth on kept pairs only: rows chosen by whether the routed RM tied.
        let distribution = record.propensities.as_ref().ok_or_else(|| {
            at(
                "field `propensities` is missing: a log from before off-policy evaluation \
                (its `truth` covers kept pairs only, so which rows observe a value depends \
                on the routed RM); rerun the training to evaluate it"
                    .into(),
            )
        })?;
        check_distribution(distribution, arm, propensity, n_arms).map_err(at)?;
        distributions.extend_from_slice(distribution);
        draws = draws.max(record.propensity_draws);
        pairs.rows.push(LoggedRow {
            arm,
            propensity,
            value: observed,
            cluster: record.prompt_id as u64,
        });
        pairs.records.push(record);
        pairs.lines.push(line);
        pairs.occurrences.push(occurrence);
    }
    if pairs.rows.is_empty() {
        let what = match value {
            LoggedValue::Correct => "a verifier-decided visited pair (a run with an oracle)",
            LoggedValue::Reward => "a reward",
        };
        return Err(Error::Mismatch(format!(
            "{}: no line has {what}",
            path.display()
        )));
    }
    pairs.logging = Some(LoggingDistribution {
        values: distributions,
        draws,
    });
    Ok(pairs)
}

/// Tells apart the batch slots of an iteration's lines: the trainer writes each slot's
/// candidate pairs together, in increasing pair order, so a slot starts where the prompt
/// changes or the pair order restarts.
#[derive(Default)]
struct BatchSlots {
    previous: Option<(usize, usize, [usize; 2])>,
    seen: HashMap<(usize, usize), usize>,
    current: usize,
}

impl BatchSlots {
    /// The occurrence of `record`'s (iteration, prompt) its slot is.
    fn occurrence(&mut self, record: &RoutingRecord) -> usize {
        let key = (record.iteration, record.prompt_id);
        let continues = self.previous.is_some_and(|(iteration, prompt, pair)| {
            (iteration, prompt) == key && pair < record.pair
        });
        if !continues {
            let count = self.seen.entry(key).or_insert(0);
            self.current = *count;
            *count += 1;
        }
        self.previous = Some((record.iteration, record.prompt_id, record.pair));
        self.current
    }
}

/// Checks one logged arm distribution, `[n_arms]`.
fn check_distribution(
    distribution: &[f64],
    arm: usize,
    propensity: f64,
    n_arms: usize,
) -> std::result::Result<(), String> {
    if distribution.len() != n_arms {
        return Err(format!(
            "field `propensities` has {} entries, the pool has {n_arms} RMs",
            distribution.len()
        ));
    }
    if let Some(bad) = distribution
        .iter()
        .find(|p| !(p.is_finite() && (0.0..=1.0).contains(*p)))
    {
        return Err(format!(
            "field `propensities` holds {bad}, not a probability"
        ));
    }
    let sum: f64 = distribution.iter().sum();
    if (sum - 1.0).abs() > DISTRIBUTION_TOLERANCE {
        return Err(format!("field `propensities` sums to {sum}, not 1"));
    }
    if (distribution[arm] - propensity).abs() > DISTRIBUTION_TOLERANCE {
        return Err(format!(
            "field `propensities` gives the logged arm {arm} probability {}, field \
             `propensity` says {propensity}",
            distribution[arm]
        ));
    }
    Ok(())
}
