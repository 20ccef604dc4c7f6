//! Labelling the pairs the lazy draw visits, one round at a time, with the strategy's
//! [`Labeller`] (the trainer's word; "judge" is eval-harness's benchmark judge): the routed
//! RM of each pair (each RM scores its round's distinct responses in one call, its
//! cache making every (RM, response) a single call for the whole iteration), every RM
//! (ensemble, majority vote) or the oracle verifier.
//!
//! A routed RM that fails is masked for the rest of the iteration and its pairs are re-routed
//! among the remaining arms (logged); when no arm remains the iteration is skipped.

use std::collections::BTreeMap;

use bandit::{ArmMask, Choice, LinearBandit};
use rm_pool::{RmPool, ScoreItem, Verdict};
use seed_mix::mix;

use crate::error::Result;
use crate::strategy::Labeller;

/// A candidate pair of one iteration: prompt `prompt` (position in the batch), responses `a`
/// and `b` of that prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PairId {
    /// Position of the prompt in the batch.
    pub prompt: usize,
    /// Index of the pair among the prompt's candidate pairs.
    pub pair: usize,
}

/// How a visited pair was judged.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Judgment {
    /// Scores of the two responses (`None` for majority votes).
    pub scores: Option<[f64; 2]>,
    /// Which response won; `None` for a tie.
    pub winner: Option<usize>,
}

/// Why an iteration cannot be judged (it is skipped, nothing is lost).
#[derive(Clone, Debug, PartialEq)]
pub struct NoLabeller(pub String);

/// Routing state of one pair: the current choice and whether it was re-routed.
#[derive(Clone, Debug)]
pub struct Route {
    /// The router's choice.
    pub choice: Choice,
    /// Whether the first choice failed and this is a re-route.
    pub rerouted: bool,
    /// The row of this pair's routing context.
    pub context_row: usize,
}

/// Everything a round of labelling reads and may change.
pub struct LabelContext<'a> {
    /// The routed pool.
    pub pool: &'a mut RmPool,
    /// The oracle (for [`Labeller::Oracle`]).
    pub oracle: Option<&'a mut RmPool>,
    /// The bandit (routed strategies), for re-routing.
    pub bandit: Option<&'a mut LinearBandit>,
    /// Routing contexts, `[rows, d]` row-major (routed strategies).
    pub contexts: &'a [f64],
    /// Context dimension.
    pub dim: usize,
    /// Arms usable in this iteration (availability, minus RMs that failed).
    pub mask: &'a mut ArmMask,
    /// Per pair (by prompt, then pair), its route (routed strategies).
    pub routes: &'a mut [Vec<Route>],
    /// RM verdicts tie at |s_a − s_b| ≤ this (the oracle's only when its scores are equal).
    pub tie_eps: f32,
    /// The seed of the coin that decides the oracle's ties under `coin_ties`, mixed with each
    /// pair's id (the trainer's seed and the iteration).
    pub coin_seed: u64,
}

/// Judges `round` (pairs with their two score items), returning one judgment per pair in
/// order, or `Ok(Err(NoLabeller))` when no judge is left (the iteration is skipped). Errors
/// that should stop the run (the oracle verifier failing, a corrupt router) are `Err`.
pub fn label_round(
    kind: Labeller,
    ctx: &mut LabelContext<'_>,
    round: &[(PairId, ScoreItem, ScoreItem)],
) -> Result<std::result::Result<Vec<Judgment>, NoLabeller>> {
    let items = |round: &[(PairId, ScoreItem, ScoreItem)]| -> Vec<ScoreItem> {
        round
            .iter()
            .flat_map(|(_, a, b)| [a.clone(), b.clone()])
            .collect()
    };
    let scored = |scores: Vec<f32>, tie_eps: f32| -> Vec<Judgment> {
        scores
            .chunks(2)
            .map(|s| Judgment {
                scores: Some([f64::from(s[0]), f64::from(s[1])]),
                winner: winner(Verdict::from_scores(s[0], s[1], tie_eps)),
            })
            .collect()
    };
    match kind {
        Labeller::Routed => routed_round(ctx, round),
        Labeller::Ensemble => match ctx.pool.ensemble_mean(&items(round)) {
            Ok((scores, _)) => Ok(Ok(scored(scores, ctx.tie_eps))),
            Err(err) => Ok(Err(NoLabeller(format!("ensemble: {err}")))),
        },
        Labeller::Majority => {
            let pairs: Vec<(ScoreItem, ScoreItem)> = round
                .iter()
                .map(|(_, a, b)| (a.clone(), b.clone()))
                .collect();
            match ctx.pool.majority_vote(&pairs, ctx.tie_eps) {
                Ok(verdicts) => Ok(Ok(verdicts
                    .into_iter()
                    .map(|verdict| Judgment {
                        scores: None,
                        winner: winner(verdict),
                    })
                    .collect())),
                Err(err) => Ok(Err(NoLabeller(format!("majority vote: {err}")))),
            }
        }
        Labeller::Oracle { coin_ties } => {
            let oracle = ctx
                .oracle
                .as_deref_mut()
                .expect("the oracle strategy is built with an oracle");
            // The verifier scores 1 (right) or 0 (wrong): a pair is a tie only when both
            // responses are equally right, whatever margin `tie_eps` sets for RM scores.
            let scores = oracle.score(0, &items(round))?;
            let mut judgments = scored(scores, 0.0);
            if coin_ties {
                for ((id, _, _), judgment) in round.iter().zip(&mut judgments) {
                    if judgment.winner.is_none() {
                        let flip = mix(&[ctx.coin_seed, id.prompt as u64, id.pair as u64]);
                        judgment.winner = Some((flip & 1) as usize);
                    }
                }
            }
            Ok(Ok(judgments))
        }
    }
}

/// Routed labelling: each arm scores its pairs' responses in one call; a failing arm is masked
/// and its pairs re-routed until every pair is judged or no arm is left.
fn routed_round(
    ctx: &mut LabelContext<'_>,
    round: &[(PairId, ScoreItem, ScoreItem)],
) -> Result<std::result::Result<Vec<Judgment>, NoLabeller>> {
    let mut judgments: Vec<Option<Judgment>> = vec![None; round.len()];
    let mut pending: Vec<usize> = (0..round.len()).collect();
    while !pending.is_empty() {
        let mut by_arm: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for &i in &pending {
            let id = round[i].0;
            let arm = ctx.routes[id.prompt][id.pair].choice.arm;
            by_arm.entry(arm).or_default().push(i);
        }
        let mut failed: Vec<usize> = Vec::new();
        for (arm, members) in by_arm {
            let items: Vec<ScoreItem> = members
                .iter()
                .flat_map(|&i| [round[i].1.clone(), round[i].2.clone()])
                .collect();
            match ctx.pool.score(arm, &items) {
                Ok(scores) => {
                    for (&i, s) in members.iter().zip(scores.chunks(2)) {
                        judgments[i] = Some(Judgment {
                            scores: Some([f64::from(s[0]), f64::from(s[1])]),
                            winner: winner(Verdict::from_scores(s[0], s[1], ctx.tie_eps)),
                        });
                    }
                }
                Err(err) => {
                    let name = ctx.pool.names()[arm].clone();
                    tracing::warn!(rm = %name, error = %err, pairs = members.len(),
                        "reward model failed; masking it for this iteration and re-routing its pairs");
                    let mut flags: Vec<bool> = (0..ctx.mask.len())
                        .map(|k| ctx.mask.is_available(k))
                        .collect();
                    flags[arm] = false;
                    *ctx.mask = ArmMask::from_flags(flags);
                    failed.extend(members);
                }
            }
        }
        if failed.is_empty() {
            break;
        }
        if let Err(no_labeller) = reroute(ctx, round, &failed)? {
            return Ok(Err(no_labeller));
        }
        pending = failed;
    }
    Ok(Ok(judgments
        .into_iter()
        .map(|j| j.expect("every pending pair was judged"))
        .collect()))
}

/// Routes the `failed` pairs of `round` again among the arms still available. Pairs sharing
/// a context row share the new arm, so LASeR's one arm per batch holds after a re-route too.
fn reroute(
    ctx: &mut LabelContext<'_>,
    round: &[(PairId, ScoreItem, ScoreItem)],
    failed: &[usize],
) -> Result<std::result::Result<(), NoLabeller>> {
    if ctx.mask.count_available() == 0 {
        return Ok(Err(NoLabeller(
            "every reward model of the pool failed or is unavailable".into(),
        )));
    }
    let bandit = ctx
        .bandit
        .as_deref_mut()
        .expect("routed strategies have a bandit");
    let mut rows: Vec<usize> = failed
        .iter()
        .map(|&i| {
            let id = round[i].0;
            ctx.routes[id.prompt][id.pair].context_row
        })
        .collect();
    rows.sort_unstable();
    rows.dedup();
    let contexts: Vec<f64> = rows
        .iter()
        .flat_map(|&r| ctx.contexts[r * ctx.dim..(r + 1) * ctx.dim].iter().copied())
        .collect();
    let choices = match bandit.select_batch(&contexts, ctx.mask) {
        Ok(choices) => choices,
        Err(bandit::Error::NoArmAvailable { reason }) => return Ok(Err(NoLabeller(reason))),
        Err(err) => return Err(err.into()),
    };
    for route in ctx.routes.iter_mut().flatten() {
        if let Some(k) = rows.iter().position(|&r| r == route.context_row)
            && !ctx.mask.is_available(route.choice.arm)
        {
            route.choice = choices[k].clone();
            route.rerouted = true;
        }
    }
    Ok(Ok(()))
}

/// The winning response of a verdict (0 = first, 1 = second), `None` for a tie.
pub fn winner(verdict: Verdict) -> Option<usize> {
    match verdict {
        Verdict::First => Some(0),
        Verdict::Second => Some(1),
        Verdict::Tie => None,
    }
}
