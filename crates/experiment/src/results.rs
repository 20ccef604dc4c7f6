//! The serialisable outcome of one `cargo xtask experiment` run.
//!
//! [`Results`] is everything that is a pure function of the experiment config and its seeds; it is
//! written as `results.json` and must be bit-for-bit identical across reruns with the same seed.
//! Wall-clock measurements live apart in [`Timings`] (`timings.json`), which is never compared.
//!
//! Conventions:
//! - accuracies and shares are fractions in `[0, 1]` (the report prints them as percentages);
//! - maps are `BTreeMap`s so that key order, and hence the JSON text, is deterministic;
//! - every `f64` must be finite: JSON has no NaN, and serde_json would write one as `null`, which
//!   does not read back into an `f64`. [`Results::write_json`] refuses such a file.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::panel::{PanelPoint, PanelSummary};
use crate::premise::{Moments, PremiseChecks};

/// All deterministic outputs of one experiment: inputs' quality, offline routing and online runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Experiment name (the folder under `runs/experiment/`).
    pub name: String,
    /// Hash of the resolved experiment config, to tie the numbers to their config.
    pub config_hash: String,
    /// Task domains, in the order the report shows them.
    pub domains: Vec<String>,
    /// Reward-model names; this is also the arm order of every routed strategy.
    pub rm_names: Vec<String>,
    /// Number of seeds each strategy was run with, per condition.
    pub seeds: usize,
    /// Number of seeds of the lines the premise checks read ([`crate::premise::LINES`]), where
    /// more than `seeds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub premise_seeds: Option<usize>,
    /// Online DPO iterations per run.
    pub iterations: usize,
    /// Where each iteration's candidates were sampled from
    /// ([`rlhf_trainer::TrainerConfig::sampling_regime`]; absent in older results).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampling: Option<String>,
    /// The starting (SFT) policy's held-out greedy accuracy.
    pub sft_accuracy: DomainScores,
    /// Each reward model's held-out pairwise accuracy per domain.
    pub rm_accuracy: Vec<RmAccuracy>,
    /// The offline router evaluation, one table per condition.
    pub offline_router: Vec<OfflineRouterTable>,
    /// One entry per (strategy, condition, seed) online DPO run.
    pub runs: Vec<RunResult>,
    /// Ablations: a measure with and without one component.
    pub ablations: Vec<Ablation>,
    /// Whether the method's premise holds in this world ([`PremiseChecks`]), measured on
    /// the runs above.
    #[serde(default)]
    pub premise: Option<PremiseChecks>,
    /// The routing panel's size and the accuracy of every labeller that does not learn
    /// (`None`: the experiment had no panel).
    #[serde(default)]
    pub panel: Option<PanelSummary>,
}

/// An accuracy overall and per domain, with the number of items scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DomainScores {
    /// Accuracy over all items, a fraction in `[0, 1]`.
    pub overall: f64,
    /// Accuracy per domain, a fraction in `[0, 1]`.
    pub per_domain: BTreeMap<String, f64>,
    /// Number of items scored.
    pub count: usize,
}

/// One reward model's held-out pairwise accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RmAccuracy {
    /// Reward-model name (one of [`Results::rm_names`]).
    pub rm: String,
    /// Pairwise accuracy per domain, a fraction in `[0, 1]`.
    pub per_domain: BTreeMap<String, f64>,
    /// Pairwise accuracy over all pairs, a fraction in `[0, 1]`.
    pub overall: f64,
    /// Number of held-out pairs scored.
    pub pairs: usize,
}

/// The offline router's test-split routing accuracy next to its baselines, for one condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OfflineRouterTable {
    /// Condition name, e.g. `"in-distribution"` or `"shifted"`.
    pub condition: String,
    /// The online seed whose router this is (0 when one router serves every seed).
    #[serde(default)]
    pub seed: u64,
    /// Records in the training split.
    pub train_records: usize,
    /// Records in the validation split.
    pub validation_records: usize,
    /// Records in the test split.
    pub test_records: usize,
    /// Rows in display order: `"router"`, each RM name, `"random"`, `"majority"`, `"oracle"`.
    pub rows: Vec<RoutingRow>,
}

/// One row of an [`OfflineRouterTable`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRow {
    /// Row label (router, RM name or baseline).
    pub name: String,
    /// Accuracy over the whole test split, a fraction in `[0, 1]`.
    pub overall: f64,
    /// Accuracy per domain, a fraction in `[0, 1]`.
    pub per_domain: BTreeMap<String, f64>,
}

/// The outcome of one online DPO run: one strategy, one condition, one seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    /// Labelling strategy, e.g. `"bayesian-v5"`, `"laser"`, `"single:rm-add"`.
    pub strategy: String,
    /// Condition name, e.g. `"in-distribution"` or `"shifted"`.
    pub condition: String,
    /// Seed of this run.
    pub seed: u64,
    /// Final policy's held-out greedy accuracy.
    pub policy_accuracy: DomainScores,
    /// Share of kept training pairs whose label agrees with the verifier, among the pairs the
    /// verifier can decide, per domain; `overall` is their unweighted mean over domains (the
    /// domain-stratified accuracy; [`RunResult::label_accuracy_micro`] is the pooled one).
    pub label_accuracy: DomainScores,
    /// Kept pairs the verifier decides (one response right, one wrong).
    #[serde(default)]
    pub labels_decided: u64,
    /// Of those, pairs whose label agrees with the verifier.
    #[serde(default)]
    pub labels_correct: u64,
    /// Per domain: sums of (bandit reward, routed label correct ∈ {0, 1}) over the kept
    /// decided pairs with a reward from iteration 1 on (premise check (b)).
    #[serde(default)]
    pub reward_label: BTreeMap<String, Moments>,
    /// The run's router scored on the routing panel at the panel's checkpoints (empty for
    /// strategies without a router, or without a panel).
    #[serde(default)]
    pub panel: Vec<PanelPoint>,
    /// Why check (b) comes out as it does: the DPO implicit reward's preference for the
    /// right response, on the run's own samples and on the panel's (`None` for runs that
    /// did not measure it).
    #[serde(default)]
    pub implicit_margin: Option<ImplicitMargin>,
    /// Label accuracy per iteration; `None` where the verifier could decide no kept pair.
    pub label_accuracy_by_iteration: Vec<Option<f64>>,
    /// Per iteration: domain → share of that domain's judged pairs sent to each arm (arm order =
    /// [`Results::rm_names`]). Empty for strategies that do not route.
    pub arm_share_by_iteration: Vec<BTreeMap<String, Vec<f64>>>,
    /// Reward-model items scored over the run.
    pub rm_calls: u64,
    /// Preference pairs judged over the run.
    pub pairs_judged: u64,
    /// Preference pairs kept for training over the run.
    pub pairs_kept: u64,
}

/// m = Δ(right) − Δ(wrong) over verifier-decided pairs, where Δ(y) = log π(y|x) −
/// log π_ref(y|x) summed over the response (the DPO implicit reward, nats): positive when
/// the policy moved toward the right response more than toward the wrong one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MarginStats {
    /// Pairs measured.
    pub pairs: u64,
    /// Mean m, nats.
    pub mean: f64,
    /// Share of pairs with m > 0, a fraction.
    pub positive: f64,
}

impl MarginStats {
    /// The statistics of `margins` (`None` when empty).
    pub fn of(margins: &[f64]) -> Option<Self> {
        if margins.is_empty() {
            return None;
        }
        let n = margins.len() as f64;
        Some(Self {
            pairs: margins.len() as u64,
            mean: margins.iter().sum::<f64>() / n,
            positive: margins.iter().filter(|&&m| m > 0.0).count() as f64 / n,
        })
    }
}

/// The implicit-reward margin of one run, measured two ways (docs/RESULTS.md, "The selection
/// reading, checked").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImplicitMargin {
    /// On the run's own kept, verifier-decided pairs from iteration 1 on (sampled from the
    /// policy of that moment), read back from their logged losses: its sign is the sign of
    /// check (b).
    pub on_policy: Option<MarginStats>,
    /// On the routing panel's pairs (SFT samples no policy chose) under the final policy.
    pub panel: Option<MarginStats>,
}

/// A measure taken with and without one component, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ablation {
    /// Short name of the ablation.
    pub name: String,
    /// The claim the ablation tests, in one sentence.
    pub claim: String,
    /// What is measured, e.g. `"policy accuracy"` or `"RM calls"`.
    pub measure: String,
    /// The measure with the component.
    pub with_value: Summary,
    /// The measure without the component.
    pub without_value: Summary,
    /// `(with − without) / without`, a signed fraction.
    pub relative_change: f64,
}

/// A mean over `n` values with its 95% confidence-interval half-width.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Arithmetic mean.
    pub mean: f64,
    /// Half-width of the 95% CI (Student's t); `None` when `n < 2`.
    pub ci95: Option<f64>,
    /// Number of values summarised.
    pub n: usize,
}

/// Wall-clock measurements of one experiment, kept out of `results.json` because they differ
/// between reruns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// Stage name and its wall time in seconds, in execution order.
    pub stages: Vec<(String, f64)>,
    /// `"strategy/condition/seed"` → wall time of that run in seconds.
    pub runs: BTreeMap<String, f64>,
    /// Wall time of the whole experiment in seconds.
    pub total_s: f64,
    /// CPU model the experiment ran on.
    pub cpu: String,
}

impl RunResult {
    /// The share of kept decided pairs labelled correctly, every domain pooled (`None`
    /// without decided pairs).
    pub fn label_accuracy_micro(&self) -> Option<f64> {
        (self.labels_decided > 0).then(|| self.labels_correct as f64 / self.labels_decided as f64)
    }
}

impl Results {
    /// Strategies in order of first appearance in [`Results::runs`].
    pub fn strategies(&self) -> Vec<&str> {
        first_appearance(self.runs.iter().map(|r| r.strategy.as_str()))
    }

    /// Strategies with at least one run under `condition`, in order of first appearance.
    pub fn strategies_in(&self, condition: &str) -> Vec<&str> {
        first_appearance(
            self.runs
                .iter()
                .filter(|r| r.condition == condition)
                .map(|r| r.strategy.as_str()),
        )
    }

    /// Conditions in order of first appearance in [`Results::runs`], then any that only the
    /// offline router tables name.
    pub fn conditions(&self) -> Vec<&str> {
        first_appearance(
            self.runs
                .iter()
                .map(|r| r.condition.as_str())
                .chain(self.offline_router.iter().map(|t| t.condition.as_str())),
        )
    }

    /// The runs of `strategy` under `condition`, in stored order.
    pub fn runs_for<'a>(
        &'a self,
        strategy: &'a str,
        condition: &'a str,
    ) -> impl Iterator<Item = &'a RunResult> + 'a {
        self.runs
            .iter()
            .filter(move |r| r.strategy == strategy && r.condition == condition)
    }

    /// Writes pretty JSON with a trailing newline to `path`, atomically: through a temporary file
    /// in the same folder that is renamed over `path`, so a crash never leaves half a file.
    ///
    /// # Errors
    /// I/O errors, or [`io::ErrorKind::InvalidData`] when the file would not read back (a
    /// non-finite `f64`, which JSON writes as `null`).
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        write_json_checked(self, path)
    }

    /// Reads a file written by [`Results::write_json`].
    ///
    /// # Errors
    /// I/O errors, or [`io::ErrorKind::InvalidData`] naming the file when it does not parse.
    pub fn read_json(path: &Path) -> io::Result<Self> {
        read_json(path)
    }
}

impl Timings {
    /// Writes pretty JSON with a trailing newline to `path`, atomically: through a temporary file
    /// in the same folder that is renamed over `path`, so a crash never leaves half a file.
    ///
    /// # Errors
    /// As [`Results::write_json`].
    pub fn write_json(&self, path: &Path) -> io::Result<()> {
        write_json_checked(self, path)
    }

    /// Reads a file written by [`Timings::write_json`].
    ///
    /// # Errors
    /// As [`Results::read_json`].
    pub fn read_json(path: &Path) -> io::Result<Self> {
        read_json(path)
    }
}

/// Distinct items in order of first appearance.
fn first_appearance<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = Vec::new();
    for item in items {
        if !seen.contains(&item) {
            seen.push(item);
        }
    }
    seen
}

/// Checks that `value` survives JSON (serde_json writes NaN and ±inf as `null`, which would
/// fail at the next read rather than here), then writes it atomically as pretty JSON.
fn write_json_checked<T: Serialize + DeserializeOwned>(value: &T, path: &Path) -> io::Result<()> {
    let text = serde_json::to_string(value).map_err(io::Error::other)?;
    if let Err(e) = serde_json::from_str::<T>(&text) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} would not read back (a NaN or infinite value?): {e}",
                path.display()
            ),
        ));
    }
    Ok(atomic_write::write_json_pretty(path, value)?)
}

fn read_json<T: DeserializeOwned>(path: &Path) -> io::Result<T> {
    Ok(atomic_write::read_json(path)?)
}

/// A small synthetic [`Results`]: 2 conditions, 3 strategies (`bayesian-v5`, `laser`,
/// `single:rm-add`), 3 seeds, 4 iterations, 2 domains, 2 RMs. Deterministic.
#[cfg(test)]
pub fn example() -> Results {
    let domains = vec!["math".to_string(), "code".to_string()];
    let rm_names = vec!["rm-add".to_string(), "rm-judge".to_string()];
    let conditions = ["in-distribution", "shifted"];
    let strategies = ["bayesian-v5", "laser", "single:rm-add"];
    let (seeds, iterations) = (3_u64, 4_usize);
    let scores = |base: f64, count: usize| DomainScores {
        overall: base,
        per_domain: BTreeMap::from([
            ("math".to_string(), base + 0.03),
            ("code".to_string(), base - 0.03),
        ]),
        count,
    };
    let mut runs = Vec::new();
    for (c, condition) in conditions.iter().enumerate() {
        for (s, strategy) in strategies.iter().enumerate() {
            for seed in 0..seeds {
                // A deterministic wobble per seed so that CIs are non-zero.
                let wobble = [0.012, -0.007, 0.004][seed as usize];
                let policy = 0.55 - 0.04 * s as f64 - 0.05 * c as f64 + wobble;
                let label = 0.80 - 0.05 * s as f64 - 0.03 * c as f64 - wobble;
                let routed = *strategy != "single:rm-add";
                let arm_share_by_iteration = if routed {
                    (0..iterations)
                        .map(|i| {
                            let p = 0.5 + 0.1 * i as f64 * if s == 0 { 1.0 } else { -0.5 };
                            domains
                                .iter()
                                .enumerate()
                                .map(|(d, name)| {
                                    let q = if d == 0 { p } else { 1.0 - p };
                                    (name.clone(), vec![q, 1.0 - q])
                                })
                                .collect()
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                runs.push(RunResult {
                    strategy: strategy.to_string(),
                    condition: condition.to_string(),
                    seed,
                    policy_accuracy: scores(policy, 200),
                    label_accuracy: scores(label, 500),
                    labels_decided: 500,
                    labels_correct: (label * 500.0).round() as u64 + seed,
                    reward_label: BTreeMap::new(),
                    panel: Vec::new(),
                    implicit_margin: None,
                    label_accuracy_by_iteration: (0..iterations)
                        .map(|i| (i != 0 || seed != 0).then_some(label - 0.02 + 0.01 * i as f64))
                        .collect(),
                    arm_share_by_iteration,
                    rm_calls: if routed { 1000 + 10 * seed } else { 2000 },
                    pairs_judged: 500,
                    pairs_kept: 400 + seed,
                });
            }
        }
    }
    let offline_router = conditions
        .iter()
        .map(|condition| OfflineRouterTable {
            condition: condition.to_string(),
            seed: 0,
            train_records: 800,
            validation_records: 100,
            test_records: 100,
            rows: [
                "router", "rm-add", "rm-judge", "random", "majority", "oracle",
            ]
            .iter()
            .enumerate()
            .map(|(i, name)| RoutingRow {
                name: name.to_string(),
                overall: 0.6 + 0.05 * i as f64,
                per_domain: BTreeMap::from([
                    ("math".to_string(), 0.61 + 0.05 * i as f64),
                    ("code".to_string(), 0.59 + 0.05 * i as f64),
                ]),
            })
            .collect(),
        })
        .collect();
    Results {
        name: "example".to_string(),
        config_hash: "0123abcd".to_string(),
        rm_accuracy: rm_names
            .iter()
            .enumerate()
            .map(|(i, rm)| RmAccuracy {
                rm: rm.clone(),
                per_domain: BTreeMap::from([
                    ("math".to_string(), 0.7 + 0.1 * i as f64),
                    ("code".to_string(), 0.8 - 0.1 * i as f64),
                ]),
                overall: 0.75,
                pairs: 300,
            })
            .collect(),
        domains,
        rm_names,
        seeds: seeds as usize,
        premise_seeds: None,
        iterations,
        sampling: Some("the policy (online DPO), frozen reference".into()),
        sft_accuracy: scores(0.42, 200),
        offline_router,
        runs,
        ablations: vec![
            Ablation {
                name: "no-prior".to_string(),
                claim: "The offline prior speeds up routing".to_string(),
                measure: "policy accuracy".to_string(),
                with_value: Summary {
                    mean: 0.55,
                    ci95: Some(0.02),
                    n: 3,
                },
                without_value: Summary {
                    mean: 0.5,
                    ci95: Some(0.03),
                    n: 3,
                },
                relative_change: 0.1,
            },
            Ablation {
                name: "no-cache".to_string(),
                claim: "Caching halves RM calls".to_string(),
                measure: "RM calls".to_string(),
                with_value: Summary {
                    mean: 1000.0,
                    ci95: None,
                    n: 1,
                },
                without_value: Summary {
                    mean: 2000.0,
                    ci95: None,
                    n: 1,
                },
                relative_change: -0.5,
            },
        ],
        premise: None,
        panel: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(tag: &str) -> tempfile::TempDir {
        tempfile::Builder::new()
            .prefix(tag)
            .tempdir()
            .expect("temp dir")
    }

    #[test]
    fn results_round_trip_through_json() {
        let dir = scratch_dir("results-json");
        let path = dir.path().join("results.json");
        let results = example();
        results.write_json(&path).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\n"));
        assert!(text.ends_with("}\n"));
        assert_eq!(Results::read_json(&path).unwrap(), results);
        // Same value, same bytes.
        results.write_json(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["results.json"]);
    }

    #[test]
    fn timings_round_trip_through_json() {
        let dir = scratch_dir("timings-json");
        let path = dir.path().join("timings.json");
        let timings = Timings {
            stages: vec![("sft".to_string(), 1.5), ("online".to_string(), 20.25)],
            runs: BTreeMap::from([("laser/shifted/0".to_string(), 3.0)]),
            total_s: 21.75,
            cpu: "Test CPU".to_string(),
        };
        timings.write_json(&path).unwrap();
        assert_eq!(Timings::read_json(&path).unwrap(), timings);
    }

    #[test]
    fn non_finite_values_are_refused_and_leave_no_file() {
        let dir = scratch_dir("results-nan");
        let path = dir.path().join("results.json");
        let mut results = example();
        results.ablations[0].relative_change = f64::NAN;
        let err = results.write_json(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(!path.exists());
    }

    #[test]
    fn unreadable_file_names_itself() {
        let dir = scratch_dir("results-bad");
        let path = dir.path().join("results.json");
        std::fs::write(&path, "{}").unwrap();
        let err = Results::read_json(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("results.json"), "{err}");
    }
}
