//! Throwaway databases, for benchmarks and tests.

use crate::error::{StoreError, StoreResult};
use crate::{create_schema, drop_schema, url_in_schema};

/// A database that removes itself when dropped: a SQLite file in a temporary directory,
/// or a new schema `<prefix>_<uuid>` in a PostgreSQL database (dropped with its tables).
pub struct ScratchDb {
    /// The URL that reaches it (for [`crate::Db::connect`] or `tongjia --db`).
    pub url: String,
    place: Place,
}

enum Place {
    Sqlite(#[allow(dead_code, reason = "held for its Drop, which removes the directory")] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl ScratchDb {
    /// A new, empty database: on PostgreSQL when `postgres` (a URL) is given, else SQLite.
    pub async fn new(prefix: &str, postgres: Option<&str>) -> StoreResult<ScratchDb> {
        match postgres {
            None => {
                let dir = tempfile::tempdir().map_err(|e| StoreError::Operation(format!("cannot make a temporary directory: {e}")))?;
                let url = format!("sqlite:{}", dir.path().join(format!("{prefix}.db")).display());
                Ok(ScratchDb { url, place: Place::Sqlite(dir) })
            }
            Some(admin_url) => {
                let schema = format!("{prefix}_{}", uuid::Uuid::new_v4().simple());
                create_schema(admin_url, &schema).await?;
                Ok(ScratchDb { url: url_in_schema(admin_url, &schema), place: Place::Postgres { admin_url: admin_url.to_owned(), schema } })
            }
        }
    }
}

impl ScratchDb {
    /// The PostgreSQL schema it lives in (none for SQLite).
    pub fn schema(&self) -> Option<&str> {
        match &self.place {
            Place::Sqlite(_) => None,
            Place::Postgres { schema, .. } => Some(schema),
        }
    }
}

/// Runs async clean-up from a `Drop`, which may itself run inside a runtime: on a thread
/// and runtime of its own. `None` if that thread panicked.
pub(crate) fn clean_up<T: Send + 'static>(work: impl Future<Output = T> + Send + 'static) -> Option<T> {
    std::thread::spawn(move || tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(work))
        .join()
        .ok()
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Place::Postgres { admin_url, schema } = &self.place {
            let (admin_url, name) = (admin_url.clone(), schema.clone());
            let dropped = clean_up(async move { drop_schema(&admin_url, &name).await });
            if !matches!(dropped, Some(Ok(()))) {
                eprintln!("could not drop schema {schema}: {dropped:?}");
            }
        }
    }
}
