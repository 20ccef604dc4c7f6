//! The routing panel: one fixed set of verifier-decided pairs on which every router is scored
//! with common random numbers — the paper's offline routing-accuracy metric, applied to the
//! online routers while they learn.
//!
//! The pairs are the SFT policy's samples on held-out (evaluation-split) prompts, one right
//! and one wrong response per pair (the gold answer stands in where the policy was never
//! right), in an order a seeded coin decides, so that which side is right cannot leak into
//! a context. Every RM scores every response once; every pair's context is computed once per
//! context function. A router's accuracy on the panel is then exact and paired with every
//! other router's:
//! - *greedy*: the arm with the largest posterior mean μ_kᵀe (non-learning policies: the arm
//!   the policy picks, or its expectation for uniform routing);
//! - *Thompson-expected*: Σ_k P(arm k | e) · [RM k prefers the right response], with the
//!   router's propensities (Monte-Carlo for Thompson sampling, exact otherwise) — the label
//!   accuracy the router would get on the pair in expectation.
//!
//! Single RMs, uniform routing, the majority vote and the ensemble do not learn; their panel
//! accuracy is computed once ([`Panel::baselines`]), with two ceilings: the best RM of each
//! domain, and "any RM right" (a router that always picked a right RM). A tie counts as
//! wrong everywhere.

use std::collections::BTreeMap;

use bandit::{ArmMask, LinearBandit};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rm_pool::{RmPool, ScoreItem};
use serde::{Deserialize, Serialize};
use synthetic_tasks::Task;

use crate::error::{Error, Result};
use crate::offline::verifier_pairs;

/// The name of the best-RM-per-domain row of [`PanelSummary::rows`].
pub const BEST_PER_DOMAIN: &str = "best RM per domain";

/// The name of the any-RM-right row of [`PanelSummary::rows`].
pub const ANY_RM_RIGHT: &str = "any RM right";

/// `[panel]`: the size of the routing panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PanelConfig {
    /// Evaluation-split prompts per domain.
    pub prompts_per_domain: usize,
    /// SFT samples per prompt (temperature 1).
    pub samples_per_prompt: usize,
    /// Verifier-decided pairs kept per prompt, at most.
    pub pairs_per_prompt: usize,
    /// Points of training at which routers are scored, besides the start: `quarters` = 4
    /// scores them after ¼, ½, ¾ and all of the iterations.
    pub quarters: usize,
}

impl Default for PanelConfig {
    fn default() -> Self {
        Self {
            prompts_per_domain: 100,
            samples_per_prompt: 8,
            pairs_per_prompt: 3,
            quarters: 4,
        }
    }
}

impl PanelConfig {
    /// The iterations after which routers are scored (0 = before training), ascending.
    pub fn checkpoints(&self, iterations: usize) -> Vec<usize> {
        let mut points: Vec<usize> = (0..=self.quarters)
            .map(|q| (q * iterations).div_ceil(self.quarters.max(1)))
            .collect();
        points.dedup();
        points
    }
}

/// One panel pair: a prompt, two responses in routing order, and every RM's scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanelPair {
    /// Index into [`Panel::prompts`].
    pub prompt: usize,
    /// The prompt's domain.
    pub domain: String,
    /// The first response as routed.
    pub a: String,
    /// The second response.
    pub b: String,
    /// Whether `a` is the right one (else `b` is).
    pub right_is_a: bool,
    /// Per RM in arm order: its scores of `a` and `b`.
    pub scores: Vec<[f64; 2]>,
}

impl PanelPair {
    /// Whether RM `k` strictly prefers the right response.
    pub fn rm_right(&self, k: usize) -> bool {
        let [a, b] = self.scores[k];
        if self.right_is_a { a > b } else { b > a }
    }
}

/// The panel: prompts, pairs and the RM names (arm order).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Panel {
    /// The prompts' texts (one user turn each).
    pub prompts: Vec<String>,
    /// The pairs, prompt by prompt.
    pub pairs: Vec<PanelPair>,
    /// RM names, in arm order.
    pub rm_names: Vec<String>,
}

/// An accuracy on the panel: over every pair (micro) and per domain.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PanelScore {
    /// Share of the panel's pairs, a fraction.
    pub overall: f64,
    /// Per domain, a fraction.
    pub per_domain: BTreeMap<String, f64>,
}

/// Accuracies of the labellers that do not learn, and the two ceilings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanelSummary {
    /// Pairs on the panel.
    pub pairs: usize,
    /// Prompts with at least one pair.
    pub prompts: usize,
    /// Pairs per domain.
    pub pairs_per_domain: BTreeMap<String, usize>,
    /// Name → score, in report order: each RM, `random`, `majority`, `ensemble`,
    /// `best RM per domain`, `any RM right`.
    pub rows: Vec<(String, PanelScore)>,
}

impl Panel {
    /// The panel of `tasks` from `samples[i]` (the SFT policy's responses to `tasks[i]`):
    /// up to `pairs_per_prompt` verifier-decided pairs per prompt, put in a coin-decided
    /// order (seeded by `seed`), scored by every RM of `pool`.
    pub fn build(
        tasks: &[Task],
        samples: &[Vec<String>],
        pairs_per_prompt: usize,
        pool: &mut RmPool,
        seed: u64,
    ) -> Result<Self> {
        let records = verifier_pairs(tasks, samples, pairs_per_prompt);
        if records.is_empty() {
            return Err(Error::Stage {
                stage: "panel",
                reason: "no verifier-decided pair: every sample is right, or every one wrong"
                    .into(),
            });
        }
        let mut coin = ChaCha8Rng::seed_from_u64(seed ^ 0x9a2e1);
        let mut prompts: Vec<String> = Vec::new();
        let mut pairs: Vec<PanelPair> = Vec::with_capacity(records.len());
        for record in records {
            let text = record.pair.prompt[0].content.clone();
            if prompts.last() != Some(&text) {
                prompts.push(text);
            }
            let right_is_a = coin.random::<bool>();
            let (right, wrong) = (record.pair.chosen, record.pair.rejected);
            let (a, b) = if right_is_a {
                (right, wrong)
            } else {
                (wrong, right)
            };
            pairs.push(PanelPair {
                prompt: prompts.len() - 1,
                domain: record.pair.category.unwrap_or_default(),
                a,
                b,
                right_is_a,
                scores: Vec::new(),
            });
        }
        let items: Vec<ScoreItem> = pairs
            .iter()
            .flat_map(|p| {
                [&p.a, &p.b].map(|r| {
                    ScoreItem::single_turn(prompts[p.prompt].clone(), r.clone())
                        .with_category(p.domain.clone())
                })
            })
            .collect();
        for k in 0..pool.len() {
            let scores = pool.score(k, &items)?;
            for (pair, s) in pairs.iter_mut().zip(scores.chunks(2)) {
                pair.scores.push([f64::from(s[0]), f64::from(s[1])]);
            }
        }
        Ok(Self {
            prompts,
            pairs,
            rm_names: pool.names(),
        })
    }

    /// The score of per-pair values (e.g. 1 for right, 0 for wrong): their mean, overall
    /// and per domain.
    pub fn score(&self, values: &[f64]) -> PanelScore {
        let mut per: BTreeMap<String, (f64, usize)> = BTreeMap::new();
        for (pair, v) in self.pairs.iter().zip(values) {
            let entry = per.entry(pair.domain.clone()).or_default();
            entry.0 += v;
            entry.1 += 1;
        }
        PanelScore {
            overall: values.iter().sum::<f64>() / values.len().max(1) as f64,
            per_domain: per
                .into_iter()
                .map(|(d, (sum, n))| (d, sum / n as f64))
                .collect(),
        }
    }

    /// Whether each RM prefers the right response, `[pairs][rms]`, as 0/1.
    fn rm_matrix(&self) -> Vec<Vec<f64>> {
        self.pairs
            .iter()
            .map(|p| {
                (0..self.rm_names.len())
                    .map(|k| f64::from(u8::from(p.rm_right(k))))
                    .collect()
            })
            .collect()
    }

    /// The labellers that do not learn, and the ceilings ([`PanelSummary::rows`]).
    pub fn baselines(&self) -> PanelSummary {
        let right = self.rm_matrix();
        let k_rms = self.rm_names.len();
        let mut rows: Vec<(String, PanelScore)> = (0..k_rms)
            .map(|k| {
                let values: Vec<f64> = right.iter().map(|r| r[k]).collect();
                (self.rm_names[k].clone(), self.score(&values))
            })
            .collect();
        let random: Vec<f64> = right
            .iter()
            .map(|r| r.iter().sum::<f64>() / k_rms as f64)
            .collect();
        rows.push(("random".into(), self.score(&random)));
        let majority: Vec<f64> = self
            .pairs
            .iter()
            .map(|p| {
                let (mut for_right, mut for_wrong) = (0, 0);
                for k in 0..k_rms {
                    let [a, b] = p.scores[k];
                    let prefers_a = a > b;
                    if a == b {
                        continue;
                    }
                    if prefers_a == p.right_is_a {
                        for_right += 1;
                    } else {
                        for_wrong += 1;
                    }
                }
                f64::from(u8::from(for_right > for_wrong))
            })
            .collect();
        rows.push(("majority".into(), self.score(&majority)));
        rows.push(("ensemble".into(), self.score(&self.ensemble())));
        let any: Vec<f64> = right
            .iter()
            .map(|r| f64::from(u8::from(r.iter().any(|&v| v > 0.0))))
            .collect();
        let rm_rows: Vec<PanelScore> = rows[..k_rms].iter().map(|(_, s)| s.clone()).collect();
        rows.push((BEST_PER_DOMAIN.into(), self.best_per_domain(&rm_rows)));
        rows.push((ANY_RM_RIGHT.into(), self.score(&any)));
        let mut pairs_per_domain: BTreeMap<String, usize> = BTreeMap::new();
        for p in &self.pairs {
            *pairs_per_domain.entry(p.domain.clone()).or_default() += 1;
        }
        PanelSummary {
            pairs: self.pairs.len(),
            prompts: self.prompts.len(),
            pairs_per_domain,
            rows,
        }
    }

    /// The ensemble: each RM's scores standardised over every panel response, averaged.
    fn ensemble(&self) -> Vec<f64> {
        let k_rms = self.rm_names.len();
        let moments: Vec<(f64, f64)> = (0..k_rms)
            .map(|k| {
                let all: Vec<f64> = self.pairs.iter().flat_map(|p| p.scores[k]).collect();
                let mean = all.iter().sum::<f64>() / all.len() as f64;
                let var =
                    all.iter().map(|s| (s - mean).powi(2)).sum::<f64>() / all.len().max(2) as f64;
                (mean, var.sqrt().max(1e-12))
            })
            .collect();
        self.pairs
            .iter()
            .map(|p| {
                let side = |i: usize| -> f64 {
                    (0..k_rms)
                        .map(|k| (p.scores[k][i] - moments[k].0) / moments[k].1)
                        .sum::<f64>()
                };
                let (a, b) = (side(0), side(1));
                let right = if p.right_is_a { a > b } else { b > a };
                f64::from(u8::from(right))
            })
            .collect()
    }

    /// The best RM's accuracy in each domain, and their pair-weighted mean.
    fn best_per_domain(&self, rms: &[PanelScore]) -> PanelScore {
        let mut per_domain: BTreeMap<String, f64> = BTreeMap::new();
        for rm in rms {
            for (d, &v) in &rm.per_domain {
                let best = per_domain.entry(d.clone()).or_insert(f64::MIN);
                *best = best.max(v);
            }
        }
        let mut weighted = 0.0;
        for p in &self.pairs {
            weighted += per_domain.get(&p.domain).copied().unwrap_or(0.0);
        }
        PanelScore {
            overall: weighted / self.pairs.len().max(1) as f64,
            per_domain,
        }
    }
}

/// A router's panel accuracy at one point of training.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PanelPoint {
    /// Iterations done when scored (0: before training).
    pub iteration: usize,
    /// Greedy accuracy, a fraction.
    pub greedy: f64,
    /// Thompson-expected accuracy (Σ propensity × right), a fraction.
    pub expected: f64,
    /// The expected accuracy per domain.
    pub expected_by_domain: BTreeMap<String, f64>,
}

/// Scores `bandit` (left untouched: a clone draws the Monte-Carlo propensities) on `panel`,
/// with `contexts` `[pairs, dim]` row-major, after `iteration` iterations.
pub fn score_router(
    bandit: &LinearBandit,
    contexts: &[f64],
    panel: &Panel,
    iteration: usize,
) -> Result<PanelPoint> {
    let mut router = bandit.clone();
    let k_rms = router.n_arms();
    let dim = router.dim();
    if contexts.len() != panel.pairs.len() * dim {
        return Err(Error::Stage {
            stage: "panel",
            reason: format!(
                "{} context values for {} pairs of width {dim}",
                contexts.len(),
                panel.pairs.len()
            ),
        });
    }
    let mask = ArmMask::all(k_rms);
    let greedy_by_mean = router.policy().learns();
    let mut greedy = Vec::with_capacity(panel.pairs.len());
    let mut expected = Vec::with_capacity(panel.pairs.len());
    for (pair, e) in panel.pairs.iter().zip(contexts.chunks_exact(dim)) {
        let p = router.propensities(e, &mask)?;
        let right: Vec<f64> = (0..k_rms)
            .map(|k| f64::from(u8::from(pair.rm_right(k))))
            .collect();
        let value: f64 = p.iter().zip(&right).map(|(p, r)| p * r).sum();
        expected.push(value);
        greedy.push(if greedy_by_mean {
            let mut best = (0, f64::NEG_INFINITY);
            for k in 0..k_rms {
                let score: f64 = router.mean(k)?.iter().zip(e).map(|(m, x)| m * x).sum();
                if score > best.1 {
                    best = (k, score);
                }
            }
            right[best.0]
        } else {
            value
        });
    }
    let expected_score = panel.score(&expected);
    Ok(PanelPoint {
        iteration,
        greedy: panel.score(&greedy).overall,
        expected: expected_score.overall,
        expected_by_domain: expected_score.per_domain,
    })
}

#[cfg(test)]
mod tests {
    use bandit::{BanditParams, Policy, Prior};

    use super::*;

    /// Three pairs in two domains; RM 0 right on pairs 0 and 1, RM 1 right on pair 2 only
    /// (and tied on pair 1).
    fn tiny() -> Panel {
        let pair =
            |prompt: usize, domain: &str, right_is_a: bool, scores: Vec<[f64; 2]>| PanelPair {
                prompt,
                domain: domain.into(),
                a: "x".into(),
                b: "y".into(),
                right_is_a,
                scores,
            };
        Panel {
            prompts: vec!["p0".into(), "p1".into()],
            pairs: vec![
                pair(0, "add", true, vec![[2.0, 1.0], [0.0, 3.0]]),
                pair(0, "add", false, vec![[0.0, 1.0], [5.0, 5.0]]),
                pair(1, "sort", true, vec![[1.0, 4.0], [2.0, 1.0]]),
            ],
            rm_names: vec!["rm0".into(), "rm1".into()],
        }
    }

    fn row<'a>(summary: &'a PanelSummary, name: &str) -> &'a PanelScore {
        &summary.rows.iter().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn baselines_equal_direct_counts() {
        let panel = tiny();
        let summary = panel.baselines();
        assert_eq!((summary.pairs, summary.prompts), (3, 2));
        assert!((row(&summary, "rm0").overall - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(row(&summary, "rm0").per_domain["add"], 1.0);
        assert_eq!(row(&summary, "rm0").per_domain["sort"], 0.0);
        assert!((row(&summary, "rm1").overall - 1.0 / 3.0).abs() < 1e-12);
        // Random: (1 + 0)/2, (1 + 0)/2, (0 + 1)/2.
        assert!((row(&summary, "random").overall - 0.5).abs() < 1e-12);
        // Majority: pair 0 one vote each (a tie: wrong); pair 1 rm0 only (right); pair 2
        // one each (wrong).
        assert!((row(&summary, "majority").overall - 1.0 / 3.0).abs() < 1e-12);
        // Best per domain: add 1.0 (rm0, 2 pairs), sort 1.0 (rm1, 1 pair).
        assert_eq!(row(&summary, "best RM per domain").overall, 1.0);
        assert_eq!(row(&summary, "any RM right").overall, 1.0);
    }

    #[test]
    fn router_scores_equal_direct_counts_and_sampled_routes() {
        let panel = tiny();
        // A fixed router on rm1 over the constant context.
        let prior = Prior::zeros(2, 1).unwrap();
        let fixed = LinearBandit::new(
            Policy::Fixed { arm: 1 },
            prior.clone(),
            BanditParams::bayesian_v5(),
            0,
        )
        .unwrap();
        let point = score_router(&fixed, &[1.0; 3], &panel, 7).unwrap();
        assert_eq!(point.iteration, 7);
        assert!((point.expected - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(point.greedy, point.expected);
        // Thompson sampling on 1-d contexts whose posterior prefers rm0 on pair 0 and rm1
        // on pair 2: the expected accuracy equals the mean over many sampled routes.
        let prior =
            Prior::new(vec![("rm0".into(), vec![0.3]), ("rm1".into(), vec![-0.2])]).unwrap();
        let mut thompson =
            LinearBandit::new(Policy::Thompson, prior, BanditParams::bayesian_v4(), 11).unwrap();
        let contexts = [1.0, 0.2, -1.0];
        let point = score_router(&thompson, &contexts, &panel, 0).unwrap();
        let mask = ArmMask::all(2);
        let draws = 20_000;
        let mut hits = 0.0;
        for _ in 0..draws {
            for (pair, e) in panel.pairs.iter().zip(contexts) {
                let arm = thompson.select(&[e], &mask).unwrap().arm;
                hits += f64::from(u8::from(pair.rm_right(arm)));
            }
        }
        let sampled = hits / (draws * 3) as f64;
        // Standard error of the sampled mean ≤ 0.5/√60000 ≈ 0.002, and of the propensities
        // ≤ 0.5/√1000 per pair: 0.03 is well beyond both.
        assert!(
            (point.expected - sampled).abs() < 0.03,
            "{} vs {sampled}",
            point.expected
        );
        // Greedy: μᵀe = 0.3e vs −0.2e: rm0 for e > 0 (pairs 0, 1), rm1 for pair 2.
        assert!((point.greedy - 1.0).abs() < 1e-12);
    }

    #[test]
    fn checkpoints_are_quarters() {
        let config = PanelConfig::default();
        assert_eq!(config.checkpoints(24), vec![0, 6, 12, 18, 24]);
        assert_eq!(config.checkpoints(2), vec![0, 1, 2]);
    }
}
