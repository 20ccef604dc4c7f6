//! Labelling: the lazy draw judges candidate pairs round by round with the strategy's judge
//! until each prompt has its pairs; the kept (non-tied) pairs become the DPO batch, and the
//! oracle verifier, where the run has one, says which response of each is really better.

use std::collections::BTreeMap;

use bandit::ArmMask;
use rm_pool::{ScoreItem, Verdict};

use crate::draw::{LazyDraw, visiting_order};
use crate::error::Result;
use crate::labels::{Judgment, LabelContext, NoLabeller, PairId, Route, label_round, winner};
use seed_mix::mix;

use super::routing::Contexts;
use super::sampling::Drawn;
use super::state::Trainer;

/// Every visited pair's judgment, keyed (prompt in batch, pair).
pub(super) type Judged = BTreeMap<(usize, usize), Judgment>;

/// What became of an iteration's judged pairs; pairs are keyed (prompt in batch, pair).
pub(super) struct Outcomes {
    /// Every visited pair's judgment.
    pub(super) judged: Judged,
    /// The kept (non-tied) pairs, in prompt then pair order: the DPO batch's rows.
    pub(super) kept: Vec<(usize, usize)>,
    /// Per visited pair, the response the oracle prefers (`None`: it ties; empty without an
    /// oracle).
    pub(super) truth: BTreeMap<(usize, usize), Option<usize>>,
    /// Per kept pair, its DPO loss (nats; `None` where the step skipped it).
    pub(super) losses: Vec<Option<f64>>,
    /// Per kept pair, the normalised reward (`None` where there is no loss).
    pub(super) rewards: Vec<Option<f64>>,
}

impl Outcomes {
    /// The outcomes of `judged` before truth, losses and rewards are known.
    pub(super) fn of(judged: Judged) -> Self {
        let kept: Vec<(usize, usize)> = judged
            .iter()
            .filter(|(_, j)| j.winner.is_some())
            .map(|(&key, _)| key)
            .collect();
        let n = kept.len();
        Self {
            judged,
            kept,
            truth: BTreeMap::new(),
            losses: vec![None; n],
            rewards: vec![None; n],
        }
    }

    /// The (chosen, rejected) responses of kept pair `j`.
    pub(super) fn chosen_rejected(&self, j: usize, pairs: &[(usize, usize)]) -> (usize, usize) {
        let (p, pair) = self.kept[j];
        let (a, b) = pairs[pair];
        if self.judged[&(p, pair)].winner == Some(0) {
            (a, b)
        } else {
            (b, a)
        }
    }
}

impl Trainer {
    /// Judges the drawn pairs lazily, round by round (see [`crate::draw`]): every visited
    /// pair's judgment, or `Ok(Err(_))` when no judge is left (the iteration is skipped).
    pub(super) fn judge_lazily(
        &mut self,
        iteration: usize,
        drawn: &Drawn,
        contexts: &Contexts,
        mask: &mut ArmMask,
        routes: &mut [Vec<Route>],
    ) -> Result<std::result::Result<Judged, NoLabeller>> {
        let orders = drawn
            .batch
            .iter()
            .map(|&p| {
                visiting_order(
                    drawn.pairs.len(),
                    mix(&[self.config.seed, iteration as u64, p as u64, 1]),
                )
            })
            .collect();
        let mut draw = LazyDraw::new(orders, self.config.pairs.pairs_per_prompt);
        let mut judged = BTreeMap::new();
        loop {
            let round = draw.next_round();
            if round.is_empty() {
                return Ok(Ok(judged));
            }
            let round_items: Vec<(PairId, ScoreItem, ScoreItem)> = round
                .iter()
                .map(|&(p, pair)| {
                    let (a, b) = drawn.pairs[pair];
                    (
                        PairId { prompt: p, pair },
                        self.item(drawn.batch[p], &drawn.responses[p][a]),
                        self.item(drawn.batch[p], &drawn.responses[p][b]),
                    )
                })
                .collect();
            let mut ctx = LabelContext {
                pool: &mut self.pool,
                oracle: self.oracle.as_mut(),
                bandit: self.strategy.bandit.as_mut(),
                contexts: &contexts.values,
                dim: contexts.dim,
                mask,
                routes,
                tie_eps: self.config.pairs.tie_eps,
                coin_seed: mix(&[self.config.seed, iteration as u64, 2]),
            };
            let judgments = match label_round(self.strategy.labeller, &mut ctx, &round_items)? {
                Ok(judgments) => judgments,
                Err(no_judge) => return Ok(Err(no_judge)),
            };
            for (&(p, pair), judgment) in round.iter().zip(judgments) {
                draw.record(p, judgment.winner.is_none());
                judged.insert((p, pair), judgment);
            }
        }
    }

    /// A score item for `response` to prompt `prompt` (index into the prompts file).
    fn item(&self, prompt: usize, response: &str) -> ScoreItem {
        let prompt = &self.prompts[prompt];
        ScoreItem {
            prompt: prompt.messages.clone(),
            response: response.into(),
            reference: prompt.reference.clone(),
            category: prompt.category.clone(),
        }
    }

    /// The oracle verifier's preferred response for every visited pair, kept or tied by
    /// the judge (`None` where the verifier ties; empty when the run has no oracle), so
    /// that the routing log holds every pair's truth, not only the routed judge's
    /// decided ones. The oracle's calls are not the pool's.
    pub(super) fn truth(
        &mut self,
        drawn: &Drawn,
        judged: &Judged,
    ) -> Result<BTreeMap<(usize, usize), Option<usize>>> {
        if self.oracle.is_none() || judged.is_empty() {
            return Ok(BTreeMap::new());
        }
        let visited: Vec<(usize, usize)> = judged.keys().copied().collect();
        let items: Vec<ScoreItem> = visited
            .iter()
            .flat_map(|&(p, pair)| {
                let (a, b) = drawn.pairs[pair];
                [
                    self.item(drawn.batch[p], &drawn.responses[p][a]),
                    self.item(drawn.batch[p], &drawn.responses[p][b]),
                ]
            })
            .collect();
        let oracle = self.oracle.as_mut().expect("checked above");
        let scores = oracle.score(0, &items)?;
        Ok(visited
            .into_iter()
            .zip(scores.chunks(2))
            .map(|(key, s)| (key, winner(Verdict::from_scores(s[0], s[1], 0.0))))
            .collect())
    }
}
