//! SQLite: one file in WAL mode, one write connection, a pool of read-only connections.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Connection, Executor};
use std::path::Path;

use super::{Backend, Engine, install_drivers};
use crate::error::{StoreError, StoreResult};
use crate::{BUSY_TIMEOUT, Db, Options};

/// The first 16 bytes of every SQLite database file.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Read connections kept open.
const READ_CONNECTIONS_MAX: u32 = 8;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");

/// Set on every connection: WAL with normal sync, foreign keys, a 10 s busy wait, and
/// 64 MiB of page cache with temp tables in memory, so that the ledger's hot pages stay
/// in memory instead of being re-read from the file.
const PRAGMAS: &str = "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                       PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;";

async fn setup(conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
    conn.execute(PRAGMAS).await.map(|_| ())
}

/// SQLite: one file, one write connection.
pub(crate) struct Sqlite;

impl Engine for Sqlite {
    async fn open(url: &str, _options: &Options) -> StoreResult<Db> {
        open_file(Path::new(path_of(url)), url).await
    }

    /// The write pool holds one connection: holding it is the turn.
    async fn take_write_turn(_conn: &mut AnyConnection) -> StoreResult<()> {
        Ok(())
    }

    /// A deferred transaction in WAL mode reads one snapshot from its first read on.
    async fn take_snapshot(_conn: &mut AnyConnection) -> StoreResult<()> {
        Ok(())
    }

    /// `VACUUM INTO`: one consistent snapshot, compacted, while readers and the writer go on.
    async fn backup(db: &Db, to: &Path) -> StoreResult<()> {
        let path = to.to_str().ok_or_else(|| StoreError::Operation(format!("not a UTF-8 path: {}", to.display())))?;
        sqlx::query("VACUUM INTO $1").bind(path).execute(&db.read).await?;
        Ok(())
    }

    /// One process serves a SQLite file: nothing to wait for.
    async fn lock_session(_conn: &mut AnyConnection, _name: &str) -> StoreResult<()> {
        Ok(())
    }

    async fn unlock_session(_conn: &mut AnyConnection, _name: &str) -> StoreResult<()> {
        Ok(())
    }

    /// Copies the file into place; the target must not exist yet.
    async fn restore_into(url: &str, from: &Path) -> StoreResult<()> {
        let mut header = [0u8; 16];
        let mut file =
            tokio::fs::File::open(from).await.map_err(|e| StoreError::Operation(format!("cannot read {}: {e}", from.display())))?;
        let is_sqlite = tokio::io::AsyncReadExt::read_exact(&mut file, &mut header).await.is_ok() && &header == SQLITE_HEADER;
        if !is_sqlite {
            return Err(StoreError::Operation(format!(
                "{} is not a SQLite backup (a PostgreSQL one restores into a postgres:// URL)",
                from.display()
            )));
        }
        let target = Path::new(path_of(url));
        if target.exists() {
            return Err(StoreError::Operation(format!(
                "{} already exists: restore into a new file, then swap it in with the servers stopped",
                target.display()
            )));
        }
        integrity_check(from).await?;
        let from = from.to_owned();
        super::backup::write_whole(target, async move |partial: &Path| {
            tokio::fs::copy(&from, partial)
                .await
                .map(drop)
                .map_err(|e| StoreError::Operation(format!("cannot write {}: {e}", partial.display())))
        })
        .await
    }
}

/// Opens (creating if missing) the database file at `path` and runs migrations.
async fn open_file(path: &Path, url: &str) -> StoreResult<Db> {
    install_drivers();
    let file = SqliteConnectOptions::new().filename(path);
    let write_url = file.clone().create_if_missing(true).to_url_lossy();
    let write_options = AnyConnectOptions::from_url(&write_url)?;
    // One connection first, so that a file that is not a database fails now with its own
    // reason instead of after the pool's 30 s of retries.
    let mut first = AnyConnection::connect_with(&write_options).await?;
    setup(&mut first).await?;
    first.close().await?;
    let write = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(BUSY_TIMEOUT * 3)
        // A file: nothing to ping (each ping is one more hand-off to the driver's thread).
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(setup(conn)))
        .connect_with(write_options)
        .await?;
    sqlx::query("PRAGMA journal_mode = WAL").execute(&write).await?;
    MIGRATOR.run(&write).await.map_err(|e| StoreError::Database(e.into()))?;
    let read_url = file.read_only(true).to_url_lossy();
    let read = AnyPoolOptions::new()
        .max_connections(READ_CONNECTIONS_MAX)
        .acquire_timeout(BUSY_TIMEOUT)
        .test_before_acquire(false)
        .after_connect(|conn, _| Box::pin(setup(conn)))
        .connect_with(AnyConnectOptions::from_url(&read_url)?)
        .await?;
    Ok(Db::new(write, read, Backend::Sqlite, url, BUSY_TIMEOUT * 3))
}

/// Refuses a SQLite file that fails `PRAGMA integrity_check` (garbage written into it, a
/// truncated copy), naming the first problems it reports.
pub(crate) async fn integrity_check(file: &Path) -> StoreResult<()> {
    install_drivers();
    let options = SqliteConnectOptions::new().filename(file).read_only(true).to_url_lossy();
    let damaged = |why: String| StoreError::Operation(format!("{} is damaged: {why}", file.display()));
    let mut conn = AnyConnection::connect_with(&AnyConnectOptions::from_url(&options)?).await.map_err(|e| damaged(e.to_string()))?;
    let report: Result<Vec<String>, _> = sqlx::query_scalar("PRAGMA integrity_check(20)").fetch_all(&mut conn).await;
    let _ = conn.close().await;
    match report {
        Ok(lines) if lines == ["ok"] => Ok(()),
        Ok(lines) => Err(damaged(lines.join("; "))),
        Err(e) => Err(damaged(e.to_string())),
    }
}

/// The file a SQLite URL (`sqlite:PATH`, `sqlite://PATH` or a plain path) names.
pub(crate) fn path_of(url: &str) -> &str {
    url.strip_prefix("sqlite://").or(url.strip_prefix("sqlite:")).unwrap_or(url)
}
