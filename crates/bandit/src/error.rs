//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can go wrong in this crate. Every variant names what was wrong
/// (the argument, arm, index or file) and, where it applies, what was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A hyperparameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name, as spelled in the params struct.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
    /// A vector or matrix has the wrong number of elements.
    #[error("{what}: expected {expected} values, found {found}")]
    DimensionMismatch {
        /// Which input (e.g. "context", "prior mean of arm 2").
        what: String,
        /// Expected length.
        expected: usize,
        /// Length found.
        found: usize,
    },
    /// A NaN or infinite number where a finite one is required.
    #[error("{what} is not finite at index {index}: {value}")]
    NonFinite {
        /// Which input (e.g. "context 3", "reward").
        what: String,
        /// Position of the offending value inside that input.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// An update would overflow the posterior (finite inputs whose products are not).
    #[error("{what}: update overflows f64 (context norm² = {norm_sq:e}, reward = {reward:e})")]
    Overflow {
        /// Which feedback item.
        what: String,
        /// Squared Euclidean norm of the context.
        norm_sq: f64,
        /// The reward.
        reward: f64,
    },
    /// An arm index is not below the number of arms.
    #[error("arm {arm} is out of range: the router has {n_arms} arms")]
    ArmOutOfRange {
        /// The rejected arm index.
        arm: usize,
        /// Number of arms of the router.
        n_arms: usize,
    },
    /// The policy must choose an arm that the mask marks unavailable, or no arm is available.
    #[error("no selectable arm: {reason}")]
    NoArmAvailable {
        /// Why (all masked, or the fixed arm is masked).
        reason: String,
    },
    /// A saved state or prior does not fit the router it is loaded into.
    #[error("{path}: {what} is {found}, expected {expected}")]
    ShapeMismatch {
        /// The file.
        path: PathBuf,
        /// "number of arms" or "context dimension".
        what: &'static str,
        /// Value the caller expects.
        expected: usize,
        /// Value in the file.
        found: usize,
    },
    /// A file has a format tag or version this build does not read.
    #[error("{path}: unsupported format {found:?} (this build reads {expected:?})")]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Format tag and version found.
        found: String,
        /// Format tag and version supported.
        expected: String,
    },
    /// A file parsed but its content is inconsistent.
    #[error("{path}: {reason}")]
    InvalidFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A line of a JSONL file is not a valid record.
    #[error("{}:{line}: {reason}", path.display())]
    InvalidRecord {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The posterior precision lost positive definiteness (a numerical failure, not bad input).
    #[error("Cholesky factorisation of arm {arm}'s precision failed (non-positive pivot {pivot})")]
    NotPositiveDefinite {
        /// The arm.
        arm: usize,
        /// Index of the failing pivot.
        pivot: usize,
    },
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Checks that every value is finite, naming the first that is not.
pub(crate) fn ensure_finite(what: impl FnOnce() -> String, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            what: what(),
            index,
            value: values[index],
        }),
    }
}

/// Checks a length, naming the input when it is wrong.
pub(crate) fn ensure_len(
    what: impl FnOnce() -> String,
    expected: usize,
    found: usize,
) -> Result<()> {
    if expected == found {
        Ok(())
    } else {
        Err(Error::DimensionMismatch {
            what: what(),
            expected,
            found,
        })
    }
}
