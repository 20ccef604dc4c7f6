//! What can go wrong when scoring, each naming the reward model and, where there is one, the
//! item or file.

use std::path::PathBuf;

/// A reward-model error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The RM cannot be reached (or its circuit breaker is open): the router should mask it.
    #[error("reward model `{rm}` is unavailable: {reason}")]
    Unavailable {
        /// The RM's name.
        rm: String,
        /// Why.
        reason: String,
    },
    /// The backend failed in a way retrying will not fix.
    #[error("reward model `{rm}`: {reason}")]
    Backend {
        /// The RM's name.
        rm: String,
        /// What went wrong.
        reason: String,
    },
    /// A backend produced a NaN or infinite score.
    #[error("reward model `{rm}` gave a non-finite score ({score}) for item {item}")]
    NonFinite {
        /// The RM's name.
        rm: String,
        /// Index of the item in the batch.
        item: usize,
        /// The score.
        score: f32,
    },
    /// An item the RM cannot score (e.g. an empty response, no reference answer).
    #[error("reward model `{rm}`, item {item}: {reason}")]
    Input {
        /// The RM's name.
        rm: String,
        /// Index of the item in the batch.
        item: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A bad pool or RM configuration.
    #[error("{path}: {reason}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong (field names included).
        reason: String,
    },
    /// A malformed line of a data file.
    #[error("{path}:{line}: {reason}")]
    Data {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// The model layer failed.
    #[error("reward model `{rm}`: {source}")]
    Model {
        /// The RM's name.
        rm: String,
        /// The cause.
        source: lm::Error,
    },
}

impl Error {
    /// An lm error, attributed to the RM `rm`.
    pub(crate) fn model(rm: &str, source: lm::Error) -> Self {
        Self::Model {
            rm: rm.into(),
            source,
        }
    }

    /// A backend failure of the RM `rm`.
    pub(crate) fn backend(rm: &str, reason: impl Into<String>) -> Self {
        Self::Backend {
            rm: rm.into(),
            reason: reason.into(),
        }
    }
}

/// Results of this crate.
pub type Result<T> = std::result::Result<T, Error>;
