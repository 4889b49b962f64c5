//! SQLite: one file in WAL mode, one write connection, a pool of read-only connections.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AnyConnection, ConnectOptions, Executor};
use std::path::Path;

use super::{Backend, install_drivers};
use crate::error::{StoreError, StoreResult};
use crate::{BUSY_TIMEOUT, Db};

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

/// Opens (creating if missing) the database file at `path` and runs migrations.
pub(crate) async fn open(path: &Path, url: String) -> StoreResult<Db> {
    install_drivers();
    let file = SqliteConnectOptions::new().filename(path);
    let write_url = file.clone().create_if_missing(true).to_url_lossy();
    let write = AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(BUSY_TIMEOUT * 3)
        .after_connect(|conn, _| Box::pin(setup(conn)))
        .connect_with(AnyConnectOptions::from_url(&write_url)?)
        .await?;
    sqlx::query("PRAGMA journal_mode = WAL").execute(&write).await?;
    MIGRATOR.run(&write).await.map_err(|e| StoreError::Database(e.into()))?;
    let read_url = file.read_only(true).to_url_lossy();
    let read = AnyPoolOptions::new()
        .max_connections(READ_CONNECTIONS_MAX)
        .acquire_timeout(BUSY_TIMEOUT)
        .after_connect(|conn, _| Box::pin(setup(conn)))
        .connect_with(AnyConnectOptions::from_url(&read_url)?)
        .await?;
    Ok(Db { write, read, backend: Backend::Sqlite, url: url.into() })
}

/// The file a SQLite URL (`sqlite:PATH`, `sqlite://PATH` or a plain path) names.
pub(crate) fn path_of(url: &str) -> &str {
    url.strip_prefix("sqlite://").or(url.strip_prefix("sqlite:")).unwrap_or(url)
}
