//! The experiment's errors: each names the stage or file it came from.

use std::path::{Path, PathBuf};

/// What went wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A config file or value is invalid.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The file (or the key, for values set in code).
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A stage produced something unusable (e.g. no verifier-decided pair).
    #[error("stage `{stage}`: {reason}")]
    Stage {
        /// The stage.
        stage: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The task suite.
    #[error(transparent)]
    Suite(#[from] synthetic_tasks::Error),
    /// A model.
    #[error(transparent)]
    Lm(#[from] lm::Error),
    /// A reward model or the pool.
    #[error(transparent)]
    Pool(#[from] rm_pool::Error),
    /// The offline router.
    #[error(transparent)]
    OfflineRouter(#[from] offline_router::Error),
    /// The online trainer.
    #[error(transparent)]
    Trainer(#[from] rlhf_trainer::Error),
    /// A metric.
    #[error(transparent)]
    Metric(#[from] eval_harness::Error),
    /// The tokenizer library.
    #[error("tokenizer training: {0}")]
    Tokenizers(String),
}

impl Error {
    /// A closure wrapping an IO error with `path`.
    pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<atomic_write::Error> for Error {
    fn from(err: atomic_write::Error) -> Self {
        Self::Io {
            path: err.path,
            source: err.source,
        }
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
