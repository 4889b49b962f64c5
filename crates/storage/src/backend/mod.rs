//! What differs between the two engines, and nothing else: how to connect and migrate,
//! and how a write transaction takes its turn. Every query lives outside, written once.

mod backup;
pub mod postgres;
pub(crate) mod sqlite;

use serde::Serialize;
use sqlx::AnyConnection;

use crate::error::StoreResult;

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

    /// Makes a just-begun write transaction wait for its turn, so that writes apply one
    /// at a time (see the crate docs for why).
    pub(crate) async fn take_write_turn(self, conn: &mut AnyConnection) -> StoreResult<()> {
        match self {
            // The write pool holds one connection: holding it is the turn.
            Backend::Sqlite => Ok(()),
            Backend::Postgres => postgres::take_write_turn(conn).await,
        }
    }
}

/// Registers the SQLite and PostgreSQL drivers with sqlx's `Any` driver (once).
pub(crate) fn install_drivers() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}
