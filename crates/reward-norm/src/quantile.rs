//! The 20/80 quantile clamp over a global history (METHOD.md §4, shared by v5 and LASeR).

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Percentile of sorted values by linear interpolation between closest ranks (NumPy's
/// default "linear" method): position p/100 · (n − 1).
///
/// # Panics
/// If `sorted` is empty or `p` is outside [0, 100] (programmer errors).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    assert!(!sorted.is_empty(), "percentile of an empty history");
    assert!(
        (0.0..=100.0).contains(&p),
        "percentile {p} outside [0, 100]"
    );
    let position = p / 100.0 * (sorted.len() - 1) as f64;
    let below = position.floor() as usize;
    let above = (below + 1).min(sorted.len() - 1);
    let fraction = position - below as f64;
    sorted[below] + fraction * (sorted[above] - sorted[below])
}

/// Settings of a [`QuantileClamp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuantileClampParams {
    /// Lower percentile (reference 20): values at or below it map to 0.
    pub low_percentile: f64,
    /// Upper percentile (reference 80): values at or above it map to 1.
    pub high_percentile: f64,
    /// Below this many values in the history every output is 0.5 (reference 20).
    pub min_history: usize,
    /// Keep only the newest this-many values (`None`: the whole run, as the reference does).
    pub max_history: Option<usize>,
}

impl Default for QuantileClampParams {
    fn default() -> Self {
        Self {
            low_percentile: 20.0,
            high_percentile: 80.0,
            min_history: 20,
            max_history: None,
        }
    }
}

impl QuantileClampParams {
    /// Validates every field.
    pub fn check(&self) -> Result<()> {
        let (low, high) = (self.low_percentile, self.high_percentile);
        if !(0.0..=100.0).contains(&low) || !(0.0..=100.0).contains(&high) || low >= high {
            return Err(Error::InvalidParameter {
                name: "low_percentile/high_percentile",
                value: format!("{low}/{high}"),
                reason: "need 0 <= low < high <= 100",
            });
        }
        if self.max_history == Some(0) {
            return Err(Error::InvalidParameter {
                name: "max_history",
                value: "0".into(),
                reason: "must be >= 1 when set",
            });
        }
        Ok(())
    }
}

/// Rescales values to [0, 1] by where they fall between the history's low and high
/// percentiles Q_lo and Q_hi: 0 at or below Q_lo, 1 at or above Q_hi, linear in between;
/// 0.5 while the history is shorter than `min_history`; and when Q_hi ≤ Q_lo (a degenerate
/// history) 1 if the value exceeds Q_lo, else 0.
///
/// The history is kept sorted, so an insertion costs O(log n + n) moves and a percentile O(1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantileClamp {
    params: QuantileClampParams,
    /// All kept values, ascending.
    sorted: Vec<f64>,
    /// The same values in arrival order, kept only when the history is windowed.
    arrivals: VecDeque<f64>,
}

impl QuantileClamp {
    /// An empty history.
    pub fn new(params: QuantileClampParams) -> Result<Self> {
        params.check()?;
        Ok(Self {
            params,
            sorted: Vec::new(),
            arrivals: VecDeque::new(),
        })
    }

    /// Number of values in the history.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether the history is empty.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The settings.
    pub fn params(&self) -> &QuantileClampParams {
        &self.params
    }

    /// Appends finite values (the caller validates), oldest first.
    pub(crate) fn extend(&mut self, values: &[f64]) {
        for &value in values {
            let at = self.sorted.partition_point(|&v| v < value);
            self.sorted.insert(at, value);
            if let Some(window) = self.params.max_history {
                self.arrivals.push_back(value);
                if self.arrivals.len() > window {
                    let oldest = self.arrivals.pop_front().expect("window >= 1");
                    let at = self.sorted.partition_point(|&v| v < oldest);
                    self.sorted.remove(at);
                }
            }
        }
    }

    /// Rescales `value` against the current history, in [0, 1].
    pub fn rescale(&self, value: f64) -> f64 {
        if self.sorted.len() < self.params.min_history.max(1) {
            return 0.5;
        }
        let low = percentile(&self.sorted, self.params.low_percentile);
        let high = percentile(&self.sorted, self.params.high_percentile);
        if high <= low {
            return if value > low { 1.0 } else { 0.0 };
        }
        ((value - low) / (high - low)).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [20, 80]) == [1.6, 3.4]
        let values = [1.0, 2.0, 3.0, 4.0];
        assert!((percentile(&values, 20.0) - 1.6).abs() < 1e-12);
        assert!((percentile(&values, 80.0) - 3.4).abs() < 1e-12);
        assert_eq!(percentile(&values, 0.0), 1.0);
        assert_eq!(percentile(&values, 100.0), 4.0);
        assert_eq!(percentile(&[7.0], 20.0), 7.0);
    }

    #[test]
    fn window_drops_the_oldest() {
        let params = QuantileClampParams {
            max_history: Some(3),
            min_history: 1,
            ..QuantileClampParams::default()
        };
        let mut clamp = QuantileClamp::new(params).unwrap();
        clamp.extend(&[10.0, 1.0, 2.0, 3.0]);
        assert_eq!(clamp.sorted, vec![1.0, 2.0, 3.0]);
    }

    #[test]
    fn rejects_bad_params() {
        let params = QuantileClampParams {
            low_percentile: 80.0,
            high_percentile: 20.0,
            ..QuantileClampParams::default()
        };
        assert!(QuantileClamp::new(params).is_err());
    }
}
