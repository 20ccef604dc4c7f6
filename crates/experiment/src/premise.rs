//! The method's premise, checked on every experiment before any router is ranked.
//!
//! Routing can only help a policy when (a) correct labels improve the policy and (b) the
//! online reward the bandit learns from says which labels were correct; and it can only win
//! something when (c) the RMs' strengths differ by domain. Each is measured on the runs the
//! comparison made:
//! - (a) the oracle's held-out policy gain over the SFT policy: per seed, oracle accuracy −
//!   SFT accuracy (the SFT policy is evaluated greedily, once), mean ± Student-t 95% CI;
//! - (b) the Pearson correlation between the bandit reward of a kept pair and whether its
//!   routed label is correct (1) or not (0), over the verifier-decided kept pairs of the
//!   `random` runs from iteration 1 on (iteration 0's losses are all ln 2, the policy being
//!   its reference), pooled over domains and per domain; the 95% interval is a percentile
//!   bootstrap over runs (seeds), which keeps a run's pairs together;
//! - (c) the RM × domain accuracy table, with the best single RM, the best RM per domain
//!   (what a router that knew each domain's best RM would get) and their gap.
//!
//! The premise holds when the intervals of (a) and of (b) pooled lie above 0.
//!
//! Beside (a), the same gain for `oracle-coin`, whose verifier labels the pairs an RM labeller
//! keeps (a coin decides its ties) where the oracle drops its ties and keeps only decided
//! pairs: what correct labels alone give, without the oracle's choice of pairs (a diagnostic,
//! not part of the verdict).
//!
//! Beside (b), the same correlation over each strategy's own runs: the reward every learning
//! router actually learns from, under the labels its own routing chose (a diagnostic, not part
//! of the verdict: a router's routes depend on its rewards).
//!
//! Beside (b), its why: the DPO implicit reward's preference for the right response
//! (m = Δ(right) − Δ(wrong), nats) of the `random` and `oracle` runs, on their own samples
//! (whose sign is (b)'s) and on the panel's SFT samples under their final policies. A
//! negative m on a run's own samples with a positive m on the panel says the policy did move
//! toward right answers and the reward points the wrong way on the pairs it trained on:
//! because the policy samples the wrong answers it was pushed toward (on-policy sampling), or
//! because it learned a bias its RMs share (docs/RESULTS.md).

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use seed_mix::fnv1a64;
use serde::{Deserialize, Serialize};

use crate::online::MARGIN_STRATEGIES;
use crate::panel::BEST_PER_DOMAIN;
use crate::report::mean_ci95;
use crate::results::{MarginStats, Results, RunResult, Summary};

/// Bootstrap resamples of the correlation intervals.
pub const BOOTSTRAP_RESAMPLES: usize = 2000;

/// The strategy whose runs measure (b): its routes do not depend on the rewards.
pub const UNBIASED_ROUTING: &str = "random";

/// The strategy whose gain over the SFT policy is (a).
pub const ORACLE: &str = "oracle";

/// The oracle line on an RM labeller's pairs, whose gain is reported beside (a).
pub const ORACLE_ON_LABELLER_PAIRS: &str = "oracle-coin";

/// Every strategy whose runs the checks read (the config's `premise_seeds` applies to them).
pub const LINES: [&str; 3] = [UNBIASED_ROUTING, ORACLE, ORACLE_ON_LABELLER_PAIRS];

/// Running sums of paired values (x, y), enough for their Pearson correlation; sums of
/// several sets pool them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Pairs.
    pub n: u64,
    /// Σx.
    pub sum_x: f64,
    /// Σy.
    pub sum_y: f64,
    /// Σx².
    pub sum_xx: f64,
    /// Σy².
    pub sum_yy: f64,
    /// Σxy.
    pub sum_xy: f64,
}

impl Moments {
    /// Adds the pair (x, y).
    pub fn push(&mut self, x: f64, y: f64) {
        self.n += 1;
        self.sum_x += x;
        self.sum_y += y;
        self.sum_xx += x * x;
        self.sum_yy += y * y;
        self.sum_xy += x * y;
    }

    /// Pools `other` into these sums.
    pub fn merge(&mut self, other: &Moments) {
        self.n += other.n;
        self.sum_x += other.sum_x;
        self.sum_y += other.sum_y;
        self.sum_xx += other.sum_xx;
        self.sum_yy += other.sum_yy;
        self.sum_xy += other.sum_xy;
    }

    /// The Pearson correlation, `None` with fewer than 3 pairs or a constant x or y.
    pub fn correlation(&self) -> Option<f64> {
        if self.n < 3 {
            return None;
        }
        let n = self.n as f64;
        let cov = self.sum_xy - self.sum_x * self.sum_y / n;
        let var_x = self.sum_xx - self.sum_x * self.sum_x / n;
        let var_y = self.sum_yy - self.sum_y * self.sum_y / n;
        // Relative to the scale of the sums, a variance this small is rounding.
        let tiny = |var: f64, sum_sq: f64| var <= 1e-12 * sum_sq.max(1e-300);
        if tiny(var_x, self.sum_xx) || tiny(var_y, self.sum_yy) {
            return None;
        }
        Some((cov / (var_x * var_y).sqrt()).clamp(-1.0, 1.0))
    }
}

/// A correlation over pooled runs, with its bootstrap interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    /// Pearson r over every pair of every run.
    pub r: f64,
    /// 2.5th percentile of r over resampled runs (`None` with fewer than 2 runs).
    pub low: Option<f64>,
    /// 97.5th percentile.
    pub high: Option<f64>,
    /// Pairs pooled.
    pub pairs: u64,
    /// Runs pooled.
    pub runs: usize,
}

/// Check (c): what the RMs know, and what routing could win from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RmSpread {
    /// Where the table comes from (e.g. "held-out RM pairs").
    pub source: String,
    /// The RM with the best accuracy over domains (mean of its per-domain accuracies).
    pub best_single: String,
    /// Its accuracy, a fraction.
    pub best_single_accuracy: f64,
    /// Mean over domains of the best RM's accuracy in each domain.
    pub best_per_domain_accuracy: f64,
    /// `best_per_domain_accuracy − best_single_accuracy`, a fraction.
    pub gap: f64,
}

/// The implicit-reward margin of one strategy's runs, measured two ways.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MarginSummary {
    /// Runs that measured it.
    pub runs: usize,
    /// Per-run mean m on the runs' own decided pairs, nats: mean ± 95% CI over runs.
    pub on_policy: Option<Summary>,
    /// Share of those pairs with m > 0, pooled over runs.
    pub on_policy_positive: Option<f64>,
    /// Per-run mean m on the panel under the final policy, nats.
    pub panel: Option<Summary>,
    /// Share of panel pairs with m > 0, pooled over runs.
    pub panel_positive: Option<f64>,
}

impl MarginSummary {
    /// The summary of `runs`' margins (`None` when none measured any).
    fn of(runs: &[&RunResult]) -> Option<Self> {
        let margins: Vec<_> = runs.iter().filter_map(|r| r.implicit_margin).collect();
        if margins.is_empty() {
            return None;
        }
        let pooled = |stats: Vec<MarginStats>| -> (Option<Summary>, Option<f64>) {
            if stats.is_empty() {
                return (None, None);
            }
            let means: Vec<f64> = stats.iter().map(|s| s.mean).collect();
            let pairs: u64 = stats.iter().map(|s| s.pairs).sum();
            let positive = stats
                .iter()
                .map(|s| s.positive * s.pairs as f64)
                .sum::<f64>()
                / pairs.max(1) as f64;
            (Some(mean_ci95(&means)), Some(positive))
        };
        let (on_policy, on_policy_positive) =
            pooled(margins.iter().filter_map(|m| m.on_policy).collect());
        let (panel, panel_positive) = pooled(margins.iter().filter_map(|m| m.panel).collect());
        Some(Self {
            runs: margins.len(),
            on_policy,
            on_policy_positive,
            panel,
            panel_positive,
        })
    }
}

/// The three checks and the verdict.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PremiseChecks {
    /// The condition whose runs were read (strategies that read no router are the same runs
    /// in every condition).
    pub condition: String,
    /// (a) oracle − SFT held-out policy accuracy per seed, a fraction (`None`: no oracle runs).
    pub oracle_gain: Option<Summary>,
    /// Beside (a): `oracle-coin` − SFT per seed, a fraction (`None`: no such runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oracle_coin_gain: Option<Summary>,
    /// (b) reward ↔ label correctness over the random runs, every domain pooled.
    pub reward_correctness: Option<Correlation>,
    /// (b) per domain.
    pub reward_correctness_by_domain: BTreeMap<String, Correlation>,
    /// (b)'s correlation over each strategy's own runs, every domain pooled (strategies
    /// whose decided pairs all have one label correctness, such as the oracle's, have none).
    #[serde(default)]
    pub reward_correctness_by_strategy: BTreeMap<String, Correlation>,
    /// (c).
    pub rm_spread: Option<RmSpread>,
    /// (b)'s why, per strategy of [`MARGIN_STRATEGIES`] that measured it.
    #[serde(default)]
    pub implicit_margins: BTreeMap<String, MarginSummary>,
    /// Whether (a) and (b) pooled hold; `None` when either could not be measured.
    pub holds: Option<bool>,
}

impl PremiseChecks {
    /// The checks on `results` (the first condition's runs).
    pub fn measure(results: &Results) -> Self {
        let condition = results
            .conditions()
            .first()
            .map_or_else(String::new, |c| c.to_string());
        let gain_over_sft = |strategy: &str| -> Option<Summary> {
            let gains: Vec<f64> = results
                .runs_for(strategy, &condition)
                .map(|r| r.policy_accuracy.overall - results.sft_accuracy.overall)
                .collect();
            (!gains.is_empty()).then(|| mean_ci95(&gains))
        };
        let oracle_gain = gain_over_sft(ORACLE);
        let oracle_coin_gain = gain_over_sft(ORACLE_ON_LABELLER_PAIRS);
        let random = rewarded_runs(results, UNBIASED_ROUTING, &condition);
        let reward_correctness = bootstrap_correlation(&pooled_over_domains(&random), 0);
        // Each strategy's bootstrap has its own stream, fixed by its name (not by which other
        // strategies ran); random routing's entry is (b) pooled itself.
        let reward_correctness_by_strategy = results
            .strategies_in(&condition)
            .into_iter()
            .filter_map(|strategy| {
                let correlation = if strategy == UNBIASED_ROUTING {
                    reward_correctness.clone()
                } else {
                    let runs = rewarded_runs(results, strategy, &condition);
                    bootstrap_correlation(&pooled_over_domains(&runs), fnv1a64(strategy.as_bytes()))
                };
                correlation.map(|c| (strategy.to_string(), c))
            })
            .collect();
        let reward_correctness_by_domain = results
            .domains
            .iter()
            .enumerate()
            .filter_map(|(d, domain)| {
                let per_run: Vec<Moments> = random
                    .iter()
                    .map(|r| r.reward_label.get(domain).copied().unwrap_or_default())
                    .collect();
                bootstrap_correlation(&per_run, 1 + d as u64).map(|c| (domain.clone(), c))
            })
            .collect();
        let rm_spread = rm_spread(results);
        let implicit_margins = MARGIN_STRATEGIES
            .iter()
            .filter_map(|&strategy| {
                let runs: Vec<&RunResult> = results.runs_for(strategy, &condition).collect();
                MarginSummary::of(&runs).map(|m| (strategy.to_string(), m))
            })
            .collect();
        let lower_above_zero = |low: Option<f64>| low.map(|l| l > 0.0);
        let a = oracle_gain.and_then(|s| lower_above_zero(s.ci95.map(|h| s.mean - h)));
        let b = reward_correctness
            .as_ref()
            .and_then(|c| lower_above_zero(c.low));
        let holds = match (a, b) {
            (Some(a), Some(b)) => Some(a && b),
            (Some(false), None) | (None, Some(false)) => Some(false),
            _ => None,
        };
        Self {
            condition,
            oracle_gain,
            oracle_coin_gain,
            reward_correctness,
            reward_correctness_by_domain,
            reward_correctness_by_strategy,
            rm_spread,
            implicit_margins,
            holds,
        }
    }
}

/// The runs of `strategy` under `condition` that rewarded at least one decided pair.
fn rewarded_runs<'a>(
    results: &'a Results,
    strategy: &'a str,
    condition: &'a str,
) -> Vec<&'a RunResult> {
    results
        .runs_for(strategy, condition)
        .filter(|r| r.reward_label.values().any(|m| m.n > 0))
        .collect()
}

/// Each run's reward ↔ correctness moments, its domains pooled.
fn pooled_over_domains(runs: &[&RunResult]) -> Vec<Moments> {
    runs.iter()
        .map(|r| {
            let mut all = Moments::default();
            r.reward_label.values().for_each(|m| all.merge(m));
            all
        })
        .collect()
}

/// The pooled correlation of `runs` with a percentile bootstrap over runs (seeded by
/// `stream`); `None` when the pooled pairs have no correlation.
fn bootstrap_correlation(runs: &[Moments], stream: u64) -> Option<Correlation> {
    let mut all = Moments::default();
    runs.iter().for_each(|m| all.merge(m));
    let r = all.correlation()?;
    let (mut low, mut high) = (None, None);
    if runs.len() >= 2 {
        let mut rng = ChaCha8Rng::seed_from_u64(0x5eed_c0de ^ stream);
        let mut rs: Vec<f64> = (0..BOOTSTRAP_RESAMPLES)
            .filter_map(|_| {
                let mut sample = Moments::default();
                for _ in 0..runs.len() {
                    sample.merge(&runs[rng.random_range(0..runs.len())]);
                }
                sample.correlation()
            })
            .collect();
        rs.sort_by(f64::total_cmp);
        if !rs.is_empty() {
            let at = |q: f64| rs[((q * (rs.len() - 1) as f64).round() as usize).min(rs.len() - 1)];
            low = Some(at(0.025));
            high = Some(at(0.975));
        }
    }
    Some(Correlation {
        r,
        low,
        high,
        pairs: all.n,
        runs: runs.len(),
    })
}

/// Check (c): from the routing panel where the experiment has one (accuracies over its
/// pairs, the per-domain best weighted by the panel's pairs), else from the RMs' held-out
/// accuracy table (means over domains).
fn rm_spread(results: &Results) -> Option<RmSpread> {
    if let Some(panel) = &results.panel {
        let rms = &panel.rows[..results.rm_names.len().min(panel.rows.len())];
        let (best, best_score) = rms
            .iter()
            .max_by(|a, b| a.1.overall.total_cmp(&b.1.overall))?;
        let per_domain = panel
            .rows
            .iter()
            .find(|(name, _)| name == BEST_PER_DOMAIN)?
            .1
            .overall;
        return Some(RmSpread {
            source: format!("routing panel, {} pairs", panel.pairs),
            best_single: best.clone(),
            best_single_accuracy: best_score.overall,
            best_per_domain_accuracy: per_domain,
            gap: per_domain - best_score.overall,
        });
    }
    let best = results
        .rm_accuracy
        .iter()
        .max_by(|a, b| a.overall.total_cmp(&b.overall))?;
    let per_domain: Vec<f64> = results
        .domains
        .iter()
        .filter_map(|d| {
            results
                .rm_accuracy
                .iter()
                .filter_map(|rm| rm.per_domain.get(d).copied())
                .max_by(f64::total_cmp)
        })
        .collect();
    if per_domain.is_empty() {
        return None;
    }
    let best_per_domain = per_domain.iter().sum::<f64>() / per_domain.len() as f64;
    Some(RmSpread {
        source: "held-out RM pairs".into(),
        best_single: best.rm.clone(),
        best_single_accuracy: best.overall,
        best_per_domain_accuracy: best_per_domain,
        gap: best_per_domain - best.overall,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::example;

    #[test]
    fn correlation_matches_a_hand_computation() {
        // x = rewards, y = correct: (0.9, 1), (0.8, 1), (0.2, 0), (0.4, 1), (0.1, 0).
        let mut m = Moments::default();
        for (x, y) in [(0.9, 1.0), (0.8, 1.0), (0.2, 0.0), (0.4, 1.0), (0.1, 0.0)] {
            m.push(x, y);
        }
        // mean x 0.48, mean y 0.6; Sxy = 0.84·... computed by hand:
        // Σxy = 2.1, Σx = 2.4, Σy = 3: Sxy = 2.1 − 2.4·3/5 = 0.66;
        // Σx² = 1.66: Sxx = 1.66 − 2.4²/5 = 0.508; Σy² = 3: Syy = 3 − 9/5 = 1.2.
        let want = 0.66 / (0.508_f64 * 1.2).sqrt();
        assert!((m.correlation().unwrap() - want).abs() < 1e-12);
        // Pooling two halves gives the same sums.
        let (mut a, mut b) = (Moments::default(), Moments::default());
        a.push(0.9, 1.0);
        a.push(0.8, 1.0);
        for (x, y) in [(0.2, 0.0), (0.4, 1.0), (0.1, 0.0)] {
            b.push(x, y);
        }
        a.merge(&b);
        assert!((a.correlation().unwrap() - want).abs() < 1e-12);
        // A constant label has no correlation.
        let mut flat = Moments::default();
        for x in [0.1, 0.5, 0.9] {
            flat.push(x, 1.0);
        }
        assert_eq!(flat.correlation(), None);
    }

    /// A run of `random` whose pairs in `domain` are `(reward, correct)`.
    fn random_run(seed: u64, domain: &str, pairs: &[(f64, bool)]) -> RunResult {
        let mut run = example().runs[0].clone();
        run.strategy = UNBIASED_ROUTING.into();
        run.condition = "in-distribution".into();
        run.seed = seed;
        let mut m = Moments::default();
        pairs
            .iter()
            .for_each(|&(x, y)| m.push(x, f64::from(u8::from(y))));
        run.reward_label = BTreeMap::from([(domain.to_string(), m)]);
        run
    }

    #[test]
    fn checks_on_a_small_hand_written_log() {
        let mut results = example();
        results.sft_accuracy.overall = 0.40;
        // Oracle runs: +10, +6, +8 points → mean 8, sd 2, t(2) = 4.303 → ±4.97; oracle-coin
        // runs +1 and +3 points → mean 2, sd √2, t(1) = 12.706.
        for (strategy, seed, acc) in [
            (ORACLE, 0, 0.50),
            (ORACLE, 1, 0.46),
            (ORACLE, 2, 0.48),
            (ORACLE_ON_LABELLER_PAIRS, 0, 0.41),
            (ORACLE_ON_LABELLER_PAIRS, 1, 0.43),
        ] {
            let mut run = example().runs[0].clone();
            run.strategy = strategy.into();
            run.condition = "in-distribution".into();
            run.seed = seed;
            run.policy_accuracy.overall = acc;
            results.runs.push(run);
        }
        // Random runs where the reward tracks correctness in `math`, and not in `code`.
        results.runs.push(random_run(
            0,
            "math",
            &[(0.9, true), (0.2, false), (0.7, true)],
        ));
        results.runs.push(random_run(
            1,
            "math",
            &[(0.8, true), (0.1, false), (0.3, false)],
        ));
        results.runs.push(random_run(
            2,
            "code",
            &[(0.5, true), (0.5, false), (0.6, true), (0.6, false)],
        ));
        let checks = PremiseChecks::measure(&results);
        assert_eq!(checks.condition, "in-distribution");
        let gain = checks.oracle_gain.unwrap();
        assert!((gain.mean - 0.08).abs() < 1e-12);
        assert!((gain.ci95.unwrap() - 4.303 * 0.02 / 3_f64.sqrt()).abs() < 1e-12);
        let coin = checks.oracle_coin_gain.unwrap();
        assert!((coin.mean - 0.02).abs() < 1e-12 && coin.n == 2);
        assert!((coin.ci95.unwrap() - 0.12706).abs() < 1e-4);
        let pooled = checks.reward_correctness.unwrap();
        assert_eq!((pooled.pairs, pooled.runs), (10, 3));
        let mut all = Moments::default();
        for (x, y) in [
            (0.9, 1.0),
            (0.2, 0.0),
            (0.7, 1.0),
            (0.8, 1.0),
            (0.1, 0.0),
            (0.3, 0.0),
            (0.5, 1.0),
            (0.5, 0.0),
            (0.6, 1.0),
            (0.6, 0.0),
        ] {
            all.push(x, y);
        }
        assert!((pooled.r - all.correlation().unwrap()).abs() < 1e-12);
        let (low, high) = (pooled.low.unwrap(), pooled.high.unwrap());
        assert!(low <= pooled.r && pooled.r <= high, "{low} {high}");
        let code = &checks.reward_correctness_by_domain["code"];
        assert!(code.r.abs() < 1e-9, "{}", code.r);
        assert!(
            code.low.unwrap().abs() < 1e-9,
            "one run with pairs: every resample is it"
        );
        assert!(checks.reward_correctness_by_domain["math"].r > 0.9);
        // Per strategy: random's is (b) pooled; the oracle's runs carry no reward moments.
        assert_eq!(checks.reward_correctness_by_strategy["random"].r, pooled.r);
        assert!(!checks.reward_correctness_by_strategy.contains_key("oracle"));
        // (c) from the example's RM table: math 0.7/0.8, code 0.8/0.7; both overall 0.75.
        let spread = checks.rm_spread.unwrap();
        assert!((spread.best_per_domain_accuracy - 0.8).abs() < 1e-12);
        assert!((spread.gap - 0.05).abs() < 1e-12);
        // (a)'s interval excludes 0; the verdict follows (b)'s bootstrap.
        assert_eq!(checks.holds, Some(low > 0.0));
    }

    /// Margins pool per strategy: per-run means with a t interval, shares weighted by pairs.
    #[test]
    fn implicit_margins_summarise_the_premise_strategies() {
        use crate::results::{ImplicitMargin, MarginStats};
        let mut results = example();
        let stats = |pairs, mean, positive| MarginStats {
            pairs,
            mean,
            positive,
        };
        for (seed, own, panel) in [
            (0, stats(100, -0.2, 0.4), Some(stats(50, 0.1, 0.6))),
            (1, stats(300, -0.1, 0.2), None),
        ] {
            let mut run = random_run(seed, "math", &[(0.5, true)]);
            run.implicit_margin = Some(ImplicitMargin {
                on_policy: Some(own),
                panel,
            });
            results.runs.push(run);
        }
        let checks = PremiseChecks::measure(&results);
        assert_eq!(checks.implicit_margins.len(), 1, "only random measured it");
        let random = &checks.implicit_margins[UNBIASED_ROUTING];
        assert_eq!(random.runs, 2);
        let own = random.on_policy.unwrap();
        assert!((own.mean + 0.15).abs() < 1e-12 && own.n == 2);
        // (0.4·100 + 0.2·300) / 400.
        assert!((random.on_policy_positive.unwrap() - 0.25).abs() < 1e-12);
        let panel = random.panel.unwrap();
        assert!((panel.mean - 0.1).abs() < 1e-12 && panel.ci95.is_none());
        assert!((random.panel_positive.unwrap() - 0.6).abs() < 1e-12);
    }

    #[test]
    fn nothing_to_measure_is_no_verdict() {
        let checks = PremiseChecks::measure(&example());
        assert_eq!(checks.oracle_gain, None);
        assert_eq!(checks.oracle_coin_gain, None);
        assert_eq!(checks.reward_correctness, None);
        assert_eq!(checks.holds, None);
    }
}
