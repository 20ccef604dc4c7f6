//! Means with standard errors, as lm-evaluation-harness reports them.

use serde::Serialize;

/// A sample mean and its standard error.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct MeanStderr {
    /// The mean of the values.
    pub mean: f64,
    /// Sample standard deviation (n − 1 in the denominator) over √n; 0 for n < 2.
    pub stderr: f64,
}

impl MeanStderr {
    /// Of `values`; `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let stderr = if n < 2 {
            0.0
        } else {
            let sum_sq: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            (sum_sq / (n - 1) as f64).sqrt() / (n as f64).sqrt()
        };
        Some(Self { mean, stderr })
    }

    /// Of booleans as 0/1.
    pub fn of_hits(hits: impl IntoIterator<Item = bool>) -> Option<Self> {
        let values: Vec<f64> = hits.into_iter().map(|h| f64::from(u8::from(h))).collect();
        Self::of(&values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed() {
        // mean 0.5; sample variance (4 · 0.25) / 3 = 1/3; stderr √(1/3) / 2.
        let m = MeanStderr::of_hits([true, false, true, false]).unwrap();
        assert_eq!(m.mean, 0.5);
        assert!((m.stderr - (1.0_f64 / 3.0).sqrt() / 2.0).abs() < 1e-15);
        assert_eq!(MeanStderr::of(&[2.0]).unwrap().stderr, 0.0);
        assert!(MeanStderr::of(&[]).is_none());
    }
}
