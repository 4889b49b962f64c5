//! Tongjia's storage: the schema, its migrations and every query, on SQLite (the
//! zero-set-up default: WAL, bundled) or PostgreSQL.
//!
//! One [`Db`] API, one set of queries: the SQL is written once in the dialect both engines
//! accept (`$N` placeholders, `ON CONFLICT`, `CAST(SUM(..) AS BIGINT)`) and runs through
//! sqlx's `Any` driver. What differs between the engines — connecting, the DDL of the
//! migrations, how writers are kept one at a time, backups — is the `Engine` trait in
//! `backend/`, implemented once per engine (`backend/sqlite.rs`, `backend/postgres.rs`)
//! and chosen at run time by [`Backend`].
//!
//! Write rule: writes run one at a time. On SQLite all writes go through one write
//! connection, so a transaction never fails with "database is locked"; on PostgreSQL every
//! write transaction first takes a transaction-scoped advisory lock of its schema, so
//! several servers on one database still apply writes one after another — the same
//! serial order SQLite gives, which is what keeps stock from being oversold and the
//! outbox's `seq` in commit order. Reads never wait for writers. Every mutation opens a
//! [`WriteTx`], which claims the caller's idempotency key first, and commits the change,
//! its outbox events and the idempotency record together.
//!
//! Group commit (`writer`): writes queued behind each other share one transaction, each
//! behind a savepoint, and commit together; each answers only after its group committed.
//! Every stock-changing command enters through [`Db::execute`] (a command in, a decision
//! out).

mod accounts;
mod audit;
mod backend;
mod bulk;
mod catalog;
mod clock;
mod combine;
mod error;
mod locations;
mod naive;
mod orders;
mod outbox;
mod page;
mod prices;
pub mod reference;
mod refunds;
mod retention;
mod sales;
mod scratch;
mod stock;
mod stock_load;
mod sweep;
#[cfg(feature = "testing")]
pub mod testing;
mod tx;
mod writer;

pub use accounts::{AccountPatch, AccountRecord, SessionRecord, TokenRecord};
pub use audit::{AuditEntry, AuditFilter, AuditRecord};
pub use bulk::{Bulk, REFUSALS_MAX, Refusals};
pub use catalog::{SkuFilter, SkuPatch, SkuRecord};
pub use clock::Clock;
pub use error::{StoreError, StoreResult};
pub use locations::{LocationFilter, LocationRecord, Partner};
pub use orders::{
    AllocationRecord, CustomerRecord, Destination, NewOrder, NewPayment, OrderFilter, OrderRecord, PaymentRecord, PointsEntry, ReturnRecord,
};
pub use outbox::{Event, Vitals};
pub use page::{LIMIT_MAX, Page, PageRequest};
pub use refunds::PendingRefund;
pub use retention::{PURGE_BATCH, Removed, Retention};
pub use sales::SalesRow;
pub use scratch::ScratchDb;
pub use stock::{EntryRecord, PositionRecord, StockFilter};
pub use tx::{Idem, StoredResponse};
pub use writer::{GroupCommits, WriteMark};

use jiff::Timestamp;
use sqlx::AnyPool;
use std::path::Path;
use std::time::Duration;

pub use backend::Backend;

pub use backend::postgres::{create_schema, drop_schema, url_in_schema};

/// How long a request waits for the write connection or a busy database.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How to connect.
#[derive(Debug, Clone)]
pub struct Options {
    /// PostgreSQL: read connections this server keeps (default 16), besides its 4 write
    /// connections. Mind the database's `max_connections` across every server. SQLite keeps
    /// one writer and eight readers.
    pub max_connections: u32,
    /// PostgreSQL: how long a write waits for its turn (and any lock) before it is refused
    /// as busy (default 10 s). SQLite waits for its one write connection up to 30 s.
    pub write_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options { max_connections: backend::postgres::CONNECTIONS_DEFAULT, write_wait: Duration::from_secs(10) }
    }
}

/// The database: a pool for writes and a pool for reads (on SQLite one write connection
/// and a read pool beside it; on PostgreSQL one pool serving both).
#[derive(Clone)]
pub struct Db {
    write: AnyPool,
    read: AnyPool,
    backend: Backend,
    /// Every write goes through it (group commit, see [`writer`]).
    writer: std::sync::Arc<writer::Writer>,
    /// The URL it was opened with (backups hand it to `pg_dump`).
    url: std::sync::Arc<str>,
    /// The time writes are decided at (the system clock outside tests).
    clock: Clock,
    /// The store network as last read, shared by every clone (`Db::store_sites`).
    network: std::sync::Arc<locations::NetworkCache>,
    /// Placements waiting to be written together (see [`combine`]).
    placements: std::sync::Arc<orders::Placements>,
    /// Order actions waiting to be written together.
    actions: std::sync::Arc<orders::Actions>,
}

impl Db {
    /// A `Db` over its pools; writes go through a new group-commit writer on `write`.
    pub(crate) fn new(write: AnyPool, read: AnyPool, backend: Backend, url: &str, write_wait: Duration) -> Db {
        let writer = writer::Writer::new(write.clone(), backend, write_wait);
        Db {
            write,
            read,
            backend,
            writer,
            url: url.into(),
            clock: Clock::System,
            network: Default::default(),
            placements: Default::default(),
            actions: Default::default(),
        }
    }

    /// Opens (creating if missing) the SQLite database at `path` and runs migrations.
    pub async fn open(path: &Path) -> StoreResult<Db> {
        Db::connect(&format!("sqlite:{}", path.display())).await
    }

    /// Connects to the database a URL names and runs migrations: `postgres://…` (or
    /// `postgresql://…`) for PostgreSQL, `sqlite:PATH` or a plain file path for SQLite.
    pub async fn connect(url: &str) -> StoreResult<Db> {
        Db::connect_with(url, &Options::default()).await
    }

    /// [`Db::connect`] with pool settings.
    pub async fn connect_with(url: &str, options: &Options) -> StoreResult<Db> {
        Backend::of_url(url).open(url, options).await
    }

    /// Groups and writes this `Db` has committed (group commit, see [`writer`]).
    pub fn group_commits(&self) -> GroupCommits {
        self.writer.group_commits()
    }

    /// Marks the write groups begun so far; take it before a write that may be refused.
    pub fn write_mark(&self) -> WriteMark {
        self.writer.mark()
    }

    /// Whether a refusal decided after `mark` stands: waits until every write group begun by
    /// now has ended and fails (retryable, `Unavailable`) if one since `mark` was not kept.
    /// A refusal (`insufficient_stock`…) may have been decided beside writes of its own
    /// group that were not yet committed; if that group then failed, the refusal rests on
    /// changes that never happened and must be neither given nor remembered.
    pub async fn refusal_stands(&self, mark: WriteMark) -> StoreResult<()> {
        self.writer.ended_well_since(mark).await
    }

    /// This `Db` reading the time from `clock` (a simulated clock in tests).
    pub fn with_clock(mut self, clock: Clock) -> Db {
        self.clock = clock;
        self
    }

    /// The time a write begun now is decided at.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Which database this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (for `/health`).
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    /// The SQLite file a URL names (None for PostgreSQL): to tell an existing database from
    /// one that opening would create.
    pub fn sqlite_file(url: &str) -> Option<&Path> {
        (Backend::of_url(url) == Backend::Sqlite).then(|| Path::new(backend::sqlite::path_of(url)))
    }

    /// A cheap check that the database answers and its tables can be read (the schema's
    /// migration record, and the outbox's newest entry): for readiness probes.
    pub async fn check(&self) -> StoreResult<()> {
        let _: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&self.read).await?;
        self.outbox_head().await?;
        Ok(())
    }

    /// Whether the database holds no SKU and no location yet.
    pub async fn is_empty(&self) -> StoreResult<bool> {
        let n: i64 =
            sqlx::query_scalar("SELECT (SELECT COUNT(*) FROM skus) + (SELECT COUNT(*) FROM locations)").fetch_one(&self.read).await?;
        Ok(n == 0)
    }

    /// Runs `work` while holding the database-wide lock `name`, so that servers starting
    /// together on one PostgreSQL database do a start-up task (seeding demo data) one after
    /// another; `work` should check whether it is still needed. SQLite: runs it directly.
    pub async fn one_at_a_time<T>(&self, name: &str, work: impl AsyncFnOnce() -> T) -> StoreResult<T> {
        if self.backend == Backend::Sqlite {
            return Ok(work().await);
        }
        // A connection of its own, out of the pool: if anything goes wrong it is closed,
        // never handed to a request still holding the lock.
        let mut conn = self.write.acquire().await?.detach();
        self.backend.lock_session(&mut conn, name).await?;
        let out = work().await;
        self.backend.unlock_session(&mut conn, name).await?;
        sqlx::Connection::close(conn).await?;
        Ok(out)
    }

    /// Closes both pools, waiting for connections in use.
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// A stored BOOLEAN, selected as `CAST(column AS INTEGER) AS column`: the one form both
/// engines hand through sqlx's `Any` driver.
pub(crate) fn flag(r: &sqlx::any::AnyRow, column: &str) -> StoreResult<bool> {
    use sqlx::Row;
    Ok(r.try_get::<i64, _>(column)? != 0)
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

impl Db {
    /// The version of the newest migration applied (migrations run when a `Db` opens).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations WHERE success").fetch_one(&self.read).await?)
    }
}
