//! Errors of the evaluation harness.

use std::path::PathBuf;

/// What went wrong, naming the file, line and field where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written, or a JSON document or record in it does not
    /// parse (the message names the path, and the line).
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// A line of a JSONL file (or a JSON file) is not a valid record.
    #[error("{path}:{line}: {reason}")]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based line number (1 for a whole-file JSON document).
        line: usize,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// The inputs of a metric are unusable (empty, inconsistent, out of range).
    #[error("{metric}: {reason}")]
    Metric {
        /// The metric.
        metric: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Inputs that do not fit together (an answer to a question the benchmark does not
    /// have, a baseline without an answer to a question).
    #[error("{context}: {reason}")]
    Inputs {
        /// Which inputs (a file, a benchmark part).
        context: String,
        /// What does not fit, naming the item.
        reason: String,
    },
    /// A local model (answering or judging) could not be loaded or run.
    #[error("{model}: {source}")]
    Model {
        /// The model's path or name.
        model: String,
        /// What the lm crate reported.
        source: lm::Error,
    },
    /// A reward model judging answers failed.
    #[error(transparent)]
    RewardModel(#[from] rm_pool::Error),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
