//! PostgreSQL: one pool serves reads and writes; writes take turns through a
//! transaction-scoped advisory lock of the schema, so that any number of Tongjia servers
//! on one database apply writes one after another.

use sqlx::AnyConnection;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use std::str::FromStr;

use super::{Backend, install_drivers};
use crate::error::{StoreError, StoreResult};
use crate::{BUSY_TIMEOUT, Db};

/// Connections per server: requests beyond this wait (up to 30 s) for one to free up.
const CONNECTIONS_MAX: u32 = 16;

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connects to `url`, runs migrations (sqlx holds a database-wide advisory lock while it
/// does, so servers starting together migrate once).
pub(crate) async fn open(url: &str) -> StoreResult<Db> {
    install_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(CONNECTIONS_MAX)
        .acquire_timeout(BUSY_TIMEOUT * 3)
        .connect_with(AnyConnectOptions::from_str(url)?)
        .await?;
    MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(e.into()))?;
    Ok(Db { write: pool.clone(), read: pool, backend: Backend::Postgres })
}

/// Waits for the schema's write lock; PostgreSQL releases it when the transaction ends.
/// Keyed by schema, so that deployments (and tests) in other schemas do not wait.
pub(crate) async fn take_write_turn(conn: &mut AnyConnection) -> StoreResult<()> {
    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock(hashtext(current_schema()))").execute(conn).await?;
    Ok(())
}
