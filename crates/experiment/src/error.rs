//! The experiment's errors: each names the stage or file it came from.

use std::path::PathBuf;

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
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
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
    /// An offline router export (the routing panel's contexts).
    #[error(transparent)]
    Export(#[from] router_export::Error),
    /// A router scored on the routing panel.
    #[error(transparent)]
    Bandit(#[from] bandit::Error),
    /// The online trainer.
    #[error(transparent)]
    Trainer(#[from] rlhf_trainer::Error),
    /// Off-policy evaluation (the OPE check).
    #[error(transparent)]
    OffPolicy(#[from] off_policy::Error),
    /// A metric.
    #[error(transparent)]
    Metric(#[from] eval_harness::Error),
    /// The tokenizer library.
    #[error("tokenizer training: {0}")]
    Tokenizers(String),
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;
