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
    /// The database is too busy to take this now (no connection free, the write turn not
    /// granted in time, a lock conflict): nothing was written; retry with the same key.
    #[error("database busy: {0}")]
    Busy(sqlx::Error),
    /// The database cannot be reached or is restarting (a failover): nothing was
    /// acknowledged; retry with the same key.
    #[error("database unavailable: {0}")]
    Unavailable(sqlx::Error),
    /// The database's own files are damaged (SQLite: the disk image is malformed, or not a
    /// database; PostgreSQL: data or an index corrupted): restore from a backup.
    #[error("database damaged: {0}")]
    Damaged(sqlx::Error),
    #[error(transparent)]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    /// Sorts database errors into those a retry may cure and the rest.
    fn from(e: sqlx::Error) -> Self {
        let code = match &e {
            sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
            _ => None,
        };
        match (&e, code.as_deref()) {
            (sqlx::Error::PoolTimedOut, _) => StoreError::Busy(e),
            // PostgreSQL: lock_not_available (lock_timeout), serialization_failure,
            // deadlock_detected; SQLite: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_BUSY_SNAPSHOT.
            (_, Some("55P03" | "40001" | "40P01" | "5" | "6" | "517")) => StoreError::Busy(e),
            (sqlx::Error::Io(_) | sqlx::Error::PoolClosed | sqlx::Error::Tls(_), _) => StoreError::Unavailable(e),
            // PostgreSQL: connection exceptions (08…), shutting down (57P01–57P03), read-only
            // transaction on a demoted primary (25006).
            (_, Some(c)) if c.starts_with("08") || c.starts_with("57P") || c == "25006" => StoreError::Unavailable(e),
            // SQLite: SQLITE_CORRUPT (and its extended codes), SQLITE_NOTADB; PostgreSQL:
            // data_corrupted, index_corrupted.
            (_, Some("11" | "267" | "523" | "779" | "1035" | "26" | "XX001" | "XX002")) => StoreError::Damaged(e),
            _ => StoreError::Database(e),
        }
    }
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
