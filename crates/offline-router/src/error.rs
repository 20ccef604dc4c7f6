//! What can go wrong in the offline stage, each error naming the file, line, field, RM or
//! tensor involved.

use std::path::PathBuf;

/// An offline-router error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// A malformed line of a data file.
    #[error("{path}:{line}: {reason}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A bad configuration value.
    #[error("{path}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// A checkpoint or export that cannot be read, or that does not fit what it is used for.
    #[error("{path}: {reason}")]
    Artifact {
        /// The checkpoint folder or export file.
        path: PathBuf,
        /// What is wrong (tensor, shape, RM names, version).
        reason: String,
    },
    /// The data cannot be used as asked (no records, a record without a judgment, …).
    #[error("{0}")]
    Input(String),
    /// A model of the lm crate failed.
    #[error(transparent)]
    Lm(#[from] lm::Error),
    /// Scoring with the RM pool failed.
    #[error(transparent)]
    RmPool(#[from] rm_pool::Error),
    /// Reading, writing or running an export failed.
    #[error(transparent)]
    Export(#[from] router_export::Error),
    /// The bandit prior could not be built.
    #[error(transparent)]
    Bandit(#[from] bandit::Error),
    /// A metric could not be computed.
    #[error(transparent)]
    Metric(#[from] eval_harness::Error),
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An [`Error::Artifact`] on `path`.
    pub(crate) fn artifact(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self::Artifact {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
