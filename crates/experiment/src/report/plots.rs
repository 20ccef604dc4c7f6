//! The report's SVG plots, drawn with plotters' SVG backend.
//!
//! Every plot is a pure function of [`Results`]: the same results give the same bytes. Text is
//! written as SVG `<text>` elements and laid out by the viewer's font; plotters (without its
//! `ttf`/`ab_glyph` features) needs no font files and only estimates text extents, so label and
//! legend areas are sized from the longest label. Colours follow a strategy's (or arm's, or
//! condition's) index, so a strategy has the same colour in every plot. Percentages are
//! fractions × 100.

use std::io;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

use super::chart::{
    Area, DrawResult, GREY, Glyph, LegendEntry, Line, Panel, category_chart, category_labels,
    category_y, colour, draw_legend, draw_lines, percent_range, render, small_text, split_legend,
};
use super::stats::mean_ci95;
use crate::results::{Results, Summary};

/// Strategies whose per-domain arm shares get an `arm_share_*` plot, when present.
pub const ARM_SHARE_STRATEGIES: [&str; 2] = ["bayesian-v5", "laser"];

/// One plot of the report: what it shows and the file it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plot {
    /// Final policy accuracy per strategy with 95% CIs, for one condition.
    PolicyAccuracy {
        /// Condition name.
        condition: String,
    },
    /// Routed-label accuracy over iterations, one line per strategy, for one condition.
    LabelAccuracy {
        /// Condition name.
        condition: String,
    },
    /// Share of each domain's judged pairs sent to each arm, over iterations.
    ArmShare {
        /// Routed strategy name.
        strategy: String,
        /// Condition name.
        condition: String,
    },
    /// Mean RM calls per run, per strategy and condition.
    RmCalls,
}

impl Plot {
    /// File name inside the report folder, made filesystem-safe with [`file_safe`].
    pub fn file_name(&self) -> String {
        match self {
            Plot::PolicyAccuracy { condition } => {
                format!("policy_accuracy_{}.svg", file_safe(condition))
            }
            Plot::LabelAccuracy { condition } => {
                format!("label_accuracy_{}.svg", file_safe(condition))
            }
            Plot::ArmShare {
                strategy,
                condition,
            } => {
                format!(
                    "arm_share_{}_{}.svg",
                    file_safe(strategy),
                    file_safe(condition)
                )
            }
            Plot::RmCalls => "rm_calls.svg".to_string(),
        }
    }

    /// Human-readable title, also drawn as the plot's caption.
    pub fn title(&self) -> String {
        match self {
            Plot::PolicyAccuracy { condition } => format!("Final policy accuracy — {condition}"),
            Plot::LabelAccuracy { condition } => {
                format!("Routed-label accuracy over iterations — {condition}")
            }
            Plot::ArmShare {
                strategy,
                condition,
            } => {
                format!("Arm share over iterations: {strategy} — {condition}")
            }
            Plot::RmCalls => "RM calls per run (mean over seeds)".to_string(),
        }
    }

    /// Draws this plot and returns the SVG text.
    ///
    /// # Errors
    /// A plotters error, as [`io::Error`] whose message names the plot's file.
    pub fn render(&self, results: &Results) -> io::Result<String> {
        match self {
            Plot::PolicyAccuracy { condition } => policy_accuracy(results, condition),
            Plot::LabelAccuracy { condition } => label_accuracy(results, condition),
            Plot::ArmShare {
                strategy,
                condition,
            } => arm_share(results, strategy, condition),
            Plot::RmCalls => rm_calls(results),
        }
    }
}

/// The plots the report has for `results`: per condition with runs, policy accuracy, label
/// accuracy and the arm shares of [`ARM_SHARE_STRATEGIES`] that routed; then RM calls.
pub fn plan(results: &Results) -> Vec<Plot> {
    let mut plots = Vec::new();
    for condition in results.conditions() {
        if results.strategies_in(condition).is_empty() {
            continue;
        }
        plots.push(Plot::PolicyAccuracy {
            condition: condition.to_string(),
        });
        plots.push(Plot::LabelAccuracy {
            condition: condition.to_string(),
        });
        for strategy in ARM_SHARE_STRATEGIES {
            if results
                .runs_for(strategy, condition)
                .any(|r| !r.arm_share_by_iteration.is_empty())
            {
                plots.push(Plot::ArmShare {
                    strategy: strategy.to_string(),
                    condition: condition.to_string(),
                });
            }
        }
    }
    if !results.runs.is_empty() {
        plots.push(Plot::RmCalls);
    }
    plots
}

/// `name` with every character other than ASCII letters, digits, `-`, `_` and `.` replaced by
/// `_` (e.g. `single:rm-add` → `single_rm-add`).
pub fn file_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `policy_accuracy_<condition>.svg`: per strategy, the final policy's held-out accuracy (%) as
/// mean with a 95% CI whisker and each seed as a ring; a dashed line marks the starting policy.
///
/// # Errors
/// As [`Plot::render`].
pub fn policy_accuracy(results: &Results, condition: &str) -> io::Result<String> {
    let plot = Plot::PolicyAccuracy {
        condition: condition.to_string(),
    };
    let rows: Vec<Row> = results
        .strategies_in(condition)
        .into_iter()
        .map(|strategy| {
            let seeds: Vec<f64> = results
                .runs_for(strategy, condition)
                .map(|r| 100.0 * r.policy_accuracy.overall)
                .collect();
            Row {
                name: strategy.to_string(),
                colour: strategy_colour(results, strategy),
                summary: mean_ci95(&seeds),
                seeds,
            }
        })
        .collect();
    let sft = 100.0 * results.sft_accuracy.overall;
    let height = 140 + 40 * rows.len() as u32;
    render(&plot, (960, height.max(300)), |root| {
        draw_forest(root, &plot.title(), &rows, sft)
    })
}

/// `label_accuracy_<condition>.svg`: routed-label accuracy (%) per iteration, mean over the
/// seeds that have a value there; one line per strategy, broken where no seed has a value.
///
/// # Errors
/// As [`Plot::render`].
pub fn label_accuracy(results: &Results, condition: &str) -> io::Result<String> {
    let plot = Plot::LabelAccuracy {
        condition: condition.to_string(),
    };
    let lines: Vec<Line> = results
        .strategies_in(condition)
        .into_iter()
        .map(|strategy| {
            let runs: Vec<_> = results.runs_for(strategy, condition).collect();
            let len = runs
                .iter()
                .map(|r| r.label_accuracy_by_iteration.len())
                .max();
            let points = (0..len.unwrap_or(0))
                .map(|i| {
                    let at_i = runs
                        .iter()
                        .filter_map(|r| r.label_accuracy_by_iteration.get(i).copied().flatten());
                    mean(at_i.map(|v| 100.0 * v))
                })
                .collect();
            let index = strategy_index(results, strategy);
            Line {
                label: strategy.to_string(),
                index,
                points,
            }
        })
        .filter(|line| line.points.iter().any(Option::is_some))
        .collect();
    let iterations = lines.iter().map(|l| l.points.len()).max().unwrap_or(0);
    let iterations = iterations.max(results.iterations);
    render(&plot, (960, 540), |root| {
        let legend: Vec<LegendEntry> = lines.iter().map(Line::legend_entry).collect();
        let (chart_area, legend_area) = split_legend(root, &legend);
        draw_legend(&legend_area, &legend)?;
        let panel = Panel {
            caption: plot.title(),
            caption_size: 20,
            y_desc: "label accuracy (%)",
            y_range: percent_range(
                lines
                    .iter()
                    .flat_map(|l| l.points.iter().flatten().copied()),
            ),
        };
        draw_lines(&chart_area, &panel, iterations, &lines)
    })
}

/// `arm_share_<strategy>_<condition>.svg`: one panel per domain, the share (%) of that domain's
/// judged pairs sent to each arm per iteration (mean over seeds), one line per arm, legend with
/// the RM names.
///
/// # Errors
/// As [`Plot::render`].
pub fn arm_share(results: &Results, strategy: &str, condition: &str) -> io::Result<String> {
    let plot = Plot::ArmShare {
        strategy: strategy.to_string(),
        condition: condition.to_string(),
    };
    let runs: Vec<_> = results.runs_for(strategy, condition).collect();
    let iterations = runs
        .iter()
        .map(|r| r.arm_share_by_iteration.len())
        .max()
        .unwrap_or(0);
    let arms = runs
        .iter()
        .flat_map(|r| {
            r.arm_share_by_iteration
                .iter()
                .flat_map(|m| m.values().map(Vec::len))
        })
        .max()
        .unwrap_or(0)
        .max(results.rm_names.len());
    let arm_name = |k: usize| {
        results
            .rm_names
            .get(k)
            .cloned()
            .unwrap_or_else(|| format!("arm {k}"))
    };
    // [domain][arm] → mean share (%) per iteration.
    let panels: Vec<(String, Vec<Line>)> = results
        .domains
        .iter()
        .map(|domain| {
            let lines = (0..arms)
                .map(|k| {
                    let points = (0..iterations)
                        .map(|i| {
                            let at_i = runs.iter().filter_map(|r| {
                                r.arm_share_by_iteration
                                    .get(i)?
                                    .get(domain)?
                                    .get(k)
                                    .copied()
                            });
                            mean(at_i.map(|v| 100.0 * v))
                        })
                        .collect();
                    Line {
                        label: arm_name(k),
                        index: k,
                        points,
                    }
                })
                .collect();
            (domain.clone(), lines)
        })
        .collect();
    let cols = panels.len().clamp(1, 3);
    let grid_rows = panels.len().div_ceil(cols).max(1);
    let size = (200 + 400 * cols as u32, 60 + 320 * grid_rows as u32);
    render(&plot, size, |root| {
        let legend: Vec<LegendEntry> = (0..arms)
            .map(|k| LegendEntry {
                label: arm_name(k),
                colour: colour(k),
                glyph: Glyph::Line,
            })
            .collect();
        let (chart_area, legend_area) = split_legend(root, &legend);
        draw_legend(&legend_area, &legend)?;
        let chart_area = chart_area.titled(&plot.title(), ("sans-serif", 20))?;
        if panels.is_empty() {
            return Ok(chart_area.draw(&Text::new("no domains", (20, 20), ("sans-serif", 16)))?);
        }
        for (area, (domain, lines)) in chart_area
            .split_evenly((grid_rows, cols))
            .iter()
            .zip(&panels)
        {
            let panel = Panel {
                caption: domain.clone(),
                caption_size: 16,
                y_desc: "share of pairs (%)",
                y_range: (0.0, 100.0),
            };
            draw_lines(area, &panel, iterations, lines)?;
        }
        Ok(())
    })
}

/// `rm_calls.svg`: per strategy, one horizontal bar per condition with the mean RM calls per run,
/// its value written at the bar's end.
///
/// # Errors
/// As [`Plot::render`].
pub fn rm_calls(results: &Results) -> io::Result<String> {
    let plot = Plot::RmCalls;
    let strategies = results.strategies();
    let conditions: Vec<&str> = results
        .conditions()
        .into_iter()
        .filter(|c| !results.strategies_in(c).is_empty())
        .collect();
    // [strategy][condition] → mean calls.
    let means: Vec<Vec<Option<f64>>> = strategies
        .iter()
        .map(|s| {
            let calls = |c: &&str| mean(results.runs_for(s, c).map(|r| r.rm_calls as f64));
            conditions.iter().map(calls).collect()
        })
        .collect();
    let n = strategies.len();
    let height = 140 + (n * (16 * conditions.len() + 14)) as u32;
    render(&plot, (960, height.max(300)), |root| {
        let legend: Vec<LegendEntry> = conditions
            .iter()
            .enumerate()
            .map(|(j, c)| LegendEntry {
                label: c.to_string(),
                colour: colour(j),
                glyph: Glyph::Bar,
            })
            .collect();
        let (chart_area, legend_area) = split_legend(root, &legend);
        draw_legend(&legend_area, &legend)?;
        let max = means
            .iter()
            .flatten()
            .flatten()
            .copied()
            .fold(0.0, f64::max);
        let x_max = if max > 0.0 { max * 1.2 } else { 1.0 };
        let names: Vec<String> = strategies.iter().map(|s| s.to_string()).collect();
        let mut chart = category_chart(&chart_area, &plot.title(), &names, 0.0..x_max)?;
        let y_labels = category_labels(&names);
        chart
            .configure_mesh()
            .max_light_lines(0)
            .disable_y_mesh()
            .y_label_formatter(&y_labels)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .x_desc("RM items scored per run")
            .label_style(("sans-serif", 14))
            .axis_desc_style(("sans-serif", 15))
            .draw()?;
        let band = 0.8 / conditions.len().max(1) as f64;
        for (i, row) in means.iter().enumerate() {
            let top = category_y(n, i) + 0.4;
            for (j, value) in row.iter().enumerate() {
                let Some(value) = *value else { continue };
                let (y0, y1) = (top - band * j as f64, top - band * (j + 1) as f64);
                let bar =
                    Rectangle::new([(0.0, y0 - 0.03), (value, y1 + 0.03)], colour(j).filled());
                chart.draw_series([bar])?;
                let text = Text::new(
                    format!("{value:.0}"),
                    (5, 0),
                    small_text(HPos::Left, VPos::Center),
                );
                chart.draw_series([EmptyElement::at((value, (y0 + y1) / 2.0)) + text])?;
            }
        }
        Ok(())
    })
}

/// A strategy's index over all runs, so that its colour is the same in every plot.
fn strategy_index(results: &Results, strategy: &str) -> usize {
    results
        .strategies()
        .iter()
        .position(|s| *s == strategy)
        .unwrap_or(0)
}

fn strategy_colour(results: &Results, strategy: &str) -> RGBColor {
    colour(strategy_index(results, strategy))
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let values: Vec<f64> = values.collect();
    (!values.is_empty()).then(|| mean_ci95(&values).mean)
}

/// One strategy's row in the policy accuracy plot (values in %).
struct Row {
    name: String,
    colour: RGBColor,
    summary: Summary,
    seeds: Vec<f64>,
}

fn draw_forest(root: &Area, title: &str, rows: &[Row], sft: f64) -> DrawResult {
    let legend = [
        LegendEntry {
            label: "mean ± 95% CI".into(),
            colour: BLACK,
            glyph: Glyph::Whisker,
        },
        LegendEntry {
            label: "one seed".into(),
            colour: BLACK,
            glyph: Glyph::Ring,
        },
        LegendEntry {
            label: format!("start {sft:.1}%"),
            colour: GREY,
            glyph: Glyph::Dashed,
        },
    ];
    let (chart_area, legend_area) = split_legend(root, &legend);
    draw_legend(&legend_area, &legend)?;
    let extent = rows.iter().flat_map(|r| {
        let ci = r.summary.ci95.unwrap_or(0.0);
        r.seeds
            .iter()
            .copied()
            .chain([r.summary.mean - ci, r.summary.mean + ci])
    });
    let (lo, hi) = percent_range(extent.chain([sft]));
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let mut chart = category_chart(&chart_area, title, &names, lo..hi)?;
    let y_labels = category_labels(&names);
    chart
        .configure_mesh()
        .max_light_lines(0)
        .disable_y_mesh()
        .y_label_formatter(&y_labels)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("held-out accuracy, greedy (%)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()?;
    let n = rows.len();
    let top = n.max(1) as f64 - 0.5;
    chart.draw_series(DashedLineSeries::new(
        [(sft, -0.5), (sft, top)],
        6,
        4,
        GREY.stroke_width(1),
    ))?;
    for (i, row) in rows.iter().enumerate() {
        let (y, c, m) = (category_y(n, i), row.colour, row.summary.mean);
        if let Some(ci) = row.summary.ci95 {
            let (a, b) = (m - ci, m + ci);
            chart.draw_series([
                PathElement::new([(a, y), (b, y)], c.stroke_width(2)),
                PathElement::new([(a, y - 0.15), (a, y + 0.15)], c.stroke_width(2)),
                PathElement::new([(b, y - 0.15), (b, y + 0.15)], c.stroke_width(2)),
            ])?;
        }
        let ring = ShapeStyle {
            color: c.mix(0.8),
            filled: false,
            stroke_width: 1,
        };
        chart.draw_series(row.seeds.iter().map(|&v| Circle::new((v, y), 3, ring)))?;
        chart.draw_series([Circle::new((m, y), 5, c.filled())])?;
        let label = match row.summary.ci95 {
            Some(ci) => format!("{m:.1} ± {ci:.1}"),
            None => format!("{m:.1}"),
        };
        let text = Text::new(label, (0, -9), small_text(HPos::Center, VPos::Bottom));
        chart.draw_series([EmptyElement::at((m, y)) + text])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::example;

    #[test]
    fn file_names_are_safe() {
        assert_eq!(file_safe("single:rm-add"), "single_rm-add");
        assert_eq!(file_safe("a/b c"), "a_b_c");
        let plot = Plot::ArmShare {
            strategy: "x:y".into(),
            condition: "in-distribution".into(),
        };
        assert_eq!(plot.file_name(), "arm_share_x_y_in-distribution.svg");
    }

    #[test]
    fn plan_covers_conditions_and_routed_strategies() {
        let names: Vec<String> = plan(&example()).iter().map(Plot::file_name).collect();
        assert_eq!(
            names,
            [
                "policy_accuracy_in-distribution.svg",
                "label_accuracy_in-distribution.svg",
                "arm_share_bayesian-v5_in-distribution.svg",
                "arm_share_laser_in-distribution.svg",
                "policy_accuracy_shifted.svg",
                "label_accuracy_shifted.svg",
                "arm_share_bayesian-v5_shifted.svg",
                "arm_share_laser_shifted.svg",
                "rm_calls.svg",
            ]
        );
    }

    #[test]
    fn empty_results_still_render() {
        let mut results = example();
        results.runs.clear();
        results.domains.clear();
        for svg in [
            policy_accuracy(&results, "shifted").unwrap(),
            label_accuracy(&results, "shifted").unwrap(),
            arm_share(&results, "laser", "shifted").unwrap(),
            rm_calls(&results).unwrap(),
        ] {
            assert!(svg.trim_end().ends_with("</svg>"));
        }
    }
}
