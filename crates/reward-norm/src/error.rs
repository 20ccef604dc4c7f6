//! The one error type of the crate.

/// Everything that can go wrong when normalising rewards. Nothing is absorbed on error: the
/// normaliser's state is exactly what it was before the call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A NaN or infinite loss or value.
    #[error("{what} is not finite: {value}")]
    NonFinite {
        /// Which input (e.g. "loss of pair 3").
        what: String,
        /// The offending value.
        value: f64,
    },
    /// A hyperparameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name, as spelled in the params struct.
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// The valid range.
        reason: &'static str,
    },
    /// An arm index is not below the number of arms.
    #[error("arm {arm} is out of range: the normaliser tracks {n_arms} arms")]
    ArmOutOfRange {
        /// The rejected arm.
        arm: usize,
        /// Number of arms tracked.
        n_arms: usize,
    },
    /// A batch with nothing in it.
    #[error("empty batch: {what} needs at least one loss")]
    EmptyBatch {
        /// Which normaliser.
        what: &'static str,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Rejects NaN and ±inf, naming the input.
pub(crate) fn ensure_finite(what: impl FnOnce() -> String, value: f64) -> Result<()> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(Error::NonFinite {
            what: what(),
            value,
        })
    }
}
