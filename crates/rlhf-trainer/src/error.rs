//! The one error type of the crate.

use std::path::PathBuf;

/// Everything that can stop the trainer. Each variant names what was wrong: the file (and
/// line), the config key, the RM or the pair.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A line of an input file is malformed.
    #[error("{path}:{line}: {reason}")]
    Line {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A configuration file is malformed or a value is out of range.
    #[error("{path}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// The parts of a run do not fit together (pool vs router export, dimensions, …).
    #[error("{0}")]
    Mismatch(String),
    /// `--resume` found no run to continue, or a run made with a different configuration.
    #[error("cannot resume {dir}: {reason}")]
    Resume {
        /// The run folder.
        dir: PathBuf,
        /// Why.
        reason: String,
    },
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// The language model failed (loading, generation, log-probs, saving).
    #[error(transparent)]
    Lm(#[from] lm::Error),
    /// The reward-model pool failed outside a routed call (building it, the oracle).
    #[error(transparent)]
    Pool(#[from] rm_pool::Error),
    /// The router rejected an input or a state file.
    #[error(transparent)]
    Bandit(#[from] bandit::Error),
    /// A normaliser rejected its input.
    #[error(transparent)]
    RewardNorm(#[from] reward_norm::Error),
    /// The offline router's export could not be loaded or run.
    #[error(transparent)]
    Export(#[from] router_export::Error),
    /// Off-policy evaluation rejected its inputs.
    #[error(transparent)]
    OffPolicy(#[from] off_policy::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
