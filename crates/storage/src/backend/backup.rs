//! Backups and restores of a whole database, on either engine.
//!
//! SQLite: `VACUUM INTO` writes a consistent, compacted copy while the server keeps
//! serving (readers and the writer go on; the copy is one snapshot). A restore copies
//! the file into place. PostgreSQL: `pg_dump --format=custom` of the schema the server
//! uses, and `pg_restore` into an empty database. Either way, opening the restored
//! database runs any migrations the backup predates.

use std::path::Path;

use super::Backend;
use crate::Db;
use crate::error::{StoreError, StoreResult};

impl Db {
    /// Writes a consistent copy of the whole database to `to` (a file that must not exist).
    pub async fn backup(&self, to: &Path) -> StoreResult<()> {
        if to.exists() {
            return Err(StoreError::Operation(format!("{} already exists: a backup never overwrites a file", to.display())));
        }
        self.backend.backup(self, to).await
    }

    /// Restores a backup made by [`Db::backup`] into the database `url` names, which must
    /// be empty (a new SQLite file; a PostgreSQL database or schema without Tongjia's
    /// tables), then opens it, running the migrations the backup predates.
    pub async fn restore(url: &str, from: &Path) -> StoreResult<Db> {
        if !from.is_file() {
            return Err(StoreError::Operation(format!("no backup file {}", from.display())));
        }
        let backend = Backend::of_url(url);
        backend.restore_into(url, from).await?;
        let opened = Db::connect(url).await;
        if let (Err(_), Backend::Sqlite) = (&opened, backend) {
            // Leave no half-restored file behind to block a retry.
            let _ = tokio::fs::remove_file(super::sqlite::path_of(url)).await;
        }
        opened
    }
}
