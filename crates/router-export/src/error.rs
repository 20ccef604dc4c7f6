//! What can go wrong reading, writing or running an export, each error naming the file,
//! tensor or input involved.

use std::path::PathBuf;

/// A router-export error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// A backbone's config that cannot be used.
    #[error("{path}: {reason}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong, naming the key.
        reason: String,
    },
    /// An export that cannot be read, or that does not fit what it is used for.
    #[error("{path}: {reason}")]
    Artifact {
        /// The export file or backbone folder.
        path: PathBuf,
        /// What is wrong (tensor, shape, RM names, version).
        reason: String,
    },
    /// The input cannot be used as asked (no texts, a pair index out of range, …).
    #[error("{0}")]
    Input(String),
    /// A model of the lm crate failed.
    #[error(transparent)]
    Lm(#[from] lm::Error),
    /// The bandit prior could not be built.
    #[error(transparent)]
    Bandit(#[from] bandit::Error),
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
