//! The entry point: every requested estimator on one log, with intervals and diagnostics.

use serde::Serialize;

use crate::bootstrap::{BootstrapConfig, ClusterSums, percentile_intervals};
use crate::data::{LoggingDistribution, OpeData};
use crate::diagnostics::{Warning, WeightDiagnostics, target_monte_carlo};
use crate::error::{Error, Result};
use crate::estimator::{Estimator, Terms};

/// One estimator's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// The estimator as it prints (e.g. `"ips:clip=10"`, `"switch-dr:tau=10"`), which parses
    /// back to it.
    pub estimator: String,
    /// V̂(π), in the units of the logged values.
    pub value: f64,
    /// Lower end of the percentile cluster-bootstrap interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// The Monte-Carlo standard error that the target's sampled probabilities add to
    /// `value` (see the crate docs); `None` when the target is exact.
    pub monte_carlo_se: Option<f64>,
    /// Bootstrap resamples left out because their Σ den was 0 (only SNIPS can have any).
    pub failed_resamples: usize,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// N, the number of logged rows.
    pub n: usize,
    /// C, the number of distinct clusters (the bootstrap's unit).
    pub clusters: usize,
    /// One estimate per requested estimator that is defined on this log, in the order
    /// requested (match by [`Estimate::estimator`], not by position: an undefined one is
    /// left out with a [`Warning::Undefined`]).
    pub estimates: Vec<Estimate>,
    /// The importance weights' diagnostics.
    pub weights: WeightDiagnostics,
    /// What makes the estimates less trustworthy than their intervals suggest; empty when
    /// nothing does.
    pub warnings: Vec<Warning>,
}

/// Estimates the target's value with every estimator in `estimators`, each with a
/// percentile cluster-bootstrap interval (the same resamples for all), a Monte-Carlo
/// standard error when the target is sampled, and the weight diagnostics and warnings.
///
/// `logging_distribution`, the logging policy's full distribution on every row, is
/// optional: it adds [`WeightDiagnostics::unsupported_target_mass`] and, when it is
/// sampled, [`Warning::LoggingMonteCarlo`].
///
/// The intervals treat q̂ as fixed: they cover the sampling noise of the log given q̂, not
/// the error of q̂ itself. That is right for DR with a cross-fitted q̂ (its error enters
/// only to second order), but DM's interval is honest only as far as q̂ is right.
///
/// # Errors
/// - [`Error::Empty`] for an empty estimator list;
/// - [`Error::InvalidParameter`] for a bad estimator parameter or bootstrap config;
/// - [`Error::Shape`], [`Error::InvalidValue`] when the logging distribution does not fit
///   the log (naming the row);
///
/// An estimator whose Σ den is 0 on the log or in every resample (SNIPS when the target
/// never chooses a logged arm) has no estimate: it is left out of `estimates` with a
/// [`Warning::Undefined`].
///
/// # Shapes
/// `data`: N rows, K arms; `logging_distribution.values`: `[N, K]`; the result holds one
/// [`Estimate`] per defined estimator.
pub fn evaluate(
    data: &OpeData,
    estimators: &[Estimator],
    bootstrap: &BootstrapConfig,
    logging_distribution: Option<&LoggingDistribution>,
) -> Result<Evaluation> {
    if estimators.is_empty() {
        return Err(Error::Empty {
            what: "the estimator list",
        });
    }
    for estimator in estimators {
        estimator.check()?;
    }
    bootstrap.check()?;
    if let Some(logging) = logging_distribution {
        logging.check(data)?;
    }

    // [E] per-row terms and full-log estimates; an estimator without a value on this log
    // (Σ den = 0 on the log or in every resample) is left out with a warning.
    let terms: Vec<Terms> = estimators.iter().map(|e| e.terms(data)).collect();
    let clusters: Vec<u64> = data.rows().iter().map(|row| row.cluster).collect();
    let sums = ClusterSums::new(&clusters, &terms);
    let intervals = percentile_intervals(&sums, bootstrap);

    let weights = WeightDiagnostics::new(data, logging_distribution);
    let mut warnings = weights.warnings(data, logging_distribution);
    let mut estimates = Vec::with_capacity(estimators.len());
    for ((estimator, terms), interval) in estimators.iter().zip(&terms).zip(intervals) {
        let name = estimator.to_string();
        let value = match terms.estimate(estimator) {
            Ok(value) => value,
            Err(Error::Undefined { reason, .. }) => {
                warnings.push(Warning::Undefined {
                    estimator: name,
                    reason,
                });
                continue;
            }
            Err(err) => return Err(err),
        };
        if interval.low.is_nan() {
            warnings.push(Warning::Undefined {
                estimator: name,
                reason: "every bootstrap resample has a total weight of 0",
            });
            continue;
        }
        let monte_carlo_se = data
            .target()
            .draws
            .map(|draws| estimator.monte_carlo_se(data, terms, value, draws));
        if let Some(se) = monte_carlo_se {
            let half_width = (interval.high - interval.low) / 2.0;
            warnings.extend(target_monte_carlo(&name, se, half_width));
        }
        estimates.push(Estimate {
            estimator: name,
            value,
            low: interval.low,
            high: interval.high,
            monte_carlo_se,
            failed_resamples: interval.failed,
        });
    }
    Ok(Evaluation {
        n: data.n_rows(),
        clusters: sums.n_clusters,
        estimates,
        weights,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::data::{LoggedRow, TargetProbabilities};
    use crate::estimator::tests::hand_log;
    use crate::reward_model::{RewardModelKind, fit_q_hat};

    /// The simulated router log: K = 3 arms, context x ~ U[0, 1]², Bernoulli values with
    /// means p(x) = [0.2 + 0.6 x0, 0.5, 0.8 − 0.6 x1]; softmax logging over the logits
    /// [1.5 x1, 0.3, 1.5 x0] (propensities ≥ 0.14); target 0.8 on arm 0 when x0 > 0.5 and on
    /// arm 2 otherwise, 0.1 on each other arm.
    ///
    /// V(π) by halves of x0 (x0 and x1 independent, E[x1] = 1/2):
    /// x0 > 1/2:  0.8·(0.2 + 0.6·0.75) + 0.1·0.5 + 0.1·(0.8 − 0.3) = 0.62;
    /// x0 ≤ 1/2:  0.1·(0.2 + 0.6·0.25) + 0.1·0.5 + 0.8·0.5           = 0.485;
    /// V = (0.62 + 0.485)/2 = 0.5525.
    const SIMULATED_VALUE: f64 = 0.5525;

    struct Simulation {
        rows: Vec<LoggedRow>,
        /// `[N, 2]`
        contexts: Vec<f64>,
        /// `[N, 3]`
        target: Vec<f64>,
    }

    fn arm_means(x: &[f64]) -> [f64; 3] {
        [0.2 + 0.6 * x[0], 0.5, 0.8 - 0.6 * x[1]]
    }

    fn target_row(x: &[f64]) -> [f64; 3] {
        if x[0] > 0.5 {
            [0.8, 0.1, 0.1]
        } else {
            [0.1, 0.1, 0.8]
        }
    }

    /// Draws an arm from `probabilities` by inverting the CDF.
    fn draw(probabilities: &[f64], rng: &mut ChaCha8Rng) -> usize {
        let u: f64 = rng.random();
        let mut cumulative = 0.0;
        for (arm, p) in probabilities.iter().enumerate() {
            cumulative += p;
            if u < cumulative {
                return arm;
            }
        }
        probabilities.len() - 1
    }

    fn simulate(n: usize, rng: &mut ChaCha8Rng) -> Simulation {
        let mut simulation = Simulation {
            rows: Vec::with_capacity(n),
            contexts: Vec::with_capacity(2 * n),
            target: Vec::with_capacity(3 * n),
        };
        for index in 0..n {
            let x = [rng.random::<f64>(), rng.random::<f64>()];
            let logits = [1.5 * x[1], 0.3, 1.5 * x[0]];
            let normaliser: f64 = logits.iter().map(|l| l.exp()).sum();
            let logging = logits.map(|l| l.exp() / normaliser);
            let arm = draw(&logging, rng);
            let value = if rng.random::<f64>() < arm_means(&x)[arm] {
                1.0
            } else {
                0.0
            };
            simulation.rows.push(LoggedRow {
                arm,
                propensity: logging[arm],
                value,
                cluster: index as u64,
            });
            simulation.contexts.extend_from_slice(&x);
            simulation.target.extend_from_slice(&target_row(&x));
        }
        simulation
    }

    fn exact(values: Vec<f64>) -> TargetProbabilities {
        TargetProbabilities {
            n_arms: 3,
            values,
            draws: None,
        }
    }

    /// A target that never chooses a logged arm leaves SNIPS undefined (Σw = 0): it is left
    /// out with a warning, and the estimators that are defined still report.
    #[test]
    fn an_undefined_estimator_is_left_out_with_a_warning() {
        let rows = vec![
            LoggedRow {
                arm: 0,
                propensity: 0.5,
                value: 1.0,
                cluster: 0,
            },
            LoggedRow {
                arm: 0,
                propensity: 0.5,
                value: 0.0,
                cluster: 1,
            },
        ];
        // Always arm 1, which the log never shows.
        let target = TargetProbabilities {
            n_arms: 2,
            values: vec![0.0, 1.0, 0.0, 1.0],
            draws: None,
        };
        let data = OpeData::new(rows, target, vec![0.5, 0.25, 0.5, 0.25]).unwrap();
        let estimators = [
            Estimator::Ips { clip: None },
            Estimator::Snips,
            Estimator::DirectMethod,
        ];
        let evaluation = evaluate(&data, &estimators, &BootstrapConfig::default(), None).unwrap();
        let names: Vec<&str> = evaluation
            .estimates
            .iter()
            .map(|e| e.estimator.as_str())
            .collect();
        assert_eq!(names, ["ips", "dm"]);
        assert_eq!(evaluation.estimates[0].value, 0.0);
        assert_eq!(evaluation.estimates[1].value, 0.25);
        assert!(evaluation.warnings.iter().any(|w| matches!(
            w,
            Warning::Undefined { estimator, .. } if estimator == "snips"
        )));
    }

    #[test]
    fn intervals_cover_the_true_value_at_about_the_nominal_rate() {
        const REPETITIONS: usize = 60;
        // 95% intervals; this loose floor still fails an estimator that is biased by about
        // one standard error or whose intervals are half as wide as they should be.
        const MIN_COVERAGE: f64 = 0.8;
        // The estimators that use q̂ get a cross-fitted ridge model, except DM: its interval
        // holds q̂ fixed and so covers V only as far as q̂ is right (with this fitted q̂ its
        // coverage is about 0.2: the ridge's shrinkage bias is several of its standard
        // errors). It is checked with the true arm means, where its interval is exact.
        let fitted = [
            Estimator::Ips { clip: None },
            Estimator::Snips,
            Estimator::DoublyRobust,
            Estimator::SwitchDr { tau: 4.0 },
        ];
        let oracle = [Estimator::DirectMethod];
        let estimators: Vec<Estimator> = fitted.iter().chain(&oracle).copied().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(2024);
        let mut covered = [0_usize; 5];
        let mut total = [0.0; 5];
        for repetition in 0..REPETITIONS {
            let simulation = simulate(400, &mut rng);
            let config = BootstrapConfig {
                resamples: 400,
                level: 0.95,
                seed: repetition as u64,
            };
            let q_hat = fit_q_hat(
                RewardModelKind::Ridge { lambda: 1.0 },
                &simulation.rows,
                Some(&simulation.contexts),
                2,
                3,
                2,
            )
            .unwrap();
            let true_means: Vec<f64> = simulation
                .contexts
                .chunks_exact(2)
                .flat_map(arm_means)
                .collect();
            let target = exact(simulation.target);
            let data = OpeData::new(simulation.rows.clone(), target.clone(), q_hat).unwrap();
            let with_truth = OpeData::new(simulation.rows, target, true_means).unwrap();
            let estimates = evaluate(&data, &fitted, &config, None)
                .unwrap()
                .estimates
                .into_iter()
                .chain(
                    evaluate(&with_truth, &oracle, &config, None)
                        .unwrap()
                        .estimates,
                );
            for (k, estimate) in estimates.enumerate() {
                total[k] += estimate.value;
                if (estimate.low..=estimate.high).contains(&SIMULATED_VALUE) {
                    covered[k] += 1;
                }
            }
        }
        for (k, estimator) in estimators.iter().enumerate() {
            let coverage = covered[k] as f64 / REPETITIONS as f64;
            let mean = total[k] / REPETITIONS as f64;
            assert!(
                coverage >= MIN_COVERAGE,
                "{estimator}: coverage {coverage}, mean estimate {mean} vs {SIMULATED_VALUE}"
            );
            // The mean of 60 estimates (standard error ≲ 0.01) lies near the truth.
            assert!((mean - SIMULATED_VALUE).abs() < 0.03, "{estimator}: {mean}");
        }
    }

    #[test]
    fn monte_carlo_se_matches_the_spread_over_redraws() {
        // One fixed log; the target's rows are redrawn from the true π with D draws each,
        // many times. The reported SE must match the spread of the estimates.
        const DRAWS: usize = 20;
        const REDRAWS: usize = 300;
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let simulation = simulate(200, &mut rng);
        let q_hat = fit_q_hat(RewardModelKind::ArmMean, &simulation.rows, None, 0, 3, 2).unwrap();
        let config = BootstrapConfig {
            resamples: 1,
            ..BootstrapConfig::default()
        };
        let estimators = [
            Estimator::Ips { clip: None },
            Estimator::Snips,
            Estimator::DirectMethod,
            Estimator::DoublyRobust,
        ];
        let mut values = vec![Vec::new(); estimators.len()];
        let mut reported = vec![0.0; estimators.len()];
        for _ in 0..REDRAWS {
            let mut sampled = Vec::with_capacity(simulation.target.len());
            for row in simulation.target.chunks_exact(3) {
                let mut counts = [0.0; 3];
                for _ in 0..DRAWS {
                    counts[draw(row, &mut rng)] += 1.0;
                }
                sampled.extend(counts.map(|c| c / DRAWS as f64));
            }
            let target = TargetProbabilities {
                n_arms: 3,
                values: sampled,
                draws: Some(DRAWS),
            };
            let data = OpeData::new(simulation.rows.clone(), target, q_hat.clone()).unwrap();
            let evaluation = evaluate(&data, &estimators, &config, None).unwrap();
            for (k, estimate) in evaluation.estimates.iter().enumerate() {
                values[k].push(estimate.value);
                reported[k] += estimate.monte_carlo_se.unwrap() / REDRAWS as f64;
            }
        }
        for (k, estimator) in estimators.iter().enumerate() {
            let mean = values[k].iter().sum::<f64>() / REDRAWS as f64;
            let variance =
                values[k].iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (REDRAWS - 1) as f64;
            let ratio = reported[k] / variance.sqrt();
            assert!(
                (0.8..1.25).contains(&ratio),
                "{estimator}: reported {} vs empirical {}",
                reported[k],
                variance.sqrt()
            );
        }
    }

    #[test]
    fn monte_carlo_se_respects_its_bound_and_is_none_when_exact() {
        let data = hand_log();
        let exact = evaluate(
            &data,
            &[Estimator::DoublyRobust],
            &BootstrapConfig::default(),
            None,
        )
        .unwrap();
        assert_eq!(exact.estimates[0].monte_carlo_se, None);

        // The same rows as frequencies of D = 4 draws. DR's coefficients are
        // c_i = q̂_i + (y_i − q̂_i(a_i))/π0_i on the logged arm (den = 1, so g_i = c_i − V̂
        // has the same spread):
        // row 0: [1.25, 0.5, 0]   (range 1.25), π = [½, ½, 0]
        // row 1: [0.25, −1.5, 1]  (range 2.5),  π one-hot: no variance
        // row 2: [0, 0.5, 1.75]   (range 1.75), π = [¼, ¼, ½]
        // row 3: [0, 0, 0.5]      (range 0.5),  π one-hot: no variance
        // Bound: SE ≤ max R / (2√(N·D)) = 2.5 / (2·4) = 0.3125.
        let target = TargetProbabilities {
            draws: Some(4),
            ..data.target().clone()
        };
        let sampled = OpeData::new(data.rows().to_vec(), target, data.q_hat().to_vec()).unwrap();
        let evaluation = evaluate(
            &sampled,
            &[Estimator::DoublyRobust],
            &BootstrapConfig::default(),
            None,
        )
        .unwrap();
        let se = evaluation.estimates[0].monte_carlo_se.unwrap();
        let bound = 2.5 / (2.0 * (4.0_f64 * 4.0).sqrt());
        assert!(se > 0.0 && se <= bound, "{se} > {bound}");
        // Row 0: mean 0.875, Σ π (c − mean)² = 0.375²; row 2: mean 1,
        // Σ π (c − 1)² = ¼·1 + ¼·0.25 + ½·0.5625 = 0.59375. SE = sqrt(Σ/D) / N.
        let expected = ((0.375_f64 * 0.375 + 0.59375) / 4.0).sqrt() / 4.0;
        assert!((se - expected).abs() < 1e-12, "{se} vs {expected}");
    }

    #[test]
    fn evaluation_reports_every_estimator_in_order() {
        let data = hand_log();
        let estimators: Vec<Estimator> = ["ips", "snips", "dm", "dr", "switch-dr:tau=3"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        let evaluation = evaluate(&data, &estimators, &BootstrapConfig::default(), None).unwrap();
        assert_eq!((evaluation.n, evaluation.clusters), (4, 4));
        let names: Vec<&str> = evaluation
            .estimates
            .iter()
            .map(|e| e.estimator.as_str())
            .collect();
        assert_eq!(names, ["ips", "snips", "dm", "dr", "switch-dr:tau=3"]);
        for (estimate, estimator) in evaluation.estimates.iter().zip(&estimators) {
            assert_eq!(estimate.value, estimator.estimate(&data).unwrap());
            assert!(estimate.low <= estimate.high);
        }
    }

    #[test]
    fn bootstrap_is_reproducible_and_resamples_clusters_whole() {
        // 20 clusters of 10 rows; every row of a cluster has the same value, so all the
        // variance lies between clusters. Weights are all 1 (target = logging = uniform).
        let rows: Vec<LoggedRow> = (0..200)
            .map(|i| LoggedRow {
                arm: i % 2,
                propensity: 0.5,
                value: ((i / 10) % 5) as f64,
                cluster: (i / 10) as u64,
            })
            .collect();
        let target = TargetProbabilities {
            n_arms: 2,
            values: vec![0.5; 400],
            draws: None,
        };
        let clustered = OpeData::new(rows.clone(), target.clone(), vec![0.0; 400]).unwrap();
        let config = BootstrapConfig {
            seed: 3,
            ..BootstrapConfig::default()
        };
        let estimators = [Estimator::Ips { clip: None }];
        let first = evaluate(&clustered, &estimators, &config, None).unwrap();
        assert_eq!(
            first,
            evaluate(&clustered, &estimators, &config, None).unwrap()
        );
        assert_eq!(first.clusters, 20);

        let independent_rows = rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| LoggedRow {
                cluster: i as u64,
                ..row
            })
            .collect();
        let independent = OpeData::new(independent_rows, target, vec![0.0; 400]).unwrap();
        let naive = evaluate(&independent, &estimators, &config, None).unwrap();
        let width = |e: &Evaluation| e.estimates[0].high - e.estimates[0].low;
        // The design effect is √10 ≈ 3.2 for clusters of 10 identical rows.
        assert!(
            width(&first) > 2.0 * width(&naive),
            "clustered {} vs independent {}",
            width(&first),
            width(&naive)
        );
        assert_eq!(first.estimates[0].value, naive.estimates[0].value);
    }

    #[test]
    fn a_coarsely_sampled_target_warns() {
        // DM with q̂ = [0, 1]: each row's term is the sampled probability of arm 1, whose
        // Monte-Carlo noise with D = 2 is as large as the spread between rows.
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let n = 100;
        let rows: Vec<LoggedRow> = (0..n)
            .map(|i| LoggedRow {
                arm: 0,
                propensity: 0.5,
                value: 0.0,
                cluster: i as u64,
            })
            .collect();
        let sampled: Vec<f64> = (0..n)
            .flat_map(
                |_| match draw(&[0.5, 0.5], &mut rng) + draw(&[0.5, 0.5], &mut rng) {
                    0 => [1.0, 0.0],
                    1 => [0.5, 0.5],
                    _ => [0.0, 1.0],
                },
            )
            .collect();
        let q_hat = [0.0, 1.0].repeat(n);
        let coarse = TargetProbabilities {
            n_arms: 2,
            values: sampled,
            draws: Some(2),
        };
        let data = OpeData::new(rows.clone(), coarse, q_hat.clone()).unwrap();
        let estimators = [Estimator::DirectMethod];
        let config = BootstrapConfig::default();
        let evaluation = evaluate(&data, &estimators, &config, None).unwrap();
        assert!(
            evaluation.warnings.iter().any(
                |w| matches!(w, Warning::TargetMonteCarlo { estimator, .. } if estimator == "dm")
            ),
            "{:?}",
            evaluation.warnings
        );

        // The same log with the exact target: no Monte-Carlo warning.
        let exact = TargetProbabilities {
            n_arms: 2,
            values: vec![0.5; 2 * n],
            draws: None,
        };
        let data = OpeData::new(rows, exact, q_hat).unwrap();
        let evaluation = evaluate(&data, &estimators, &config, None).unwrap();
        assert!(evaluation.warnings.is_empty(), "{:?}", evaluation.warnings);
    }

    #[test]
    fn shared_types_are_send_and_sync() {
        fn autotraits<T: Send + Sync>() {}
        autotraits::<OpeData>();
        autotraits::<Evaluation>();
        autotraits::<Estimator>();
        autotraits::<BootstrapConfig>();
        autotraits::<Error>();
    }

    #[test]
    fn bad_requests_are_rejected() {
        let data = hand_log();
        let config = BootstrapConfig::default();
        assert!(matches!(
            evaluate(&data, &[], &config, None),
            Err(Error::Empty { .. })
        ));
        assert!(matches!(
            evaluate(
                &data,
                &[Estimator::SwitchDr { tau: f64::NAN }],
                &config,
                None
            ),
            Err(Error::InvalidParameter { name: "tau", .. })
        ));
        let short = LoggingDistribution {
            values: vec![1.0, 0.0, 0.0],
            draws: None,
        };
        assert!(matches!(
            evaluate(&data, &[Estimator::Snips], &config, Some(&short)),
            Err(Error::Shape { .. })
        ));
    }
}
