//! The inputs of an evaluation: the logged decisions, the target policy's probabilities and
//! the direct method's predictions, checked once in [`OpeData::new`].

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, ensure_finite_rows, ensure_len};

/// How far a row of probabilities may sum from 1 (absolute), to allow for rounding in files.
pub const PROBABILITY_SUM_TOLERANCE: f64 = 1e-6;

/// One decision of the logging router.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoggedRow {
    /// The arm (reward model) the logging router chose, in `0..K`.
    pub arm: usize,
    /// π0(a_i|x_i): the probability with which the logging router chose that arm, in (0, 1].
    pub propensity: f64,
    /// y_i: the value observed for the chosen arm (finite, in the units of the reward being
    /// evaluated, e.g. 1 = the chosen reward model ranked the pair correctly).
    pub value: f64,
    /// The unit the bootstrap resamples whole, e.g. a prompt id: rows of one cluster are
    /// correlated, rows of different clusters are assumed independent.
    pub cluster: u64,
}

/// The target policy π(a|x_i) on every logged context: the router being evaluated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TargetProbabilities {
    /// K: the number of arms.
    pub n_arms: usize,
    /// `[N, K]` row-major probabilities; each row lies in [0, 1] and sums to 1.
    pub values: Vec<f64>,
    /// `Some(D)` when each row is the frequency of each arm among D draws of a stochastic
    /// router (e.g. Thompson sampling, which has no closed-form propensities); `None` when
    /// the rows are exact. With draws, every estimate also gets a Monte-Carlo standard error.
    pub draws: Option<usize>,
}

impl TargetProbabilities {
    /// N, the number of rows (0 when `n_arms` is 0).
    pub fn n_rows(&self) -> usize {
        self.values.len().checked_div(self.n_arms).unwrap_or(0)
    }

    /// π(·|x_i): row `index`, `[K]`.
    ///
    /// # Panics
    /// If `index >= N`.
    pub fn row(&self, index: usize) -> &[f64] {
        &self.values[index * self.n_arms..(index + 1) * self.n_arms]
    }

    /// Checks the matrix on its own: K ≥ 1, a whole number of rows, entries in [0, 1], rows
    /// summing to 1, and draws ≥ 1 when given.
    pub fn check(&self) -> Result<()> {
        if self.n_arms == 0 {
            return Err(Error::InvalidParameter {
                name: "n_arms",
                value: "0".into(),
                reason: "the target needs at least one arm",
            });
        }
        if !self.values.len().is_multiple_of(self.n_arms) {
            return Err(Error::Shape {
                what: format!(
                    "target probabilities (a multiple of K = {}; one row per logged decision)",
                    self.n_arms
                ),
                expected: self.values.len().next_multiple_of(self.n_arms),
                found: self.values.len(),
            });
        }
        check_draws(self.draws)?;
        check_probability_rows("target", &self.values, self.n_arms)
    }
}

/// The logging router's full distribution over arms on every logged context, for the
/// diagnostics only: the estimators need just the logged arm's propensity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoggingDistribution {
    /// `[N, K]` row-major probabilities π0(a|x_i); each row sums to 1, and the entry of the
    /// logged arm equals that row's [`LoggedRow::propensity`].
    pub values: Vec<f64>,
    /// `Some(D)` when the rows are frequencies among D draws (then so are the propensities),
    /// `None` when exact.
    pub draws: Option<usize>,
}

impl LoggingDistribution {
    /// Checks the shape and values against the log it describes.
    pub(crate) fn check(&self, data: &OpeData) -> Result<()> {
        let n_arms = data.n_arms();
        ensure_len(
            "logging distribution ([N, K])",
            data.n_rows() * n_arms,
            self.values.len(),
        )?;
        check_draws(self.draws)?;
        check_probability_rows("logging", &self.values, n_arms)?;
        for (index, (row, probabilities)) in data
            .rows()
            .iter()
            .zip(self.values.chunks_exact(n_arms))
            .enumerate()
        {
            let logged = probabilities[row.arm];
            if (logged - row.propensity).abs() > PROBABILITY_SUM_TOLERANCE {
                return Err(Error::InvalidValue {
                    what: "logging probability of the logged arm".into(),
                    index,
                    value: logged,
                    reason: "differs from the row's propensity by more than 1e-6",
                });
            }
        }
        Ok(())
    }
}

/// A checked log: rows, the target's probabilities and the direct method's predictions,
/// consistent in shape and value (see [`OpeData::new`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpeData {
    rows: Vec<LoggedRow>,
    target: TargetProbabilities,
    q_hat: Vec<f64>,
}

impl OpeData {
    /// Checks and bundles an evaluation's inputs.
    ///
    /// `q_hat` is q̂(x_i, a), the predicted value of every arm on every row, in the units of
    /// [`LoggedRow::value`]: the model of the direct method and of DR (see
    /// [`fit_q_hat`](crate::fit_q_hat); all zeros when no estimator needs it).
    ///
    /// # Errors
    /// - [`Error::Empty`] when there are no rows;
    /// - [`Error::InvalidParameter`] for K = 0 or `draws = Some(0)`;
    /// - [`Error::Shape`] when `target.values` or `q_hat` is not `[N, K]`;
    /// - [`Error::ArmOutOfRange`] for a logged arm ≥ K;
    /// - [`Error::InvalidValue`], naming the row, for a propensity outside (0, 1] or not
    ///   finite, a value or prediction that is not finite, a target probability outside
    ///   [0, 1], or a target row that does not sum to 1 within
    ///   [`PROBABILITY_SUM_TOLERANCE`].
    ///
    /// # Shapes
    /// `rows`: `[N]`; `target.values`, `q_hat`: `[N, K]` row-major.
    pub fn new(rows: Vec<LoggedRow>, target: TargetProbabilities, q_hat: Vec<f64>) -> Result<Self> {
        if rows.is_empty() {
            return Err(Error::Empty {
                what: "the log (no rows)",
            });
        }
        let n_rows = rows.len();
        let n_arms = target.n_arms;
        if n_arms == 0 {
            return Err(Error::InvalidParameter {
                name: "n_arms",
                value: "0".into(),
                reason: "the target needs at least one arm",
            });
        }
        ensure_len(
            "target probabilities ([N, K])",
            n_rows * n_arms,
            target.values.len(),
        )?;
        target.check()?;
        for (index, row) in rows.iter().enumerate() {
            check_row(index, row, n_arms)?;
        }
        ensure_len("q_hat ([N, K])", n_rows * n_arms, q_hat.len())?;
        ensure_finite_rows("q_hat", &q_hat, n_arms)?;
        Ok(Self {
            rows,
            target,
            q_hat,
        })
    }

    /// The logged rows, `[N]`.
    pub fn rows(&self) -> &[LoggedRow] {
        &self.rows
    }

    /// The target's probabilities.
    pub fn target(&self) -> &TargetProbabilities {
        &self.target
    }

    /// q̂, `[N, K]` row-major.
    pub fn q_hat(&self) -> &[f64] {
        &self.q_hat
    }

    /// q̂(x_i, ·): row `index`, `[K]`.
    ///
    /// # Panics
    /// If `index >= N`.
    pub fn q_hat_row(&self, index: usize) -> &[f64] {
        let n_arms = self.n_arms();
        &self.q_hat[index * n_arms..(index + 1) * n_arms]
    }

    /// N, the number of logged rows.
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// K, the number of arms.
    pub fn n_arms(&self) -> usize {
        self.target.n_arms
    }

    /// The importance weights w_i = π(a_i|x_i) / π0(a_i|x_i), `[N]`, dimensionless.
    pub fn weights(&self) -> Vec<f64> {
        self.rows
            .iter()
            .enumerate()
            .map(|(index, row)| self.target.row(index)[row.arm] / row.propensity)
            .collect()
    }
}

/// The true value of a target policy when every arm's value on every row is known (in a
/// simulation, or a log where every arm was scored): V(π) = (1/N) Σ_i Σ_a π(a|x_i) r_{i,a}.
/// This is what validation compares the estimates with.
///
/// # Errors
/// As [`TargetProbabilities::check`]; [`Error::Empty`] for N = 0; [`Error::Shape`] when
/// `outcomes` is not `[N, K]`; [`Error::InvalidValue`] for a non-finite outcome.
///
/// # Shapes
/// `target.values`, `outcomes`: `[N, K]` row-major; returns a scalar in the units of the
/// outcomes.
pub fn true_value(target: &TargetProbabilities, outcomes: &[f64]) -> Result<f64> {
    target.check()?;
    let n_rows = target.n_rows();
    if n_rows == 0 {
        return Err(Error::Empty {
            what: "the target (no rows)",
        });
    }
    ensure_len("outcomes ([N, K])", target.values.len(), outcomes.len())?;
    ensure_finite_rows("outcome", outcomes, target.n_arms)?;
    let total: f64 = target
        .values
        .chunks_exact(target.n_arms)
        .zip(outcomes.chunks_exact(target.n_arms))
        .map(|(probabilities, values)| dot(probabilities, values))
        .sum();
    Ok(total / n_rows as f64)
}

/// Checks one logged row against K.
fn check_row(index: usize, row: &LoggedRow, n_arms: usize) -> Result<()> {
    if row.arm >= n_arms {
        return Err(Error::ArmOutOfRange {
            index,
            arm: row.arm,
            n_arms,
        });
    }
    let propensity = |reason| Error::InvalidValue {
        what: "propensity".into(),
        index,
        value: row.propensity,
        reason,
    };
    if row.propensity == 0.0 {
        return Err(propensity(
            "the logged arm has propensity 0: no estimator can weight it",
        ));
    }
    if !(row.propensity > 0.0 && row.propensity <= 1.0) {
        return Err(propensity("a propensity must lie in (0, 1]"));
    }
    if !row.value.is_finite() {
        return Err(Error::InvalidValue {
            what: "value".into(),
            index,
            value: row.value,
            reason: "must be finite",
        });
    }
    Ok(())
}

/// Rejects `draws = Some(0)`.
fn check_draws(draws: Option<usize>) -> Result<()> {
    if draws == Some(0) {
        return Err(Error::InvalidParameter {
            name: "draws",
            value: "0".into(),
            reason: "Monte-Carlo probabilities need at least one draw",
        });
    }
    Ok(())
}

/// Checks a row-major `[N, K]` matrix of probabilities: entries in [0, 1], rows summing to 1.
fn check_probability_rows(policy: &str, values: &[f64], n_arms: usize) -> Result<()> {
    for (index, row) in values.chunks_exact(n_arms).enumerate() {
        for (arm, &p) in row.iter().enumerate() {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::InvalidValue {
                    what: format!("{policy} probability of arm {arm}"),
                    index,
                    value: p,
                    reason: "a probability must lie in [0, 1]",
                });
            }
        }
        let sum: f64 = row.iter().sum();
        if (sum - 1.0).abs() > PROBABILITY_SUM_TOLERANCE {
            return Err(Error::InvalidValue {
                what: format!("sum of the {policy} probabilities"),
                index,
                value: sum,
                reason: "each row must sum to 1 (within 1e-6)",
            });
        }
    }
    Ok(())
}

/// Inner product of two equal-length slices.
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A row with cluster = its index.
    pub(crate) fn row(index: u64, arm: usize, propensity: f64, value: f64) -> LoggedRow {
        LoggedRow {
            arm,
            propensity,
            value,
            cluster: index,
        }
    }

    /// Two rows, K = 2, exact uniform target, q̂ = 0.
    fn valid() -> (Vec<LoggedRow>, TargetProbabilities, Vec<f64>) {
        let rows = vec![row(0, 0, 0.5, 1.0), row(1, 1, 0.5, 0.0)];
        let target = TargetProbabilities {
            n_arms: 2,
            values: vec![0.5; 4],
            draws: None,
        };
        (rows, target, vec![0.0; 4])
    }

    /// The row index and reason of an `InvalidValue`, or a panic naming the error.
    fn invalid_value(result: Result<OpeData>) -> (String, usize, &'static str) {
        match result {
            Err(Error::InvalidValue {
                what,
                index,
                reason,
                ..
            }) => (what, index, reason),
            other => panic!("expected InvalidValue, got {other:?}"),
        }
    }

    #[test]
    fn accepts_a_valid_log() {
        let (rows, target, q_hat) = valid();
        let data = OpeData::new(rows, target, q_hat).unwrap();
        assert_eq!((data.n_rows(), data.n_arms()), (2, 2));
        assert_eq!(data.weights(), vec![1.0, 1.0]);
    }

    #[test]
    fn zero_propensity_names_the_row() {
        let (mut rows, target, q_hat) = valid();
        rows[1].propensity = 0.0;
        let (what, index, reason) = invalid_value(OpeData::new(rows, target, q_hat));
        assert_eq!((what.as_str(), index), ("propensity", 1));
        assert_eq!(
            reason,
            "the logged arm has propensity 0: no estimator can weight it"
        );
    }

    #[test]
    fn propensity_above_one_or_nan_is_rejected() {
        for bad in [1.5, f64::NAN, -0.1] {
            let (mut rows, target, q_hat) = valid();
            rows[0].propensity = bad;
            let (what, index, _) = invalid_value(OpeData::new(rows, target, q_hat));
            assert_eq!((what.as_str(), index), ("propensity", 0));
        }
    }

    #[test]
    fn nan_value_names_the_row() {
        let (mut rows, target, q_hat) = valid();
        rows[1].value = f64::NAN;
        let (what, index, _) = invalid_value(OpeData::new(rows, target, q_hat));
        assert_eq!((what.as_str(), index), ("value", 1));
    }

    #[test]
    fn arm_out_of_range_names_the_row() {
        let (mut rows, target, q_hat) = valid();
        rows[1].arm = 2;
        let err = OpeData::new(rows, target, q_hat).unwrap_err();
        assert!(
            matches!(
                err,
                Error::ArmOutOfRange {
                    index: 1,
                    arm: 2,
                    n_arms: 2
                }
            ),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "arm at row 1 is 2, but there are only 2 arms"
        );
    }

    #[test]
    fn target_row_not_summing_to_one_names_the_row() {
        let (rows, mut target, q_hat) = valid();
        target.values[3] = 0.4;
        let (what, index, _) = invalid_value(OpeData::new(rows, target, q_hat));
        assert_eq!(
            (what.as_str(), index),
            ("sum of the target probabilities", 1)
        );
    }

    #[test]
    fn target_probability_outside_unit_interval_names_row_and_arm() {
        let (rows, mut target, q_hat) = valid();
        target.values[0] = -0.5;
        target.values[1] = 1.5;
        let (what, index, _) = invalid_value(OpeData::new(rows, target, q_hat));
        assert_eq!((what.as_str(), index), ("target probability of arm 0", 0));
    }

    #[test]
    fn shape_mismatches_name_the_input() {
        let (rows, mut target, q_hat) = valid();
        target.values.truncate(2);
        let err = OpeData::new(rows.clone(), target, q_hat.clone()).unwrap_err();
        assert!(
            matches!(&err, Error::Shape { expected: 4, found: 2, what } if what.contains("target")),
            "{err:?}"
        );
        let (_, target, _) = valid();
        let err = OpeData::new(rows, target, vec![0.0; 3]).unwrap_err();
        assert!(
            matches!(&err, Error::Shape { expected: 4, found: 3, what } if what.contains("q_hat")),
            "{err:?}"
        );
    }

    #[test]
    fn non_finite_q_hat_names_the_row() {
        let (rows, target, mut q_hat) = valid();
        q_hat[3] = f64::INFINITY;
        let (what, index, _) = invalid_value(OpeData::new(rows, target, q_hat));
        assert_eq!((what.as_str(), index), ("q_hat", 1));
    }

    #[test]
    fn empty_log_and_zero_draws_are_rejected() {
        let (_, target, q_hat) = valid();
        assert!(matches!(
            OpeData::new(vec![], target, q_hat),
            Err(Error::Empty { .. })
        ));
        let (rows, mut target, q_hat) = valid();
        target.draws = Some(0);
        assert!(matches!(
            OpeData::new(rows, target, q_hat),
            Err(Error::InvalidParameter { name: "draws", .. })
        ));
    }

    #[test]
    fn logging_distribution_must_match_the_propensities() {
        let (rows, target, q_hat) = valid();
        let data = OpeData::new(rows, target, q_hat).unwrap();
        let good = LoggingDistribution {
            values: vec![0.5, 0.5, 0.5, 0.5],
            draws: None,
        };
        good.check(&data).unwrap();
        let bad = LoggingDistribution {
            values: vec![0.5, 0.5, 0.7, 0.3],
            draws: None,
        };
        let err = bad.check(&data).unwrap_err();
        assert!(
            matches!(err, Error::InvalidValue { index: 1, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn true_value_is_the_mean_expected_outcome() {
        // Row 0: 0.25·1 + 0.75·3 = 2.5; row 1: 1·(−1) = −1; mean 0.75.
        let target = TargetProbabilities {
            n_arms: 2,
            values: vec![0.25, 0.75, 1.0, 0.0],
            draws: None,
        };
        let value = true_value(&target, &[1.0, 3.0, -1.0, 5.0]).unwrap();
        assert!((value - 0.75).abs() < 1e-15, "{value}");
        assert!(matches!(
            true_value(&target, &[1.0, 3.0, -1.0]),
            Err(Error::Shape { .. })
        ));
    }
}
