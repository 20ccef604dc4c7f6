//! `report.md`: the experiment's tables as deterministic markdown.
//!
//! Accuracies and shares are printed as percentages with one decimal; `a ± b` is a mean over
//! seeds with its 95% CI half-width (Student's t, see [`super::stats`]); Δ columns are paired by
//! seed and given in percentage points (pp). A missing or non-finite number prints as `—`.

use std::collections::BTreeMap;
// Writing into a `String` cannot fail: the `fmt::Result`s of `writeln!` are ignored.
use std::fmt::Write as _;

use super::plots::Plot;
use super::stats::{mean_ci95, paired_difference};
use super::{panel, premise};
use crate::results::{OfflineRouterTable, Results, RoutingRow, RunResult, Summary, Timings};

/// The strategy every other one is compared with in the Δ columns.
pub const REFERENCE_STRATEGY: &str = "bayesian-v5";

/// Printed for a missing or non-finite number.
pub(super) const MISSING: &str = "—";

/// The whole `report.md`: header, RM accuracy, offline router, online DPO, label accuracy per
/// domain, ablations, timings (when given) and the plots in `plots` (file names relative to the
/// report).
pub fn report_markdown(results: &Results, timings: Option<&Timings>, plots: &[Plot]) -> String {
    let checks = premise::checks(results);
    let mut md = premise::title(results, &checks);
    md.push('\n');
    header(&mut md, results);
    premise::section(&mut md, &checks);
    panel::section(&mut md, results);
    rm_accuracy(&mut md, results);
    offline_router(&mut md, results);
    md.push_str("## Online DPO\n\n");
    md.push_str(
        "Policy and label accuracy in %, mean ± 95% CI over seeds; Δ columns: paired by seed, in \
         percentage points, vs ",
    );
    let _ = writeln!(md, "`{REFERENCE_STRATEGY}`.\n");
    for condition in results.conditions() {
        if results.strategies_in(condition).is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {}\n", cell(condition));
        md.push_str(&main_table(results, condition));
        md.push('\n');
    }
    label_accuracy_per_domain(&mut md, results);
    ablations(&mut md, results);
    timings_section(&mut md, results, timings);
    md.push_str("## Plots\n\n");
    if plots.is_empty() {
        md.push_str("_No plots._\n");
    }
    for plot in plots {
        let _ = writeln!(md, "![{}]({})\n", cell(&plot.title()), plot.file_name());
    }
    md
}

/// The online DPO table of one condition, preceded by the starting policy's accuracy: per strategy
/// (order of first appearance), policy and label accuracy (mean ± CI), their paired Δ against
/// [`REFERENCE_STRATEGY`], mean RM calls and mean pairs kept. Label accuracy is over the runs
/// with verifier-decided pairs (— where none had any): the headline is micro (the share of
/// a run's kept decided pairs labelled right), the stratified column weights every domain
/// equally (the mean of the per-domain shares).
pub fn main_table(results: &Results, condition: &str) -> String {
    let mut md = String::new();
    let sft = &results.sft_accuracy;
    let _ = writeln!(
        md,
        "Starting policy: {}% held-out accuracy ({} items).\n",
        pct(sft.overall),
        sft.count
    );
    let reference_present = results
        .runs_for(REFERENCE_STRATEGY, condition)
        .next()
        .is_some();
    let mut table = Table::new(&[
        ("Strategy", Align::Left),
        ("Policy acc. %", Align::Right),
        ("Label acc. %", Align::Right),
        ("Label acc. stratified %", Align::Right),
        (
            &format!("Δ policy vs {REFERENCE_STRATEGY} (pp)"),
            Align::Right,
        ),
        (
            &format!("Δ label acc. vs {REFERENCE_STRATEGY} (pp)"),
            Align::Right,
        ),
        ("RM calls", Align::Right),
        ("Pairs kept", Align::Right),
        ("Seeds", Align::Right),
    ]);
    let policy = |r: &RunResult| r.policy_accuracy.overall;
    let label = |r: &RunResult| r.label_accuracy_micro().unwrap_or(f64::NAN);
    let stratified = |r: &RunResult| r.label_accuracy.overall;
    // Label accuracy exists only for runs with verifier-decided pairs.
    let every = |_: &RunResult| true;
    let decided = |r: &RunResult| r.labels_decided > 0;
    let decided_in_some_domain = |r: &RunResult| r.label_accuracy.count > 0;
    for strategy in results.strategies_in(condition) {
        let runs: Vec<&RunResult> = results.runs_for(strategy, condition).collect();
        let delta = |metric: &dyn Fn(&RunResult) -> f64, keep: &dyn Fn(&RunResult) -> bool| {
            if strategy == REFERENCE_STRATEGY || !reference_present {
                return MISSING.to_string();
            }
            let reference = by_seed(
                results
                    .runs_for(REFERENCE_STRATEGY, condition)
                    .filter(|r| keep(r)),
                metric,
            );
            paired_difference(
                &by_seed(runs.iter().copied().filter(|r| keep(r)), metric),
                &reference,
            )
            .map_or_else(|| MISSING.to_string(), |s| pp_delta(&s))
        };
        let summary = |metric: &dyn Fn(&RunResult) -> f64, keep: &dyn Fn(&RunResult) -> bool| {
            let values: Vec<f64> = runs.iter().filter(|r| keep(r)).map(|r| metric(r)).collect();
            (!values.is_empty()).then(|| mean_ci95(&values))
        };
        let summary_cell =
            |s: Option<Summary>| s.map_or_else(|| MISSING.to_string(), |s| pct_summary(&s));
        table.row(vec![
            cell(strategy),
            summary_cell(summary(&policy, &every)),
            summary_cell(summary(&label, &decided)),
            summary_cell(summary(&stratified, &decided_in_some_domain)),
            delta(&policy, &every),
            delta(&label, &decided),
            count(mean_ci95(&runs.iter().map(|r| r.rm_calls as f64).collect::<Vec<_>>()).mean),
            count(mean_ci95(&runs.iter().map(|r| r.pairs_kept as f64).collect::<Vec<_>>()).mean),
            runs.len().to_string(),
        ]);
    }
    md.push_str(&table.render());
    md
}

fn header(md: &mut String, results: &Results) {
    let _ = writeln!(md, "- Config hash: `{}`", results.config_hash);
    let premise_lines = results.premise_seeds.map_or(String::new(), |n| {
        let lines = crate::premise::LINES.join(", ");
        format!(" ({n} for {lines}, the lines the premise checks read)")
    });
    let _ = writeln!(md, "- Seeds: {}{premise_lines}", results.seeds);
    let _ = writeln!(md, "- Iterations: {}", results.iterations);
    if let Some(sampling) = &results.sampling {
        let _ = writeln!(md, "- Candidates sampled from: {sampling}");
    }
    let _ = writeln!(md, "- Domains: {}", results.domains.join(", "));
    let _ = writeln!(md, "- Reward models: {}\n", results.rm_names.join(", "));
}

fn rm_accuracy(md: &mut String, results: &Results) {
    md.push_str("## Reward models: held-out pairwise accuracy\n\n");
    if results.rm_accuracy.is_empty() {
        md.push_str("_Not measured here: the pool was given, not trained by the experiment._\n\n");
        return;
    }
    let mut table = domain_table(
        "RM",
        results,
        &[("Overall", Align::Right), ("Pairs", Align::Right)],
    );
    for rm in &results.rm_accuracy {
        let mut row = vec![cell(&rm.rm)];
        row.extend(
            results
                .domains
                .iter()
                .map(|d| opt_pct(rm.per_domain.get(d))),
        );
        row.extend([pct(rm.overall), rm.pairs.to_string()]);
        table.row(row);
    }
    md.push_str(&table.render());
    md.push_str("\nAccuracy in %.\n\n");
}

fn offline_router(md: &mut String, results: &Results) {
    md.push_str("## Offline router (test split)\n\n");
    if results.offline_router.is_empty() {
        md.push_str(
            "_Not evaluated here: the routers were given (`cargo xtask offline-router eval` reports them)._\n\n",
        );
    }
    let mut conditions: Vec<&str> = Vec::new();
    for table in &results.offline_router {
        if !conditions.contains(&table.condition.as_str()) {
            conditions.push(&table.condition);
        }
    }
    for condition in conditions {
        // One router per online seed (each its own split and initialisation), or one.
        let routers: Vec<&OfflineRouterTable> = results
            .offline_router
            .iter()
            .filter(|t| t.condition == condition)
            .collect();
        let _ = writeln!(md, "### {}\n", cell(condition));
        let mut table = domain_table("Labeller", results, &[("Overall", Align::Right)]);
        for (i, row) in routers[0].rows.iter().enumerate() {
            let values = |pick: &dyn Fn(&RoutingRow) -> Option<f64>| -> Vec<f64> {
                routers
                    .iter()
                    .filter_map(|t| t.rows.get(i).and_then(pick))
                    .collect()
            };
            let mut cells = vec![cell(&row.name)];
            cells.extend(
                results
                    .domains
                    .iter()
                    .map(|d| mean_pct(&values(&|r| r.per_domain.get(d).copied()))),
            );
            cells.push(pct_summary(&mean_ci95(&values(&|r| Some(r.overall)))));
            table.row(cells);
        }
        md.push_str(&table.render());
        let sizes = |f: fn(&OfflineRouterTable) -> usize| -> f64 {
            mean_ci95(&routers.iter().map(|t| f(t) as f64).collect::<Vec<_>>()).mean
        };
        let _ = writeln!(
            md,
            "\nAccuracy in % ({}; the overall column ± its 95% CI over them). Split sizes: \
             train {}, validation {}, test {} records{}.\n",
            if routers.len() == 1 {
                "one router".to_string()
            } else {
                format!("mean over {} routers, one per online seed", routers.len())
            },
            count(sizes(|t| t.train_records)),
            count(sizes(|t| t.validation_records)),
            count(sizes(|t| t.test_records)),
            if routers.len() == 1 { "" } else { " (means)" }
        );
    }
}

fn label_accuracy_per_domain(md: &mut String, results: &Results) {
    md.push_str("## Label accuracy per domain\n\n");
    md.push_str(
        "Share of kept pairs whose label agrees with the verifier, in %, mean over the seeds \
         that had verifier-decided pairs (— where none had).\n\n",
    );
    for condition in results.conditions() {
        let strategies = results.strategies_in(condition);
        if strategies.is_empty() {
            continue;
        }
        let _ = writeln!(md, "### {}\n", cell(condition));
        let mut table = domain_table("Strategy", results, &[("Overall", Align::Right)]);
        for strategy in strategies {
            let runs: Vec<&RunResult> = results.runs_for(strategy, condition).collect();
            let mut row = vec![cell(strategy)];
            for domain in &results.domains {
                let values: Vec<f64> = runs
                    .iter()
                    .filter_map(|r| r.label_accuracy.per_domain.get(domain).copied())
                    .collect();
                row.push(mean_pct(&values));
            }
            let overall: Vec<f64> = runs
                .iter()
                .filter(|r| r.label_accuracy.count > 0)
                .map(|r| r.label_accuracy.overall)
                .collect();
            row.push(mean_pct(&overall));
            table.row(row);
        }
        md.push_str(&table.render());
        md.push('\n');
    }
}

fn ablations(md: &mut String, results: &Results) {
    md.push_str("## Ablations\n\n");
    if results.ablations.is_empty() {
        md.push_str("_None run._\n\n");
        return;
    }
    let mut table = Table::new(&[
        ("Ablation", Align::Left),
        ("Claim", Align::Left),
        ("Measure", Align::Left),
        ("With", Align::Right),
        ("Without", Align::Right),
        ("Relative change", Align::Right),
    ]);
    for ablation in &results.ablations {
        let as_pct = is_fraction_measure(&ablation.measure);
        let value = |s: &Summary| {
            if as_pct {
                pct_summary(s)
            } else {
                plain_summary(s)
            }
        };
        table.row(vec![
            cell(&ablation.name),
            cell(&ablation.claim),
            cell(&ablation.measure) + if as_pct { " (%)" } else { "" },
            value(&ablation.with_value),
            value(&ablation.without_value),
            signed_pct(ablation.relative_change) + "%",
        ]);
    }
    md.push_str(&table.render());
    md.push_str("\nRelative change: (with − without) / without.\n\n");
}

fn timings_section(md: &mut String, results: &Results, timings: Option<&Timings>) {
    md.push_str("## Timings\n\n");
    let Some(timings) = timings else {
        md.push_str("_Not recorded for this report._\n\n");
        return;
    };
    let _ = writeln!(
        md,
        "CPU: {}. Total wall time: {}.\n",
        cell(&timings.cpu),
        seconds(timings.total_s)
    );
    let mut stages = Table::new(&[
        ("Stage", Align::Left),
        ("Wall time", Align::Right),
        ("Share", Align::Right),
    ]);
    for (stage, secs) in &timings.stages {
        let share = if timings.total_s > 0.0 {
            pct(secs / timings.total_s) + "%"
        } else {
            MISSING.into()
        };
        stages.row(vec![cell(stage), seconds(*secs), share]);
    }
    md.push_str(&stages.render());
    md.push('\n');
    // Keys are "strategy/condition/seed"; split from the right so that a '/' in a strategy
    // name stays in the name.
    let mut per_strategy: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (key, secs) in &timings.runs {
        let strategy = key.rsplitn(3, '/').nth(2).unwrap_or(key);
        per_strategy.entry(strategy).or_default().push(*secs);
    }
    if per_strategy.is_empty() {
        return;
    }
    // Report order for known strategies, then the rest alphabetically.
    let mut order: Vec<&str> = results
        .strategies()
        .into_iter()
        .filter(|s| per_strategy.contains_key(s))
        .collect();
    order.extend(
        per_strategy
            .keys()
            .filter(|s| !order.contains(s))
            .copied()
            .collect::<Vec<_>>(),
    );
    let mut runs = Table::new(&[
        ("Strategy", Align::Left),
        ("Runs", Align::Right),
        ("Mean per run", Align::Right),
        ("Total", Align::Right),
    ]);
    for strategy in order {
        let secs = &per_strategy[strategy];
        let total: f64 = secs.iter().sum();
        runs.row(vec![
            cell(strategy),
            secs.len().to_string(),
            seconds(total / secs.len() as f64),
            seconds(total),
        ]);
    }
    md.push_str(&runs.render());
    md.push('\n');
}

/// Values of `metric` keyed by seed.
fn by_seed<'a>(
    runs: impl Iterator<Item = &'a RunResult>,
    metric: &dyn Fn(&RunResult) -> f64,
) -> Vec<(u64, f64)> {
    runs.map(|r| (r.seed, metric(r))).collect()
}

/// A table whose columns are `first`, then each domain, then `extra`.
fn domain_table(first: &str, results: &Results, extra: &[(&str, Align)]) -> Table {
    let mut columns = vec![(first.to_string(), Align::Left)];
    columns.extend(results.domains.iter().map(|d| (cell(d), Align::Right)));
    columns.extend(extra.iter().map(|(name, align)| (name.to_string(), *align)));
    Table {
        columns,
        rows: Vec::new(),
    }
}

/// Measures whose values are fractions in `[0, 1]` and so print as percentages.
fn is_fraction_measure(measure: &str) -> bool {
    let measure = measure.to_lowercase();
    ["accuracy", "share", "rate", "agreement"]
        .iter()
        .any(|word| measure.contains(word))
}

/// A fraction as a percentage with one decimal.
pub(super) fn pct(x: f64) -> String {
    if x.is_finite() {
        format!("{:.1}", 100.0 * x)
    } else {
        MISSING.into()
    }
}

fn opt_pct(x: Option<&f64>) -> String {
    x.map_or_else(|| MISSING.into(), |x| pct(*x))
}

/// A fraction as a signed percentage with one decimal; a value that rounds to zero prints `0.0`.
pub(super) fn signed_pct(x: f64) -> String {
    if !x.is_finite() {
        return MISSING.into();
    }
    let text = format!("{:+.1}", 100.0 * x);
    if text == "+0.0" || text == "-0.0" {
        "0.0".into()
    } else {
        text
    }
}

/// The mean of `values` in %, `—` when there are none.
pub(super) fn mean_pct(values: &[f64]) -> String {
    if values.is_empty() {
        MISSING.into()
    } else {
        pct(mean_ci95(values).mean)
    }
}

/// `mean ± half-width` in %, or the mean alone without an interval.
pub(super) fn pct_summary(s: &Summary) -> String {
    match s.ci95 {
        Some(ci) if s.mean.is_finite() => format!("{} ± {}", pct(s.mean), pct(ci)),
        _ => pct(s.mean),
    }
}

/// A paired difference in percentage points, signed.
pub(super) fn pp_delta(s: &Summary) -> String {
    match s.ci95 {
        Some(ci) if s.mean.is_finite() => format!("{} ± {}", signed_pct(s.mean), pct(ci)),
        _ => signed_pct(s.mean),
    }
}

/// A number that is not a fraction: whole above 100, three decimals below.
fn plain(x: f64) -> String {
    match x {
        x if !x.is_finite() => MISSING.into(),
        x if x.abs() >= 100.0 => format!("{x:.0}"),
        x => format!("{x:.3}"),
    }
}

fn plain_summary(s: &Summary) -> String {
    match s.ci95 {
        Some(ci) if s.mean.is_finite() => format!("{} ± {}", plain(s.mean), plain(ci)),
        _ => plain(s.mean),
    }
}

/// A mean count, rounded to a whole number.
pub(super) fn count(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.0}")
    } else {
        MISSING.into()
    }
}

fn seconds(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.1} s")
    } else {
        MISSING.into()
    }
}

/// Escapes text for a markdown table cell.
pub(super) fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// Column alignment in a markdown table.
#[derive(Debug, Clone, Copy)]
pub(super) enum Align {
    Left,
    Right,
}

/// A markdown table, rendered with padded columns so that it also reads well in a terminal.
pub(super) struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(super) fn new(columns: &[(&str, Align)]) -> Self {
        let columns = columns
            .iter()
            .map(|(name, align)| (name.to_string(), *align))
            .collect();
        Self {
            columns,
            rows: Vec::new(),
        }
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "row width");
        self.rows.push(cells);
    }

    pub(super) fn render(&self) -> String {
        let width = |i: usize| {
            let cells = self.rows.iter().map(|r| r[i].chars().count());
            cells
                .chain([self.columns[i].0.chars().count(), 3])
                .max()
                .unwrap_or(3)
        };
        let widths: Vec<usize> = (0..self.columns.len()).map(width).collect();
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&self.columns)
                .zip(&widths)
                .map(|((text, (_, align)), &w)| {
                    let pad = " ".repeat(w - text.chars().count());
                    match align {
                        Align::Left => format!("{text}{pad}"),
                        Align::Right => format!("{pad}{text}"),
                    }
                })
                .collect();
            format!("| {} |\n", padded.join(" | "))
        };
        let mut out = line(self.columns.iter().map(|(name, _)| name.clone()).collect());
        let rule: Vec<String> = self
            .columns
            .iter()
            .zip(&widths)
            .map(|((_, align), &w)| match align {
                Align::Left => format!(":{}", "-".repeat(w - 1)),
                Align::Right => format!("{}:", "-".repeat(w - 1)),
            })
            .collect();
        out.push_str(&format!("| {} |\n", rule.join(" | ")));
        for row in &self.rows {
            out.push_str(&line(row.clone()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::example;

    #[test]
    fn formats_numbers() {
        assert_eq!(pct(0.632), "63.2");
        assert_eq!(pct(f64::NAN), "—");
        assert_eq!(
            pct_summary(&Summary {
                mean: 0.632,
                ci95: Some(0.041),
                n: 3
            }),
            "63.2 ± 4.1"
        );
        assert_eq!(
            pct_summary(&Summary {
                mean: 0.5,
                ci95: None,
                n: 1
            }),
            "50.0"
        );
        assert_eq!(
            pp_delta(&Summary {
                mean: 0.013,
                ci95: Some(0.02),
                n: 3
            }),
            "+1.3 ± 2.0"
        );
        assert_eq!(
            pp_delta(&Summary {
                mean: -0.0001,
                ci95: None,
                n: 1
            }),
            "0.0"
        );
        assert_eq!(signed_pct(-0.5), "-50.0");
        assert_eq!(plain(1234.4), "1234");
        assert_eq!(plain(0.12345), "0.123");
        assert_eq!(cell("a|b"), "a\\|b");
    }

    #[test]
    fn table_pads_and_aligns() {
        let mut t = Table::new(&[("A", Align::Left), ("Long header", Align::Right)]);
        t.row(vec!["xyz".into(), "1".into()]);
        assert_eq!(
            t.render(),
            "| A   | Long header |\n| :-- | ----------: |\n| xyz |           1 |\n"
        );
    }

    #[test]
    fn main_table_has_every_strategy_and_paired_deltas() {
        let results = example();
        let table = main_table(&results, "in-distribution");
        assert!(table.starts_with("Starting policy: 42.0% held-out accuracy (200 items).\n"));
        assert!(table.contains("Δ policy vs bayesian-v5 (pp)"));
        assert!(table.contains("Δ label acc. vs bayesian-v5 (pp)"));
        let rows: Vec<&str> = table.lines().skip(4).collect();
        assert_eq!(rows.len(), 3);
        // The reference has no Δ; laser is 4 pp below it on every seed, so the CI is 0.
        assert!(rows[0].starts_with("| bayesian-v5 "), "{}", rows[0]);
        assert_eq!(rows[0].matches('—').count(), 2, "{}", rows[0]);
        assert!(rows[1].contains("-4.0 ± 0.0"), "{}", rows[1]);
        assert!(rows[1].contains(" 1010 |"), "{}", rows[1]);
        assert!(rows[2].starts_with("| single:rm-add "), "{}", rows[2]);
        assert!(rows[2].contains("-8.0 ± 0.0"), "{}", rows[2]);
    }

    #[test]
    fn runs_without_decided_pairs_have_no_label_accuracy() {
        let mut results = example();
        for run in results.runs.iter_mut().filter(|r| r.strategy == "laser") {
            run.label_accuracy.count = 0;
            run.label_accuracy.overall = 0.0;
            run.labels_decided = 0;
            run.labels_correct = 0;
        }
        let table = main_table(&results, "in-distribution");
        let laser = table.lines().find(|l| l.starts_with("| laser ")).unwrap();
        let cells: Vec<&str> = laser.split('|').map(str::trim).collect();
        // Strategy, policy, label, stratified label, Δ policy, Δ label, …: both label
        // accuracies and the label's Δ are missing.
        assert_eq!((cells[3], cells[4], cells[6]), ("—", "—", "—"), "{laser}");
        assert_ne!(cells[2], "—", "{laser}");
        // The micro headline is the counts' share: bayesian-v5's seeds have 394, 405 and 400
        // of 500 right (mean 79.9%); the stratified column is the domains' mean (79.7%).
        let v5 = table
            .lines()
            .find(|l| l.starts_with("| bayesian-v5 "))
            .unwrap();
        let cells: Vec<&str> = v5.split('|').map(str::trim).collect();
        assert!(cells[3].starts_with("79.9 ± "), "{v5}");
        assert!(cells[4].starts_with("79.7 ± "), "{v5}");
    }

    #[test]
    fn deltas_are_dashes_without_the_reference() {
        let mut results = example();
        results.runs.retain(|r| r.strategy != REFERENCE_STRATEGY);
        let table = main_table(&results, "shifted");
        for row in table.lines().skip(4) {
            assert_eq!(row.matches('—').count(), 2, "{row}");
        }
    }

    #[test]
    fn report_has_every_section() {
        let results = example();
        let timings = Timings {
            stages: vec![("sft".into(), 2.0), ("online".into(), 6.0)],
            runs: BTreeMap::from([
                ("single:rm-add/shifted/0".into(), 1.0),
                ("laser/shifted/0".into(), 3.0),
                ("laser/shifted/1".into(), 5.0),
            ]),
            total_s: 8.0,
            cpu: "Test CPU 9000".into(),
        };
        let md = report_markdown(&results, Some(&timings), &[]);
        for needle in [
            "# Experiment report: example",
            "## Premise checks",
            "(a) oracle − SFT policy accuracy",
            "| Label acc. stratified % |",
            "`0123abcd`",
            "## Reward models: held-out pairwise accuracy",
            "| rm-judge ",
            "## Offline router (test split)",
            "train 800, validation 100, test 100 records",
            "## Online DPO",
            "### shifted",
            "## Label accuracy per domain",
            "## Ablations",
            "| RM calls ",
            "-50.0% |",
            "policy accuracy (%)",
            "## Timings",
            "CPU: Test CPU 9000",
            "| online |     6.0 s | 75.0% |",
            "| laser         |    2 |        4.0 s | 8.0 s |",
            "## Plots",
        ] {
            assert!(md.contains(needle), "missing {needle:?} in\n{md}");
        }
        for strategy in results.strategies() {
            assert!(md.contains(&format!("| {strategy} ")), "{strategy}");
        }
        assert!(report_markdown(&results, None, &[]).contains("_Not recorded for this report._"));
        assert!(
            md.lines()
                .next()
                .unwrap()
                .ends_with("could not be checked (no oracle or random runs)"),
            "{md}"
        );
    }
}
