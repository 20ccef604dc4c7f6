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
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON file or line could not be written or read.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
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
}

impl Error {
    /// An [`Error::Io`] for `path`, for `map_err`.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }

    /// An [`Error::Json`] for `path`, for `map_err`.
    pub(crate) fn json(path: impl Into<PathBuf>) -> impl FnOnce(serde_json::Error) -> Self {
        let path = path.into();
        move |source| Self::Json { path, source }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl From<atomic_write::Error> for Error {
    fn from(err: atomic_write::Error) -> Self {
        Self::Io {
            path: err.path,
            source: err.source,
        }
    }
}
