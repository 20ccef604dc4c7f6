//! How well each RM of a pool labels preference pairs: every RM scores both responses of
//! every pair, and a pair counts as right for an RM when it scores `chosen` above `rejected`
//! by more than the tie threshold (a tie is wrong, as in RewardBench). Also the K× majority
//! vote (ties abstain; an even vote is wrong) and the oracle (right when at least one RM is
//! right). `cargo xtask rm score` is this module on the command line.
//!
//! Every RM's input requirements are checked against every pair before anything is scored.
//! Each RM's scores are appended as they are computed (`<out>/scores/<rm>.jsonl`, reused by
//! a rerun: only what is missing is scored) and the results so far are rewritten to
//! `<out>/results.json` after each RM, so a failure in a later RM loses nothing.

use std::collections::BTreeMap;
use std::path::Path;

use rm_pool::{PreferencePair, RmPool, ScoreItem, Verdict};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::routing::pair_accuracy;
use atomic_write::write_json_pretty as write_json;

/// Items per pool call: the most an interrupted run can lose per RM (scores are appended
/// to the RM's score file after every call).
const CALL_ITEMS: usize = 64;

/// One RM's accuracy on the pairs, with what scoring them cost.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RmPairAccuracy {
    /// Share of pairs it gets right.
    pub accuracy: f64,
    /// Pairs it scores as ties (counted wrong).
    pub ties: usize,
    /// Backend calls this run made (0 when every score was reused).
    pub calls: usize,
    /// Backend throughput this run, items per second.
    pub items_per_s: f64,
    /// Items cut to fit the RM's context.
    pub truncations: usize,
    /// Per category: (pairs, accuracy).
    pub subsets: BTreeMap<String, (usize, f64)>,
}

/// The pool's accuracies on the pairs (`results.json`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PoolPairAccuracy {
    /// Per RM, by name.
    pub rms: BTreeMap<String, RmPairAccuracy>,
    /// The majority vote's accuracy (absent while RMs are still being scored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub majority_vote_accuracy: Option<f64>,
    /// The oracle's accuracy: pairs at least one RM gets right (absent while scoring).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oracle_accuracy: Option<f64>,
    /// Pairs.
    pub n: usize,
}

/// Scores `pairs` (read from `source`, named in errors) with every RM of `pool`, scores
/// differences up to `tie_eps` being ties; keeps scores and results under `out` (see the
/// module docs) and tells `on_rm` each RM's result as it is known.
pub fn score_pairs(
    pool: &mut RmPool,
    pairs: &[PreferencePair],
    source: &Path,
    tie_eps: f32,
    out: &Path,
    on_rm: &mut dyn FnMut(&str, &RmPairAccuracy),
) -> Result<PoolPairAccuracy> {
    if pairs.is_empty() {
        return Err(Error::Inputs {
            context: source.display().to_string(),
            reason: "no pairs".into(),
        });
    }
    let (chosen, rejected): (Vec<ScoreItem>, Vec<ScoreItem>) =
        pairs.iter().map(PreferencePair::items).unzip();
    for (side, items) in [("chosen", &chosen), ("rejected", &rejected)] {
        pool.check_items(items).map_err(|err| Error::Inputs {
            context: format!("{} ({side} responses; item = pair index)", source.display()),
            reason: format!("{err}; nothing was scored"),
        })?;
    }
    let scores_dir = out.join("scores");
    let reused = pool.keep_scores_in(&scores_dir)?;
    let categories: Vec<&str> = pairs
        .iter()
        .map(|p| p.category.as_deref().unwrap_or("all"))
        .collect();
    let mut report = PoolPairAccuracy {
        rms: BTreeMap::new(),
        majority_vote_accuracy: None,
        oracle_accuracy: None,
        n: pairs.len(),
    };
    let mut any_right = vec![false; pairs.len()];
    for (rm, reused) in reused.into_iter().enumerate() {
        let name = pool.names()[rm].clone();
        if reused > 0 {
            tracing::info!(
                "{name}: {reused} scores reused from {}",
                rm_pool::score_file_path(&scores_dir, &name).display()
            );
        }
        // Scored in chunks, each appended to the RM's score file as it is computed.
        for chunk in chosen.chunks(CALL_ITEMS).chain(rejected.chunks(CALL_ITEMS)) {
            pool.score(rm, chunk)?;
        }
        let (a, b) = (pool.score(rm, &chosen)?, pool.score(rm, &rejected)?);
        let verdicts: Vec<Verdict> = a
            .iter()
            .zip(&b)
            .map(|(&a, &b)| Verdict::from_scores(a, b, tie_eps))
            .collect();
        for (right, verdict) in any_right.iter_mut().zip(&verdicts) {
            *right |= *verdict == Verdict::First;
        }
        // Ties are wrong: score them as equal for pair_accuracy.
        let triples = categories.iter().zip(&verdicts).map(|(category, verdict)| {
            let chosen = if *verdict == Verdict::First { 1.0 } else { 0.0 };
            (*category, chosen, 0.0)
        });
        let accuracy = pair_accuracy(triples)?;
        let stats = pool.stats(rm);
        let result = RmPairAccuracy {
            accuracy: accuracy.accuracy,
            ties: verdicts.iter().filter(|v| **v == Verdict::Tie).count(),
            calls: stats.calls,
            items_per_s: stats.items_per_s(),
            truncations: stats.truncations,
            subsets: accuracy.subsets,
        };
        on_rm(&name, &result);
        report.rms.insert(name, result);
        write_json(&out.join("results.json"), &report)?;
    }
    let item_pairs: Vec<(ScoreItem, ScoreItem)> = chosen.into_iter().zip(rejected).collect();
    let majority = pool.majority_vote(&item_pairs, tie_eps)?;
    let n = pairs.len() as f64;
    report.majority_vote_accuracy =
        Some(majority.iter().filter(|v| **v == Verdict::First).count() as f64 / n);
    report.oracle_accuracy = Some(any_right.iter().filter(|r| **r).count() as f64 / n);
    write_json(&out.join("results.json"), &report)?;
    Ok(report)
}
