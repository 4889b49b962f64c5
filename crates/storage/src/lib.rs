//! Tongjia's storage: the SQLite schema (WAL, bundled), its migrations, and every query.
//!
//! Threading rule: all writes go through one write connection, so SQLite never sees two
//! writers and a transaction never fails with "database is locked"; reads use a separate
//! pool of read connections that WAL lets run beside the writer. Every mutation opens a
//! [`WriteTx`], which claims the caller's idempotency key first, and commits the change,
//! its outbox event and the idempotency record together.
//!
//! Every stock-changing command enters through [`Db::execute`] (a command in, a decision
//! out), so that a batching writer can later take its place without touching any caller.

mod catalog;
mod error;
mod locations;
mod orders;
mod outbox;
mod page;
mod prices;
pub mod reference;
mod stock;
mod tx;

pub use catalog::{SkuFilter, SkuPatch, SkuRecord};
pub use error::{StoreError, StoreResult};
pub use locations::{LocationFilter, LocationRecord, Partner};
pub use orders::{
    AllocationRecord, CustomerRecord, Destination, NewOrder, NewPayment, OrderFilter, OrderRecord, PaymentRecord, PointsEntry, ReturnRecord,
};
pub use outbox::Event;
pub use page::{Page, PageRequest};
pub use stock::{EntryRecord, PositionRecord, StockFilter};
pub use tx::{Idem, StoredResponse};

use jiff::Timestamp;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// How long a request waits for the write connection or a busy database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Read connections kept open.
const READ_CONNECTIONS_MAX: u32 = 8;

/// The database: one write connection, a pool of read connections.
#[derive(Clone)]
pub struct Db {
    write: SqlitePool,
    read: SqlitePool,
}

impl Db {
    /// Opens (creating if missing) the SQLite database at `path` and runs migrations.
    pub async fn open(path: &Path) -> StoreResult<Db> {
        let options = SqliteConnectOptions::from_str("sqlite:")?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT)
            // 64 MiB of page cache per connection and temp tables in memory: the ledger's
            // hot pages stay in memory instead of being re-read from the file.
            .pragma("cache_size", "-65536")
            .pragma("temp_store", "memory");
        let write = SqlitePoolOptions::new().max_connections(1).acquire_timeout(BUSY_TIMEOUT * 3).connect_with(options.clone()).await?;
        sqlx::migrate!("./migrations/sqlite").run(&write).await.map_err(|e| StoreError::Database(e.into()))?;
        let read = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS_MAX)
            .acquire_timeout(BUSY_TIMEOUT)
            .connect_with(options.read_only(true))
            .await?;
        Ok(Db { write, read })
    }

    /// Whether the database answers (for `/health`).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// Whether the database holds no SKU and no location yet.
    pub async fn is_empty(&self) -> StoreResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM skus) + (SELECT COUNT(*) FROM locations)").fetch_one(&self.read).await?;
        Ok(n == 0)
    }

    /// Closes both pools, waiting for connections in use.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Microseconds since the epoch, the storage form of a timestamp.
pub(crate) fn us(t: Timestamp) -> i64 {
    t.as_microsecond()
}

/// A timestamp cut to the microsecond that storage keeps, so that an answer given at write
/// time equals what a later read returns.
pub(crate) fn stored(t: Timestamp) -> Timestamp {
    Timestamp::from_microsecond(t.as_microsecond()).unwrap_or(t)
}

/// The timestamp for stored microseconds.
pub(crate) fn ts(us: i64) -> StoreResult<Timestamp> {
    Timestamp::from_microsecond(us).map_err(|e| StoreError::Corrupt(format!("timestamp {us}: {e}")))
}
