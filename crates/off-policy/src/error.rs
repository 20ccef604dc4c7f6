//! The one error type of the crate.

/// Everything that can go wrong in this crate. Every variant names the input that was wrong
/// and, for per-row problems, the row (0-based, in log order).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A slice or matrix has the wrong number of elements.
    #[error("{what}: expected {expected} values, found {found}")]
    Shape {
        /// Which input (e.g. "q_hat", "target probabilities").
        what: String,
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// A number that is NaN, infinite or outside its valid range.
    #[error("{what} at row {index} is {value}: {reason}")]
    InvalidValue {
        /// Which input (e.g. "propensity", "target probability of arm 2").
        what: String,
        /// The row the value belongs to.
        index: usize,
        /// The offending value.
        value: f64,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A logged arm is not below the number of arms.
    #[error("arm at row {index} is {arm}, but there are only {n_arms} arms")]
    ArmOutOfRange {
        /// The row.
        index: usize,
        /// The logged arm.
        arm: usize,
        /// Number of arms (K).
        n_arms: usize,
    },
    /// An input that must hold at least one element holds none.
    #[error("{what} is empty")]
    Empty {
        /// Which input.
        what: &'static str,
    },
    /// A parameter (estimator, reward model, bootstrap, cross-fitting) is outside its valid
    /// range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name, as spelled in the struct or estimator syntax.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
    /// An estimator specification does not parse (see [`Estimator`](crate::Estimator)'s
    /// `FromStr`).
    #[error("cannot parse estimator {input:?}: {reason}")]
    ParseEstimator {
        /// The text given.
        input: String,
        /// What is wrong, and the accepted syntax.
        reason: String,
    },
    /// An estimate is undefined on this log (a ratio estimator whose denominator is 0).
    #[error("estimator {estimator} is undefined on this log: {reason}")]
    Undefined {
        /// The estimator, as it prints.
        estimator: String,
        /// Why.
        reason: &'static str,
    },
    /// A ridge system lost positive definiteness (a numerical failure: with `lambda > 0` the
    /// system is positive definite in exact arithmetic).
    #[error("ridge regression of arm {arm} (fold {fold}) is not positive definite")]
    NotPositiveDefinite {
        /// The arm whose model failed.
        arm: usize,
        /// The held-out fold whose training set it was fitted on.
        fold: usize,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Checks a length, naming the input when it is wrong.
pub(crate) fn ensure_len(what: &str, expected: usize, found: usize) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::Shape {
            what: what.to_string(),
            expected,
            found,
        })
    }
}

/// Checks that every value of a row-major `[N, width]` matrix is finite, naming the row of
/// the first that is not.
pub(crate) fn ensure_finite_rows(what: &str, values: &[f64], width: usize) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(position) => Err(Error::InvalidValue {
            what: what.to_string(),
            index: position / width.max(1),
            value: values[position],
            reason: "must be finite",
        }),
    }
}
