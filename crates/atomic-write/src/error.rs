//! The one error of file handling in the workspace: an I/O failure naming its path, or a
//! malformed JSON document or JSONL record naming its file and line.

use std::path::PathBuf;

/// A file could not be read or written, or its contents could not be parsed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file-system operation on `path` failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document or JSONL record of `path` that does not parse into what it should be,
    /// or a value that cannot be written as JSON.
    #[error("{}:{line}: {reason}", path.display())]
    Record {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 for a value that could not be serialised).
        line: usize,
        /// What is wrong, naming the field where the parser says.
        reason: String,
    },
}

impl Error {
    /// The path the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Io { path, .. } | Self::Record { path, .. } => path,
        }
    }
}

impl From<Error> for std::io::Error {
    /// The same kind of error (`InvalidData` for a bad record), its message naming the path.
    fn from(err: Error) -> Self {
        let kind = match &err {
            Error::Io { source, .. } => source.kind(),
            Error::Record { .. } => std::io::ErrorKind::InvalidData,
        };
        std::io::Error::new(kind, err)
    }
}

/// This crate's result.
pub type Result<T> = std::result::Result<T, Error>;

/// An [`Error::Record`] on `path` from serde_json's error (its line; 0 when writing), for
/// `map_err`: `serde_json::from_slice(&bytes).map_err(json_error(p))?`.
pub fn json_error(path: impl Into<PathBuf>) -> impl FnOnce(serde_json::Error) -> Error {
    let path = path.into();
    move |err| Error::Record {
        path,
        line: err.line(),
        reason: err.to_string(),
    }
}

/// An [`Error::Io`] on `path`, for `map_err`: `std::fs::read(p).map_err(io_error(p))?`.
pub fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
