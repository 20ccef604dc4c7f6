//! The routing-panel section: every router's accuracy on the same fixed pairs while it
//! learns (`crate::panel`), beside the labellers that do not learn.

use std::fmt::Write as _;

use super::stats::{mean_ci95, paired_difference};
use super::tables::{
    Align, MISSING, REFERENCE_STRATEGY, Table, cell, mean_pct, pct, pct_summary, pp_delta,
};
use crate::panel::{PanelPoint, PanelSummary};
use crate::results::{Results, RunResult};

/// The panel section (nothing when the experiment had no panel).
pub(super) fn section(md: &mut String, results: &Results) {
    let Some(panel) = &results.panel else {
        return;
    };
    md.push_str("## Routing panel\n\n");
    let per_domain: Vec<String> = panel
        .pairs_per_domain
        .iter()
        .map(|(d, n)| format!("{d} {n}"))
        .collect();
    let _ = writeln!(
        md,
        "{} verifier-decided pairs of the SFT policy's samples on {} held-out prompts ({}), \
         the same pairs for every router and seed. *Greedy*: the arm with the largest \
         posterior mean; *expected*: Σ propensity × [the RM prefers the right response], the \
         label accuracy the router would get in expectation. Accuracy in % over the panel's \
         pairs, mean ± 95% CI over seeds at the end of training; Δ paired by seed vs \
         `{REFERENCE_STRATEGY}`; the checkpoint columns are the expected accuracy (mean over \
         seeds) after that share of the iterations.\n",
        panel.pairs,
        panel.prompts,
        per_domain.join(", ")
    );
    for condition in results.conditions() {
        let strategies: Vec<&str> = results
            .strategies_in(condition)
            .into_iter()
            .filter(|s| results.runs_for(s, condition).any(|r| !r.panel.is_empty()))
            .collect();
        if strategies.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {}\n", cell(condition));
        md.push_str(&router_table(results, condition, &strategies));
        md.push('\n');
    }
    md.push_str("### Labellers that do not learn (exact on the panel)\n\n");
    md.push_str(&fixed_table(results, panel));
    md.push('\n');
}

/// The routers of one condition: greedy and expected at the end, Δ, and the checkpoints.
fn router_table(results: &Results, condition: &str, strategies: &[&str]) -> String {
    let checkpoints: Vec<usize> = results
        .runs
        .iter()
        .find(|r| !r.panel.is_empty())
        .map(|r| r.panel.iter().map(|p| p.iteration).collect())
        .unwrap_or_default();
    let mut columns: Vec<(String, Align)> = vec![
        ("Router".into(), Align::Left),
        ("Greedy % (end)".into(), Align::Right),
        ("Expected % (end)".into(), Align::Right),
        (
            format!("Δ expected vs {REFERENCE_STRATEGY} (pp)"),
            Align::Right,
        ),
    ];
    columns.extend(
        checkpoints
            .iter()
            .map(|i| (format!("it. {i}"), Align::Right)),
    );
    let column_refs: Vec<(&str, Align)> = columns.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    let mut table = Table::new(&column_refs);
    let last = |r: &RunResult| r.panel.last().cloned();
    let by_seed = |strategy: &str, metric: fn(&PanelPoint) -> f64| -> Vec<(u64, f64)> {
        results
            .runs_for(strategy, condition)
            .filter_map(|r| last(r).map(|p| (r.seed, metric(&p))))
            .collect()
    };
    let reference = by_seed(REFERENCE_STRATEGY, |p| p.expected);
    for &strategy in strategies {
        let greedy = by_seed(strategy, |p| p.greedy);
        let expected = by_seed(strategy, |p| p.expected);
        let summary = |values: &[(u64, f64)]| -> String {
            let v: Vec<f64> = values.iter().map(|(_, x)| *x).collect();
            if v.is_empty() {
                MISSING.into()
            } else {
                pct_summary(&mean_ci95(&v))
            }
        };
        let delta = if strategy == REFERENCE_STRATEGY || reference.is_empty() {
            MISSING.to_string()
        } else {
            paired_difference(&expected, &reference)
                .map_or_else(|| MISSING.to_string(), |s| pp_delta(&s))
        };
        let mut row = vec![cell(strategy), summary(&greedy), summary(&expected), delta];
        for &iteration in &checkpoints {
            let values: Vec<f64> = results
                .runs_for(strategy, condition)
                .filter_map(|r| r.panel.iter().find(|p| p.iteration == iteration))
                .map(|p| p.expected)
                .collect();
            row.push(mean_pct(&values));
        }
        table.row(row);
    }
    table.render()
}

/// Single RMs, uniform routing, majority, ensemble and the two ceilings, per domain.
fn fixed_table(results: &Results, panel: &PanelSummary) -> String {
    let mut columns: Vec<(&str, Align)> = vec![("Labeller", Align::Left)];
    columns.extend(results.domains.iter().map(|d| (d.as_str(), Align::Right)));
    columns.push(("Overall", Align::Right));
    let mut table = Table::new(&columns);
    for (name, score) in &panel.rows {
        let mut row = vec![cell(name)];
        row.extend(results.domains.iter().map(|d| {
            score
                .per_domain
                .get(d)
                .map_or_else(|| MISSING.into(), |v| pct(*v))
        }));
        row.push(pct(score.overall));
        table.row(row);
    }
    table.render()
}
