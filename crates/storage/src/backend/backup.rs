//! Backups and restores of a whole database, on either engine.
//!
//! SQLite: `VACUUM INTO` writes a consistent, compacted copy while the server keeps
//! serving (readers and the writer go on; the copy is one snapshot). A restore copies
//! the file into place. PostgreSQL: `pg_dump --format=custom` of the schema the server
//! uses, and `pg_restore` into an empty database. Either way, opening the restored
//! database runs any migrations the backup predates.

use sqlx::{Connection, PgConnection};
use std::path::Path;
use tokio::process::Command;

use super::Backend;
use crate::Db;
use crate::error::{StoreError, StoreResult};

impl Db {
    /// Writes a consistent copy of the whole database to `to` (a file that must not exist).
    pub async fn backup(&self, to: &Path) -> StoreResult<()> {
        if to.exists() {
            return Err(StoreError::Operation(format!("{} already exists: a backup never overwrites a file", to.display())));
        }
        match self.backend {
            Backend::Sqlite => {
                let path = to.to_str().ok_or_else(|| StoreError::Operation(format!("not a UTF-8 path: {}", to.display())))?;
                sqlx::query("VACUUM INTO $1").bind(path).execute(&self.read).await?;
                Ok(())
            }
            Backend::Postgres => {
                let schema: String = sqlx::query_scalar("SELECT CAST(current_schema() AS TEXT)").fetch_one(&self.read).await?;
                let mut command = Command::new("pg_dump");
                command.args(["--format=custom", "--no-owner", "--schema", &schema, "--file"]).arg(to).arg(&*self.url);
                run("pg_dump", &mut command).await.map(drop)
            }
        }
    }

    /// Restores a backup made by [`Db::backup`] into the database `url` names, which must
    /// be empty (a new SQLite file; a PostgreSQL database or schema without Tongjia's
    /// tables), then opens it, running the migrations the backup predates.
    pub async fn restore(url: &str, from: &Path) -> StoreResult<Db> {
        if !from.is_file() {
            return Err(StoreError::Operation(format!("no backup file {}", from.display())));
        }
        match Backend::of_url(url) {
            Backend::Sqlite => {
                let target = Path::new(super::sqlite::path_of(url));
                if target.exists() {
                    return Err(StoreError::Operation(format!(
                        "{} already exists: restore into a new file, then swap it in with the servers stopped",
                        target.display()
                    )));
                }
                tokio::fs::copy(from, target)
                    .await
                    .map_err(|e| StoreError::Operation(format!("cannot write {}: {e}", target.display())))?;
            }
            Backend::Postgres => restore_postgres(url, from).await?,
        }
        Db::connect(url).await
    }
}

/// `pg_restore` of an archive into the database `url` names. The archive's schema may
/// already exist there if it is empty (`public` always does): its `CREATE SCHEMA` is then
/// left out. A schema that already holds tables is refused: restore never merges.
async fn restore_postgres(url: &str, from: &Path) -> StoreResult<()> {
    let listing = run("pg_restore", Command::new("pg_restore").arg("--list").arg(from)).await?;
    let schema = listing
        .lines()
        .filter(|l| !l.starts_with(';'))
        .find_map(|l| l.split_once(" SCHEMA - ").and_then(|(_, rest)| rest.split_whitespace().next()).map(str::to_owned))
        .unwrap_or_else(|| "public".to_owned());
    let mut target = PgConnection::connect(url).await?;
    let tables: Option<i64> =
        sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM pg_tables WHERE schemaname = n.nspname) FROM pg_namespace n WHERE n.nspname = $1")
            .bind(&schema)
            .fetch_optional(&mut target)
            .await?;
    target.close().await?;
    if tables.is_some_and(|n| n > 0) {
        return Err(StoreError::Operation(format!("schema {schema} already holds tables: restore into an empty database")));
    }
    let mut command = Command::new("pg_restore");
    command.args(["--no-owner", "--exit-on-error", "--dbname"]).arg(url);
    let _list_dir;
    if tables.is_some() {
        let kept: String = listing.lines().filter(|l| !l.contains(" SCHEMA - ")).map(|l| format!("{l}\n")).collect();
        _list_dir = tempfile::tempdir().map_err(|e| StoreError::Operation(e.to_string()))?;
        let list = _list_dir.path().join("restore.list");
        tokio::fs::write(&list, kept).await.map_err(|e| StoreError::Operation(e.to_string()))?;
        command.arg("--use-list").arg(list);
    }
    run("pg_restore", command.arg(from)).await.map(drop)
}

/// Runs a PostgreSQL client tool, returning its standard output.
async fn run(tool: &str, command: &mut Command) -> StoreResult<String> {
    let out = command
        .output()
        .await
        .map_err(|e| StoreError::Operation(format!("cannot run {tool} (install the PostgreSQL client tools): {e}")))?;
    checked(tool, &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn checked(tool: &str, out: &std::process::Output) -> StoreResult<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(StoreError::Operation(format!("{tool} failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr).trim())))
    }
}
