//! The storage layer's one error type.

use tongjia_domain::DomainError;

use crate::tx::StoredResponse;

/// Why a storage call did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A domain rule refused the change (nothing was written).
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The idempotency key was used before with a different request.
    #[error("idempotency key reused with a different request")]
    IdempotencyKeyReused,
    /// The idempotency key was used before with this request: here is its response.
    #[error("idempotent replay")]
    Replay(StoredResponse),
    /// Stored data that does not parse back into domain types.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// An operation (backup, restore) that cannot go ahead, with why.
    #[error("{0}")]
    Operation(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl StoreError {
    /// Maps a failed parse of stored text to `Corrupt`.
    pub(crate) fn corrupt(e: DomainError) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }
}

/// Parses stored text with a domain parser; failure means the database is corrupt.
pub(crate) fn parse<T>(r: Result<T, DomainError>) -> StoreResult<T> {
    r.map_err(StoreError::corrupt)
}
