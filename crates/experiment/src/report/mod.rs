//! The experiment report: `report.md` and its SVG plots, written from [`Results`].
//!
//! - [`stats`]: means and 95% CIs over seeds, plain and paired by seed;
//! - [`tables`]: the markdown tables ([`main_table`] is also printed to the terminal);
//! - [`plots`]: the SVG plots and the [`Plot`] list the report links to.

mod chart;
mod panel;
pub mod plots;
mod premise;
pub mod stats;
pub mod tables;

use std::io;
use std::path::{Path, PathBuf};

pub use self::plots::{ARM_SHARE_STRATEGIES, Plot, file_safe, plan};
pub use self::stats::{mean_ci95, paired_difference, t975};
pub use self::tables::{REFERENCE_STRATEGY, main_table, report_markdown};
use crate::results::{Results, Timings};

/// The premise checks' verdict in words (the report's first line says it): measured on
/// `results` unless they carry it.
pub fn premise_verdict(results: &Results) -> String {
    premise::verdict(&premise::checks(results)).to_string()
}

/// File name of the markdown report inside the report folder.
pub const REPORT_FILE: &str = "report.md";

/// Writes `report.md` and every plot of [`plan`] into `dir` (created if missing), each file
/// atomically, and returns the paths written, `report.md` first.
///
/// The output depends only on `results` and `timings`: rewriting gives identical bytes.
///
/// # Errors
/// I/O errors, and plot errors as [`io::Error`] naming the plot's file.
pub fn write_report(
    dir: &Path,
    results: &Results,
    timings: Option<&Timings>,
) -> io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let plots = plan(results);
    // Render every plot before writing anything, so that a failing plot leaves no new report
    // pointing at missing files.
    let svgs = plots
        .iter()
        .map(|plot| plot.render(results))
        .collect::<io::Result<Vec<_>>>()?;
    let report = dir.join(REPORT_FILE);
    atomic_write::replace_file(
        &report,
        report_markdown(results, timings, &plots).as_bytes(),
    )?;
    let mut written = vec![report];
    for (plot, svg) in plots.iter().zip(svgs) {
        let path = dir.join(plot.file_name());
        atomic_write::replace_file(&path, svg.as_bytes())?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fs;

    use super::*;
    use crate::results::example;

    fn timings() -> Timings {
        Timings {
            stages: vec![("sft".into(), 1.0), ("online".into(), 9.0)],
            runs: BTreeMap::from([("laser/shifted/0".into(), 2.5)]),
            total_s: 10.0,
            cpu: "Test CPU".into(),
        }
    }

    #[test]
    fn writes_report_and_plots_deterministically() {
        let dir = tempfile::Builder::new().prefix("report").tempdir().unwrap();
        let results = example();
        let paths = write_report(dir.path(), &results, Some(&timings())).unwrap();
        let names: Vec<String> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names[0], "report.md");
        assert_eq!(names.len(), 10, "{names:?}");
        assert!(names.iter().all(|n| !n.contains(':')));

        let md = fs::read_to_string(&paths[0]).unwrap();
        for strategy in results.strategies() {
            assert!(md.contains(strategy), "{strategy}");
        }
        assert!(md.contains("Δ policy vs bayesian-v5"));
        assert!(
            md.contains("- Candidates sampled from: the policy (online DPO), frozen reference")
        );
        for name in &names[1..] {
            assert!(md.contains(&format!("]({name})")), "report links {name}");
        }

        let bytes: Vec<Vec<u8>> = paths.iter().map(|p| fs::read(p).unwrap()).collect();
        for (path, svg) in paths.iter().zip(&bytes).skip(1) {
            let svg = String::from_utf8(svg.clone()).unwrap();
            let name = path.file_name().unwrap().to_string_lossy();
            assert!(svg.starts_with("<svg"), "{name}");
            assert!(svg.trim_end().ends_with("</svg>"), "{name}");
            assert!(svg.contains("<text"), "{name} has text");
            let labels: Vec<&str> = if name.starts_with("arm_share") {
                results.rm_names.iter().map(String::as_str).collect()
            } else if name.starts_with("rm_calls") {
                results.conditions()
            } else {
                results.strategies()
            };
            for label in labels {
                assert!(
                    svg.contains(&format!(">\n{label}\n</text>")),
                    "{name} lacks {label}"
                );
            }
        }
        let policy = fs::read_to_string(dir.path().join("policy_accuracy_shifted.svg")).unwrap();
        assert!(policy.contains("start 42.0%"));

        // Same inputs, same bytes; no temporary files left behind.
        let again = write_report(dir.path(), &results, Some(&timings())).unwrap();
        assert_eq!(again, paths);
        let bytes_again: Vec<Vec<u8>> = again.iter().map(|p| fs::read(p).unwrap()).collect();
        assert!(bytes == bytes_again, "rewriting changed the output");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), paths.len());
    }

    #[test]
    fn creates_the_folder() {
        let dir = tempfile::Builder::new().prefix("report").tempdir().unwrap();
        let nested = dir.path().join("runs/experiment/x");
        let paths = write_report(&nested, &example(), None).unwrap();
        assert!(paths.iter().all(|p| p.starts_with(&nested) && p.exists()));
    }
}
