//! The service's errors, each with the HTTP status a client gets for it.

use axum::http::StatusCode;

/// What went wrong, phrased for the client that sent the request (or the operator who
/// started the service).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed: bad JSON, a wrong type, lengths that do not match.
    #[error("{0}")]
    BadRequest(String),
    /// The request is well formed but names something the service cannot accept (an unknown
    /// or already-used route id, a non-finite loss); nothing was applied.
    #[error("{0}")]
    Unprocessable(String),
    /// A limit was exceeded (body size, items per request); the message names the limit.
    #[error("{0}")]
    TooLarge(String),
    /// Missing or wrong bearer token.
    #[error("{0}")]
    Unauthorized(String),
    /// Every reward model that could judge the request failed or is unavailable.
    #[error("{0}")]
    Upstream(String),
    /// The configuration cannot work (e.g. a non-loopback bind without a token).
    #[error("{0}")]
    Config(String),
    /// Reading or writing the state folder failed.
    #[error(transparent)]
    File(#[from] atomic_write::Error),
    /// The bandit rejected an input or a state file.
    #[error(transparent)]
    Bandit(#[from] bandit::Error),
    /// The reward-model pool failed.
    #[error(transparent)]
    Pool(#[from] rm_pool::Error),
    /// The offline router's export failed (loading it, or computing contexts).
    #[error(transparent)]
    Export(#[from] router_export::Error),
    /// The loss normaliser rejected its input.
    #[error(transparent)]
    Trainer(#[from] rlhf_trainer::Error),
    /// The listening socket.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Upstream(_) | Self::Pool(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
