//! Welford's running mean and variance.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_finite};

/// Running mean and variance of a stream, by Welford's update: numerically stable where
/// the textbook Σx² − (Σx)²/n cancels catastrophically for large means. Used, for example,
/// to put each reward model's scores on one scale before an ensemble averages them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Welford {
    count: u64,
    mean: f64,
    /// Σ (x − mean)², maintained incrementally.
    sum_sq_dev: f64,
}

impl Welford {
    /// No observations yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Absorbs one finite value.
    pub fn push(&mut self, value: f64) -> Result<()> {
        ensure_finite(|| "value".into(), value)?;
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.sum_sq_dev += delta * (value - self.mean);
        Ok(())
    }

    /// Number of values absorbed.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Mean (0 before any value).
    pub fn mean(&self) -> f64 {
        self.mean
    }

    /// Population variance Σ(x − x̄)²/n (0 before any value).
    pub fn population_variance(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_sq_dev / self.count as f64
        }
    }

    /// Sample variance Σ(x − x̄)²/(n − 1) (0 with fewer than two values).
    pub fn sample_variance(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            self.sum_sq_dev / (self.count - 1) as f64
        }
    }

    /// Sample standard deviation.
    pub fn std(&self) -> f64 {
        self.sample_variance().sqrt()
    }

    /// (value − mean)/(std + epsilon): a z-score against the stream so far.
    pub fn standardize(&self, value: f64, epsilon: f64) -> Result<f64> {
        ensure_finite(|| "value".into(), value)?;
        if !(epsilon.is_finite() && epsilon >= 0.0) {
            return Err(Error::InvalidParameter {
                name: "epsilon",
                value: epsilon.to_string(),
                reason: "must be finite and >= 0",
            });
        }
        Ok((value - self.mean) / (self.std() + epsilon))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // 2, 4, 4, 4, 5, 5, 7, 9: mean 5, population variance 4, sample variance 32/7.
        let mut w = Welford::new();
        for x in [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0] {
            w.push(x).unwrap();
        }
        assert_eq!(w.count(), 8);
        assert!((w.mean() - 5.0).abs() < 1e-15);
        assert!((w.population_variance() - 4.0).abs() < 1e-12);
        assert!((w.sample_variance() - 32.0 / 7.0).abs() < 1e-12);
        assert!((w.standardize(5.0, 0.0).unwrap()).abs() < 1e-15);
    }

    #[test]
    fn stable_at_large_offsets() {
        // The naive formula loses every digit here; Welford keeps the variance of 1, 2, 3.
        let mut w = Welford::new();
        for x in [1e9 + 1.0, 1e9 + 2.0, 1e9 + 3.0] {
            w.push(x).unwrap();
        }
        assert!((w.sample_variance() - 1.0).abs() < 1e-6);
    }

    #[test]
    fn rejects_nan_without_absorbing() {
        let mut w = Welford::new();
        w.push(1.0).unwrap();
        let before = w.clone();
        assert!(w.push(f64::NAN).is_err());
        assert!(w.push(f64::NEG_INFINITY).is_err());
        assert_eq!(w, before);
    }
}
