//! The report's first section: whether the method's premise holds in this world
//! ([`PremiseChecks`]), before any table that ranks routers.

use std::fmt::Write as _;

use super::tables::{Align, MISSING, Table, cell, pct, pp_delta, signed_pct};
use crate::premise::{Correlation, PremiseChecks};
use crate::results::{Results, Summary};

/// The checks `results` carry, or measured on them (results.json written before the checks
/// existed).
pub(super) fn checks(results: &Results) -> PremiseChecks {
    results
        .premise
        .clone()
        .unwrap_or_else(|| PremiseChecks::measure(results))
}

/// The verdict of `checks` in words.
pub(super) fn verdict(checks: &PremiseChecks) -> &'static str {
    match checks.holds {
        Some(true) => "the method's premise holds in this world",
        Some(false) => "the method's premise does not hold in this world",
        None => "the method's premise could not be checked (no oracle or random runs)",
    }
}

/// The report's title line, carrying the verdict.
pub(super) fn title(results: &Results, checks: &PremiseChecks) -> String {
    format!(
        "# Experiment report: {} — {}\n",
        results.name,
        verdict(checks)
    )
}

/// The premise section: the three checks, and (b) per domain.
pub(super) fn section(md: &mut String, checks: &PremiseChecks) {
    md.push_str("## Premise checks\n\n");
    md.push_str(
        "Routing can only give a better policy than a single RM when (a) correct labels improve \
         the policy and (b) the reward the bandit learns from tracks whether a routed label was \
         correct; (c) is how much routing could win. (a): oracle-labelled DPO's held-out policy \
         accuracy minus the SFT policy's, per seed, mean ± 95% CI. (b): Pearson r between a \
         kept pair's bandit reward and its label being right, over the verifier-decided pairs \
         of the `random` runs from iteration 1 on, with a 95% bootstrap interval over runs. \
         (c): the best RM per domain against the best single RM.\n\n",
    );
    match checks.holds {
        Some(false) => md.push_str(
            "**The premise does not hold here, so no router is called a winner below**: the \
             tables measure labels and policies, not whether routing pays.\n\n",
        ),
        None => md.push_str(
            "**The premise was not checked** (the run had no `oracle` or no `random` \
             strategy), so no router is called a winner below.\n\n",
        ),
        Some(true) => {}
    }
    let mut table = Table::new(&[
        ("Check", Align::Left),
        ("Measured", Align::Left),
        ("Holds", Align::Left),
    ]);
    let (gain, gain_holds) = match &checks.oracle_gain {
        Some(s) => {
            let holds = match s.ci95 {
                Some(h) if s.mean - h > 0.0 => "yes".to_string(),
                Some(_) => "no: the interval reaches 0".to_string(),
                None => MISSING.to_string(),
            };
            (gain_over_sft(s), holds)
        }
        None => ("no oracle runs".to_string(), MISSING.to_string()),
    };
    table.row(vec![
        "(a) oracle − SFT policy accuracy".into(),
        gain,
        gain_holds,
    ]);
    if let Some(s) = &checks.oracle_coin_gain {
        table.row(vec![
            "(a) beside: oracle-coin − SFT (the verifier on the pairs an RM labeller keeps, a \
             coin deciding its ties)"
                .into(),
            gain_over_sft(s),
            "(a diagnostic: what correct labels give without the oracle's choice of decided \
             pairs)"
                .into(),
        ]);
    }
    let (r, r_holds) = match &checks.reward_correctness {
        Some(c) => (
            correlation(c),
            match c.low {
                Some(low) if low > 0.0 => "yes".to_string(),
                Some(_) => "no: the interval reaches 0 or below".to_string(),
                None => MISSING.to_string(),
            },
        ),
        None => (
            "no random runs with rewarded decided pairs".to_string(),
            MISSING.to_string(),
        ),
    };
    table.row(vec![
        "(b) r(bandit reward, label correct), random routing".into(),
        r,
        r_holds,
    ]);
    let spread = checks.rm_spread.as_ref().map_or_else(
        || "no RM table".to_string(),
        |s| {
            format!(
                "{} pp: best per domain {}% vs {} {}% ({})",
                signed_pct(s.gap),
                pct(s.best_per_domain_accuracy),
                cell(&s.best_single),
                pct(s.best_single_accuracy),
                s.source
            )
        },
    );
    table.row(vec![
        "(c) best RM per domain − best single RM".into(),
        spread,
        "(what routing could win)".into(),
    ]);
    md.push_str(&table.render());
    if !checks.reward_correctness_by_domain.is_empty() {
        md.push_str("\n(b) per domain:\n\n");
        let mut table = Table::new(&[("Domain", Align::Left), ("r [95% interval]", Align::Left)]);
        for (domain, c) in &checks.reward_correctness_by_domain {
            table.row(vec![cell(domain), correlation(c)]);
        }
        md.push_str(&table.render());
    }
    let learning: Vec<_> = checks
        .reward_correctness_by_strategy
        .iter()
        .filter(|(strategy, _)| strategy.as_str() != crate::premise::UNBIASED_ROUTING)
        .collect();
    if !learning.is_empty() {
        md.push_str(
            "\n(b) under each strategy's own labels — the same r over the decided pairs of that \
             strategy's runs: what each router learns from where its own routing chose the \
             labels (a diagnostic beside the verdict, which uses random routing's):\n\n",
        );
        let mut table = Table::new(&[("Strategy", Align::Left), ("r [95% interval]", Align::Left)]);
        for (strategy, c) in learning {
            table.row(vec![cell(strategy), correlation(c)]);
        }
        md.push_str(&table.render());
    }
    if !checks.implicit_margins.is_empty() {
        md.push_str(
            "\n(b)'s why — the DPO implicit reward's preference for the right response, m = \
             Δ(right) − Δ(wrong) (Δ = log π − log π_ref over the response, nats): on the run's \
             own decided pairs (the candidates it trained on, sampled by the policy or, under \
             `generator = \"reference\"`, by the reference; the sign of (b)) and on the \
             panel's SFT samples under the final policy. Own samples < 0 with panel > 0: the \
             policy moved toward right answers, and the reward points the wrong way, because \
             the wrong answers it samples are those it was pushed toward (on-policy sampling) \
             or because it learned a bias its RMs share.\n\n",
        );
        let mut table = Table::new(&[
            ("Strategy", Align::Left),
            ("Own samples: m", Align::Right),
            ("m > 0", Align::Right),
            ("Panel: m", Align::Right),
            ("m > 0", Align::Right),
            ("Runs", Align::Right),
        ]);
        let nats = |s: &Option<crate::results::Summary>| {
            s.map_or_else(
                || MISSING.to_string(),
                |s| match s.ci95 {
                    Some(h) => format!("{:+.3} ± {h:.3}", s.mean),
                    None => format!("{:+.3}", s.mean),
                },
            )
        };
        let share =
            |p: Option<f64>| p.map_or_else(|| MISSING.to_string(), |p| format!("{}%", pct(p)));
        for (strategy, m) in &checks.implicit_margins {
            table.row(vec![
                cell(strategy),
                nats(&m.on_policy),
                share(m.on_policy_positive),
                nats(&m.panel),
                share(m.panel_positive),
                m.runs.to_string(),
            ]);
        }
        md.push_str(&table.render());
    }
    md.push('\n');
}

/// A gain over the SFT policy: `+x.x ± y.y pp (n seeds)`.
fn gain_over_sft(s: &Summary) -> String {
    match s.ci95 {
        Some(_) => format!("{} pp ({} seeds)", pp_delta(s), s.n),
        None => format!("{} pp (1 seed: no interval)", signed_pct(s.mean)),
    }
}

/// `r [low, high] (n pairs, k runs)`.
fn correlation(c: &Correlation) -> String {
    let interval = match (c.low, c.high) {
        (Some(low), Some(high)) => format!(" [{low:+.2}, {high:+.2}]"),
        _ => String::new(),
    };
    let mut text = format!("{:+.2}{interval}", c.r);
    let _ = write!(text, " ({} pairs, {} runs)", c.pairs, c.runs);
    text
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::premise::Moments;
    use crate::results::example;

    /// Reward ↔ correctness moments of `pairs` (reward, label right) in domain `math`.
    fn rewarded(pairs: &[(f64, bool)]) -> BTreeMap<String, Moments> {
        let mut m = Moments::default();
        for &(x, y) in pairs {
            m.push(x, f64::from(u8::from(y)));
        }
        BTreeMap::from([("math".to_string(), m)])
    }

    #[test]
    fn each_learning_router_gets_its_own_reward_correctness_row() {
        let mut results = example();
        for run in &mut results.runs {
            run.reward_label = match (run.strategy.as_str(), run.seed) {
                // Rewards that rise with correctness, then fall with it.
                ("bayesian-v5", 0) => rewarded(&[(0.9, true), (0.1, false), (0.8, true)]),
                ("bayesian-v5", _) => rewarded(&[(0.7, true), (0.2, false), (0.3, false)]),
                ("laser", _) => rewarded(&[(0.1, true), (0.9, false), (0.2, true)]),
                _ => BTreeMap::new(),
            };
        }
        let checks = PremiseChecks::measure(&results);
        let v5 = &checks.reward_correctness_by_strategy["bayesian-v5"];
        let laser = &checks.reward_correctness_by_strategy["laser"];
        assert!(v5.r > 0.9 && laser.r < -0.9, "{v5:?} {laser:?}");
        assert!(
            !checks
                .reward_correctness_by_strategy
                .contains_key("single:rm-add")
        );
        let mut md = String::new();
        section(&mut md, &checks);
        assert!(md.contains("(b) under each strategy's own labels"), "{md}");
        let row = |strategy: &str| {
            md.lines()
                .find(|l| l.starts_with(&format!("| {strategy} ")))
                .unwrap_or_else(|| panic!("no {strategy} row in\n{md}"))
                .to_string()
        };
        assert!(
            row("bayesian-v5").contains(&format!("{:+.2}", v5.r)),
            "{md}"
        );
        assert!(row("laser").contains(&format!("{:+.2}", laser.r)), "{md}");
        // The run had no random routing: no verdict row for (b), and no random row here.
        assert!(!md.contains("| random "), "{md}");
    }

    #[test]
    fn the_coin_oracle_gain_sits_beside_check_a_when_it_ran() {
        let mut checks = PremiseChecks::measure(&example());
        let mut md = String::new();
        section(&mut md, &checks);
        assert!(!md.contains("oracle-coin"), "{md}");
        checks.oracle_coin_gain = Some(crate::report::mean_ci95(&[0.01, 0.03]));
        let mut md = String::new();
        section(&mut md, &checks);
        let row = md
            .lines()
            .find(|l| l.contains("oracle-coin − SFT"))
            .unwrap_or_else(|| panic!("no oracle-coin row in\n{md}"));
        assert!(row.contains("+2.0 ± 12.7 pp (2 seeds)"), "{row}");
        // A diagnostic: the verdict still comes from (a) and (b) alone.
        assert_eq!(checks.holds, None);
    }
}
