//! Percentile cluster bootstrap of ratio estimates Σ num / Σ den.
//!
//! Rows of one cluster (e.g. the candidate pairs of one prompt) share their context and are
//! correlated, so the bootstrap resamples clusters whole: C clusters are drawn with
//! replacement from the C in the log, and each resample's estimate is Σ num / Σ den over
//! the rows of the drawn clusters. Resampling rows instead would treat correlated rows as
//! independent and give intervals that are too narrow.
//!
//! Each cluster's terms are summed once, so a resample costs O(C) per estimator. All
//! estimators share the same resamples (paired), so their intervals are comparable.

use std::collections::HashMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::estimator::Terms;

/// The ChaCha8 stream the bootstrap draws from, so that a seed shared with other seeded
/// parts of an experiment still gives this one its own sequence.
const BOOTSTRAP_STREAM: u64 = 0x0b00_7357;

/// How the confidence intervals are computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BootstrapConfig {
    /// B, the number of resamples (≥ 1; default 1000).
    pub resamples: usize,
    /// The interval's nominal coverage, in (0, 1) (default 0.95): the interval runs from the
    /// (1 − level)/2 to the (1 + level)/2 quantile of the resampled estimates.
    pub level: f64,
    /// Seed of the ChaCha8 generator: the same seed and log give the same intervals on any
    /// machine.
    pub seed: u64,
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self {
            resamples: 1000,
            level: 0.95,
            seed: 0,
        }
    }
}

impl BootstrapConfig {
    /// Checks that there is at least one resample and that the level lies in (0, 1).
    pub fn check(&self) -> Result<()> {
        if self.resamples == 0 {
            return Err(Error::InvalidParameter {
                name: "resamples",
                value: "0".into(),
                reason: "the bootstrap needs at least one resample",
            });
        }
        if !(self.level > 0.0 && self.level < 1.0) {
            return Err(Error::InvalidParameter {
                name: "level",
                value: self.level.to_string(),
                reason: "the confidence level must lie in (0, 1)",
            });
        }
        Ok(())
    }
}

/// Per-cluster sums of several estimators' terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClusterSums {
    /// C, the number of distinct clusters.
    pub(crate) n_clusters: usize,
    /// E, the number of estimators.
    n_series: usize,
    /// `[C, E]` Σ num over each cluster's rows.
    num: Vec<f64>,
    /// `[C, E]` Σ den over each cluster's rows.
    den: Vec<f64>,
}

impl ClusterSums {
    /// Sums each estimator's terms by cluster. Clusters are numbered in order of first
    /// appearance in the log, so the resamples depend on the log's order but not on hashing.
    ///
    /// # Shapes
    /// `clusters`: `[N]`; each of the E `terms`: `[N]`.
    pub(crate) fn new(clusters: &[u64], terms: &[Terms]) -> Self {
        let mut index_of = HashMap::new();
        // [N] dense cluster index of each row
        let dense: Vec<usize> = clusters
            .iter()
            .map(|&cluster| {
                let next = index_of.len();
                *index_of.entry(cluster).or_insert(next)
            })
            .collect();
        let (n_clusters, n_series) = (index_of.len(), terms.len());
        let mut num = vec![0.0; n_clusters * n_series];
        let mut den = vec![0.0; n_clusters * n_series];
        for (series, terms) in terms.iter().enumerate() {
            for (row, &cluster) in dense.iter().enumerate() {
                num[cluster * n_series + series] += terms.num[row];
                den[cluster * n_series + series] += terms.den[row];
            }
        }
        Self {
            n_clusters,
            n_series,
            num,
            den,
        }
    }
}

/// One estimator's percentile interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Interval {
    /// The (1 − level)/2 quantile; NaN when every resample failed.
    pub(crate) low: f64,
    /// The (1 + level)/2 quantile; NaN when every resample failed.
    pub(crate) high: f64,
    /// Resamples skipped because their Σ den was 0.
    pub(crate) failed: usize,
}

/// Percentile intervals of every estimator over the same B cluster resamples.
pub(crate) fn percentile_intervals(sums: &ClusterSums, config: &BootstrapConfig) -> Vec<Interval> {
    let (n_clusters, n_series) = (sums.n_clusters, sums.n_series);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    rng.set_stream(BOOTSTRAP_STREAM);
    // [E][B] resampled estimates, failures left out.
    let mut estimates = vec![Vec::with_capacity(config.resamples); n_series];
    let mut failed = vec![0_usize; n_series];
    let mut num = vec![0.0; n_series];
    let mut den = vec![0.0; n_series];
    for _ in 0..config.resamples {
        num.fill(0.0);
        den.fill(0.0);
        for _ in 0..n_clusters {
            let cluster = rng.random_range(0..n_clusters);
            let at = cluster * n_series;
            for series in 0..n_series {
                num[series] += sums.num[at + series];
                den[series] += sums.den[at + series];
            }
        }
        for series in 0..n_series {
            if den[series] == 0.0 {
                failed[series] += 1;
            } else {
                estimates[series].push(num[series] / den[series]);
            }
        }
    }
    let tail = (1.0 - config.level) / 2.0;
    estimates
        .into_iter()
        .zip(failed)
        .map(|(mut values, failed)| {
            values.sort_by(f64::total_cmp);
            Interval {
                low: quantile(&values, tail),
                high: quantile(&values, 1.0 - tail),
                failed,
            }
        })
        .collect()
}

/// The q-quantile of sorted values by linear interpolation between order statistics
/// (Hyndman & Fan type 7, R's default); NaN for no values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(&last) = sorted.last() else {
        return f64::NAN;
    };
    let position = q * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    match sorted.get(below + 1) {
        Some(&above) => sorted[below] + (position - below as f64) * (above - sorted[below]),
        None => last,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(num: &[f64], den: &[f64]) -> Terms {
        Terms {
            num: num.to_vec(),
            den: den.to_vec(),
        }
    }

    #[test]
    fn quantiles_interpolate() {
        let values = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile(&values, 0.0), 1.0);
        assert_eq!(quantile(&values, 1.0), 8.0);
        // position 1.5 → 2 + 0.5·(4 − 2) = 3.
        assert_eq!(quantile(&values, 0.5), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn clusters_are_summed_in_order_of_appearance() {
        let sums = ClusterSums::new(&[7, 3, 7], &[terms(&[1.0, 2.0, 4.0], &[1.0, 1.0, 1.0])]);
        assert_eq!(sums.n_clusters, 2);
        assert_eq!(sums.num, vec![5.0, 2.0]);
        assert_eq!(sums.den, vec![2.0, 1.0]);
    }

    #[test]
    fn a_constant_gives_a_point_interval() {
        let sums = ClusterSums::new(&[0, 1, 2], &[terms(&[2.0; 3], &[1.0; 3])]);
        let interval = percentile_intervals(&sums, &BootstrapConfig::default())[0];
        assert_eq!(
            (interval.low, interval.high, interval.failed),
            (2.0, 2.0, 0)
        );
    }

    #[test]
    fn same_seed_same_interval_other_seed_other_interval() {
        let num: Vec<f64> = (0..50).map(|i| f64::from(i % 7)).collect();
        let clusters: Vec<u64> = (0..50).collect();
        let sums = ClusterSums::new(&clusters, &[terms(&num, &[1.0; 50])]);
        let config = BootstrapConfig {
            seed: 11,
            ..BootstrapConfig::default()
        };
        let first = percentile_intervals(&sums, &config);
        assert_eq!(first, percentile_intervals(&sums, &config));
        let other = BootstrapConfig { seed: 12, ..config };
        assert_ne!(first, percentile_intervals(&sums, &other));
    }

    #[test]
    fn zero_weight_resamples_are_counted_and_skipped() {
        // Only cluster 0 has weight; a resample misses it with probability (1/2)² = 1/4.
        let sums = ClusterSums::new(&[0, 1], &[terms(&[3.0, 0.0], &[1.0, 0.0])]);
        let config = BootstrapConfig {
            resamples: 400,
            ..BootstrapConfig::default()
        };
        let interval = percentile_intervals(&sums, &config)[0];
        assert!((60..140).contains(&interval.failed), "{}", interval.failed);
        assert_eq!((interval.low, interval.high), (3.0, 3.0));
    }

    #[test]
    fn bad_configs_are_rejected() {
        for config in [
            BootstrapConfig {
                resamples: 0,
                ..BootstrapConfig::default()
            },
            BootstrapConfig {
                level: 1.0,
                ..BootstrapConfig::default()
            },
            BootstrapConfig {
                level: f64::NAN,
                ..BootstrapConfig::default()
            },
        ] {
            assert!(matches!(
                config.check(),
                Err(Error::InvalidParameter { .. })
            ));
        }
        BootstrapConfig::default().check().unwrap();
    }
}
