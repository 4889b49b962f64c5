//! What differs between the two engines, and nothing else: the [`Engine`] trait and its
//! two implementations, [`sqlite::Sqlite`] and [`postgres::Postgres`]. Every query lives
//! outside, written once for both.

mod backup;
pub mod postgres;
pub(crate) mod sqlite;

use serde::Serialize;
use sqlx::AnyConnection;
use std::path::Path;

use crate::error::StoreResult;
use crate::{Db, Options};

/// What a database engine must provide for Tongjia. Deliberately narrow: opening (with
/// migrations), the write turn every write transaction takes first, and whole-database
/// backup and restore. Anything that can be said in shared SQL is not here, so the
/// group-commit writer (`crate::writer`) runs on both engines with only the write turn.
pub(crate) trait Engine {
    /// Opens the database `url` names, creating and migrating it as the engine does.
    async fn open(url: &str, options: &Options) -> StoreResult<Db>;
    /// Makes a just-begun write transaction wait until no other write runs.
    async fn take_write_turn(conn: &mut AnyConnection) -> StoreResult<()>;
    /// Makes a just-begun read transaction see one snapshot in all its statements.
    async fn take_snapshot(conn: &mut AnyConnection) -> StoreResult<()>;
    /// Writes a consistent copy of the whole database to the new file `to`, online.
    async fn backup(db: &Db, to: &Path) -> StoreResult<()>;
    /// Puts a backup into the empty database `url` names (not yet opened).
    async fn restore_into(url: &str, from: &Path) -> StoreResult<()>;
    /// Holds the lock `name` on this session until [`Engine::unlock_session`], so that
    /// processes sharing the database run a start-up task (seeding) one at a time.
    async fn lock_session(conn: &mut AnyConnection, name: &str) -> StoreResult<()>;
    async fn unlock_session(conn: &mut AnyConnection, name: &str) -> StoreResult<()>;
}

/// The database engine behind a [`crate::Db`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// One file, one write connection: the zero-set-up default.
    Sqlite,
    /// A server shared by any number of Tongjia servers.
    Postgres,
}

impl Backend {
    /// The engine a database URL names: `postgres://` or `postgresql://` is PostgreSQL,
    /// anything else (`sqlite:PATH`, a plain path) SQLite.
    pub fn of_url(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") { Backend::Postgres } else { Backend::Sqlite }
    }

    /// `sqlite` or `postgres`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// Opens the database `url` names with this engine.
    pub(crate) async fn open(self, url: &str, options: &Options) -> StoreResult<Db> {
        match self {
            Backend::Sqlite => sqlite::Sqlite::open(url, options).await,
            Backend::Postgres => postgres::Postgres::open(url, options).await,
        }
    }

    /// Makes a just-begun write transaction wait for its turn, so that writes apply one
    /// at a time (see the crate docs for why).
    pub(crate) async fn take_write_turn(self, conn: &mut AnyConnection) -> StoreResult<()> {
        match self {
            Backend::Sqlite => sqlite::Sqlite::take_write_turn(conn).await,
            Backend::Postgres => postgres::Postgres::take_write_turn(conn).await,
        }
    }

    /// Makes a just-begun read transaction read one snapshot, so that what it decides from
    /// several queries was all true at one instant.
    pub(crate) async fn take_snapshot(self, conn: &mut AnyConnection) -> StoreResult<()> {
        match self {
            Backend::Sqlite => sqlite::Sqlite::take_snapshot(conn).await,
            Backend::Postgres => postgres::Postgres::take_snapshot(conn).await,
        }
    }

    pub(crate) async fn backup(self, db: &Db, to: &Path) -> StoreResult<()> {
        match self {
            Backend::Sqlite => sqlite::Sqlite::backup(db, to).await,
            Backend::Postgres => postgres::Postgres::backup(db, to).await,
        }
    }

    pub(crate) async fn lock_session(self, conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
        match self {
            Backend::Sqlite => sqlite::Sqlite::lock_session(conn, name).await,
            Backend::Postgres => postgres::Postgres::lock_session(conn, name).await,
        }
    }

    pub(crate) async fn unlock_session(self, conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
        match self {
            Backend::Sqlite => sqlite::Sqlite::unlock_session(conn, name).await,
            Backend::Postgres => postgres::Postgres::unlock_session(conn, name).await,
        }
    }

    pub(crate) async fn restore_into(self, url: &str, from: &Path) -> StoreResult<()> {
        match self {
            Backend::Sqlite => sqlite::Sqlite::restore_into(url, from).await,
            Backend::Postgres => postgres::Postgres::restore_into(url, from).await,
        }
    }
}

/// Registers the SQLite and PostgreSQL drivers with sqlx's `Any` driver (once).
pub(crate) fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}
