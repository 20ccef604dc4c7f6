//! The check's summary (bias, RMSE, coverage per logging strategy and estimator) and its
//! markdown tables.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{CheckRow, OpeCheck};

/// Bias, error and coverage of one estimator on one logging strategy's runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckSummary {
    /// The logging strategy.
    pub logging: String,
    /// The estimator.
    pub estimator: String,
    /// (target, run) cases with an estimate.
    pub cases: usize,
    /// (target, run) cases where the estimator is undefined (SNIPS when the target never
    /// chooses a logged arm).
    pub undefined: usize,
    /// Mean of estimate − truth, percentage points.
    pub mean_bias_pp: f64,
    /// Root mean square of estimate − truth, percentage points.
    pub rmse_pp: f64,
    /// Share of intervals covering the truth, a fraction.
    pub coverage: f64,
    /// Mean interval width, percentage points.
    pub mean_width_pp: f64,
    /// Cases the evaluation did not flag as unsupported.
    pub unflagged_cases: usize,
    /// Share of those cases' intervals covering the truth, a fraction (0 without cases).
    pub unflagged_coverage: f64,
    /// Root mean square error over those cases, percentage points.
    pub unflagged_rmse_pp: f64,
}

/// Per logging strategy and estimator: bias, RMSE, coverage and width over the cases, and
/// the `undefined` count of cases without an estimate.
pub(super) fn summarise(
    rows: &[CheckRow],
    undefined: &BTreeMap<(String, String), usize>,
) -> Vec<CheckSummary> {
    let mut groups: BTreeMap<(String, String), Vec<&CheckRow>> = BTreeMap::new();
    for row in rows {
        groups
            .entry((row.logging.clone(), row.estimator.clone()))
            .or_default()
            .push(row);
    }
    groups
        .into_iter()
        .map(|((logging, estimator), cases)| {
            let n = cases.len() as f64;
            let errors: Vec<f64> = cases.iter().map(|c| c.estimate - c.truth).collect();
            let unflagged: Vec<&&CheckRow> = cases.iter().filter(|c| !c.flagged).collect();
            let m = unflagged.len().max(1) as f64;
            CheckSummary {
                cases: cases.len(),
                undefined: undefined
                    .get(&(logging.clone(), estimator.clone()))
                    .copied()
                    .unwrap_or(0),
                logging,
                estimator,
                mean_bias_pp: 100.0 * errors.iter().sum::<f64>() / n,
                rmse_pp: 100.0 * (errors.iter().map(|e| e * e).sum::<f64>() / n).sqrt(),
                coverage: cases.iter().filter(|c| c.covers()).count() as f64 / n,
                mean_width_pp: 100.0 * cases.iter().map(|c| c.high - c.low).sum::<f64>() / n,
                unflagged_cases: unflagged.len(),
                unflagged_coverage: unflagged.iter().filter(|c| c.covers()).count() as f64 / m,
                unflagged_rmse_pp: 100.0
                    * (unflagged
                        .iter()
                        .map(|c| (c.estimate - c.truth).powi(2))
                        .sum::<f64>()
                        / m)
                        .sqrt(),
            }
        })
        .collect()
}

/// One target's true value per run (condition, seed) and each estimator's estimates.
#[derive(Default)]
struct TargetColumn {
    truths: BTreeMap<(String, u64), f64>,
    estimates: BTreeMap<String, Vec<f64>>,
}

/// The check as markdown: the summary table, then per logging strategy and target the mean
/// true value and each estimator's mean estimate over its runs.
pub fn render_markdown(check: &OpeCheck) -> String {
    let mut out = String::from(
        "| logging | estimator | cases | undefined | mean bias (pp) | RMSE (pp) | coverage | \
         mean width (pp) | unflagged cases | their RMSE (pp) | their coverage |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in &check.summary {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:+.2} | {:.2} | {:.0}% | {:.1} | {} | {:.2} | {:.0}% |\n",
            s.logging,
            s.estimator,
            s.cases,
            s.undefined,
            s.mean_bias_pp,
            s.rmse_pp,
            100.0 * s.coverage,
            s.mean_width_pp,
            s.unflagged_cases,
            s.unflagged_rmse_pp,
            100.0 * s.unflagged_coverage
        ));
    }
    out.push_str(&format!(
        "\nRecomputed verdicts disagreeing with a logged label: {}.\n",
        check.verdict_mismatches
    ));
    // Per logging strategy and target: the mean true value over its cases (one per run) and
    // each estimator's mean over the cases where it is defined.
    let mut table: BTreeMap<(String, String), TargetColumn> = BTreeMap::new();
    let mut estimators: Vec<String> = Vec::new();
    for row in &check.rows {
        if !estimators.contains(&row.estimator) {
            estimators.push(row.estimator.clone());
        }
        let entry = table
            .entry((row.logging.clone(), row.target.clone()))
            .or_default();
        entry
            .truths
            .insert((row.condition.clone(), row.seed), row.truth);
        entry
            .estimates
            .entry(row.estimator.clone())
            .or_default()
            .push(row.estimate);
    }
    out.push_str(&format!(
        "\n| logging | target | true value (%) | {} |\n|---|---|---:|{}\n",
        estimators.join(" | "),
        "---:|".repeat(estimators.len())
    ));
    let mean = |values: &[f64]| {
        if values.is_empty() {
            "—".to_string()
        } else {
            format!(
                "{:.1}",
                100.0 * values.iter().sum::<f64>() / values.len() as f64
            )
        }
    };
    for ((logging, target), column) in &table {
        let truths: Vec<f64> = column.truths.values().copied().collect();
        let cells: Vec<String> = estimators
            .iter()
            .map(|e| mean(column.estimates.get(e).map_or(&[][..], Vec::as_slice)))
            .collect();
        out.push_str(&format!(
            "| {logging} | {target} | {} | {} |\n",
            mean(&truths),
            cells.join(" | ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(estimator: &str, truth: f64, estimate: f64, low: f64, high: f64) -> CheckRow {
        CheckRow {
            logging: "random".into(),
            condition: "any".into(),
            seed: 0,
            target: "random".into(),
            estimator: estimator.into(),
            rows: 10,
            truth,
            estimate,
            low,
            high,
            ess: 10.0,
            flagged: false,
        }
    }

    #[test]
    fn summary_gives_bias_rmse_and_coverage() {
        let rows = [
            row("ips", 0.5, 0.6, 0.4, 0.7),
            row("ips", 0.5, 0.3, 0.2, 0.4),
            row("dr", 0.5, 0.5, 0.45, 0.55),
        ];
        let undefined = BTreeMap::from([(("random".to_string(), "snips".to_string()), 3)]);
        let summary = summarise(&rows, &undefined);
        assert_eq!(summary.len(), 2);
        let ips = summary.iter().find(|s| s.estimator == "ips").unwrap();
        assert_eq!(ips.cases, 2);
        // Errors +0.1 and −0.2: bias −5 pp, RMSE √((1 + 4)/2)·10 pp.
        assert!((ips.mean_bias_pp + 5.0).abs() < 1e-9);
        assert!((ips.rmse_pp - (2.5_f64).sqrt() * 10.0).abs() < 1e-9);
        assert_eq!(ips.coverage, 0.5);
        assert!((ips.mean_width_pp - 25.0).abs() < 1e-9);
        let markdown = render_markdown(&OpeCheck {
            rows: rows.to_vec(),
            summary,
            verdict_mismatches: 0,
        });
        assert!(
            markdown.contains("| random | ips | 2 | 0 | -5.00 |"),
            "{markdown}"
        );
    }
}
