//! The routing data set: records with one verdict and margin per RM in arm order, and
//! per-RM margin scales (the split is [`crate::split`]).

use crate::error::{Error, Result};
use crate::records::JudgedPair;

/// A record as the router trains on it.
#[derive(Clone, Debug, PartialEq)]
pub struct RoutingRecord {
    /// The pair (its prompt and responses are the encoder's input).
    pub pair: rm_pool::PreferencePair,
    /// Per RM (arm order): its verdict was right.
    pub correct: Vec<bool>,
    /// Per RM (arm order): score(chosen) − score(rejected), in the RM's units.
    pub margin: Vec<f64>,
}

/// Records in arm order, for the RMs named in `rm_names`.
///
/// Errors naming the record (0-based, in file order) and the RM when a judgment is missing.
pub fn routing_records(records: &[JudgedPair], rm_names: &[String]) -> Result<Vec<RoutingRecord>> {
    if rm_names.is_empty() {
        return Err(Error::Input("routing needs at least one RM".into()));
    }
    records
        .iter()
        .enumerate()
        .map(|(index, record)| {
            let mut correct = Vec::with_capacity(rm_names.len());
            let mut margin = Vec::with_capacity(rm_names.len());
            for name in rm_names {
                let judgment = record.judgments.get(name).ok_or_else(|| {
                    Error::Input(format!(
                        "record {index} has no judgment by RM `{name}` (judge it with the pool first)"
                    ))
                })?;
                correct.push(judgment.correct);
                margin.push(judgment.margin);
            }
            Ok(RoutingRecord {
                pair: record.pair.clone(),
                correct,
                margin,
            })
        })
        .collect()
}

/// Per-RM margin scale for the regression head: the root mean square of the RM's margins
/// over `records` (1 when they are all zero). Dividing by it puts every RM's margins on a
/// comparable scale with their signs (the verdicts) kept; METHOD.md §2 asks for per-RM
/// normalisation because the heads' outputs are bounded cosines.
pub fn margin_scales(records: &[&RoutingRecord], n_rms: usize) -> Vec<f64> {
    (0..n_rms)
        .map(|rm| {
            let n = records.len().max(1) as f64;
            let mean_square = records.iter().map(|r| r.margin[rm].powi(2)).sum::<f64>() / n;
            let rms = mean_square.sqrt();
            if rms > 0.0 && rms.is_finite() {
                rms
            } else {
                1.0
            }
        })
        .collect()
}
