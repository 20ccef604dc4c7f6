//! The one error type of the crate.

use answer_check::synthetic::Domain;

use crate::split::Split;

/// Everything that can go wrong in this crate. Every variant names what was wrong and what
/// was expected.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A suite parameter is outside its valid range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// Parameter name, as spelled in [`SuiteParams`](crate::SuiteParams).
        name: &'static str,
        /// The rejected value, formatted.
        value: String,
        /// What the valid range is.
        reason: &'static str,
    },
    /// A domain's prompt space is too small to supply the distinct prompts asked of a split.
    #[error(
        "domain `{domain}` supplied only {found} of the {wanted} distinct prompts asked for \
         split `{split}` in {attempts} draws; enlarge its parameters or ask for fewer"
    )]
    PromptSpaceExhausted {
        /// The domain that ran out.
        domain: Domain,
        /// The split being sampled.
        split: Split,
        /// Distinct prompts of the split found.
        found: usize,
        /// Distinct prompts asked for.
        wanted: usize,
        /// Draws made before giving up.
        attempts: usize,
    },
    /// A name that is no [`Split`].
    #[error("unknown split `{found}`: expected one of {expected}")]
    UnknownSplit {
        /// The name given.
        found: String,
        /// The valid names, comma-separated.
        expected: String,
    },
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
