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
        write_whole(to, async |partial: &Path| {
            self.backend.backup(self, partial).await?;
            if self.backend == Backend::Sqlite {
                super::sqlite::integrity_check(partial).await?;
            }
            Ok(())
        })
        .await
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
        let opened = match Db::connect(url).await {
            // What was restored must hold together: every balance equals its entries.
            Ok(db) => match db.audit_ledger().await {
                Ok(found) if found.is_empty() => Ok(db),
                Ok(found) => Err(StoreError::Operation(format!("the restored ledger does not add up: {}", found.join("; ")))),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        if let (Err(_), Backend::Sqlite) = (&opened, backend) {
            // Leave no half-restored file behind to block a retry.
            let path = super::sqlite::path_of(url);
            for suffix in ["", "-wal", "-shm"] {
                let _ = tokio::fs::remove_file(format!("{path}{suffix}")).await;
            }
        }
        opened
    }
}

/// Writes `to` whole or not at all: `write` fills a partial file beside it, which becomes
/// `to` only once complete (never replacing a file that appeared meanwhile) and is removed
/// if anything fails, so a failed backup or restore leaves nothing to block the next one.
pub(crate) async fn write_whole(to: &Path, write: impl AsyncFnOnce(&Path) -> StoreResult<()>) -> StoreResult<()> {
    let name = to.file_name().and_then(|n| n.to_str()).unwrap_or("backup");
    let partial = to.with_file_name(format!(".{name}.partial-{}", uuid::Uuid::now_v7()));
    let result = match write(&partial).await {
        Ok(()) => {
            std::fs::hard_link(&partial, to).map_err(|e| StoreError::Operation(format!("cannot put the copy at {}: {e}", to.display())))
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&partial);
    result
}
