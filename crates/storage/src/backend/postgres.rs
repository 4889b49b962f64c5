//! PostgreSQL: a pool for reads and a small one for writes; writes take turns through a
//! transaction-scoped advisory lock of the schema, so that any number of Tongjia servers
//! on one database apply writes one after another.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::Migrator;
use sqlx::{AnyConnection, AssertSqlSafe, Connection, Executor, PgConnection};
use std::str::FromStr;

use std::path::Path;
use tokio::process::Command;

use super::{Backend, Engine, install_drivers};
use crate::error::{StoreError, StoreResult};
use crate::{BUSY_TIMEOUT, Db, Options};

/// Read connections per server unless told otherwise: reads beyond this wait (up to 30 s)
/// for one to free up.
pub(crate) const CONNECTIONS_DEFAULT: u32 = 16;

/// Write connections per server, besides: a group's transaction, the group before it still
/// committing, and a start-up task's session lock.
pub(crate) const WRITE_CONNECTIONS: u32 = 4;

/// Takes the write turn: the schema's transaction-scoped advisory lock, released when the
/// transaction ends. Keyed by schema, so that deployments (and tests) in other schemas do not wait.
pub(crate) const WRITE_TURN: &str = "SELECT 1 FROM pg_advisory_xact_lock(hashtext(current_schema()))";

pub(crate) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connects to `url` with a pool of `connections` and runs migrations (sqlx holds a
/// database-wide advisory lock while it does, so servers starting together migrate once).
/// A hot standby (a read replica, for reports) is not migrated: it must already be at this
/// build's schema, which it is once the primary has been.
async fn open_pool(url: &str, connections: u32, lock_timeout: std::time::Duration) -> StoreResult<Db> {
    install_drivers();
    let options = AnyConnectOptions::from_str(url)?;
    // One connection first, so that a wrong address fails now with its own reason instead
    // of after the pool's 30 s of retries.
    AnyConnection::connect_with(&options).await?.close().await?;
    let pool_of = |size: u32| {
        AnyPoolOptions::new()
            .max_connections(size.max(1))
            .acquire_timeout(BUSY_TIMEOUT * 3)
            // No ping before each acquire (a round trip per read and per write group): a
            // connection that broke is found by the statement that uses it, which fails
            // retryably, and the pool drops it.
            .test_before_acquire(false)
            // A write waits at most this long for its turn, then answers 503 database_busy
            // rather than queueing without end behind a long import.
            .after_connect(move |conn, _| {
                let set = AssertSqlSafe(format!("SET lock_timeout = '{}ms'", lock_timeout.as_millis().max(1)));
                Box::pin(async move { conn.execute(set).await.map(drop) })
            })
            .connect_with(options.clone())
    };
    let pool = pool_of(connections).await?;
    // Writes have connections of their own: a write group never queues behind reads for one
    // (under a burst hundreds of reads wait for the read pool while the turn sat idle).
    let write = pool_of(WRITE_CONNECTIONS).await?;
    let version: String = sqlx::query_scalar("SELECT version()").fetch_one(&pool).await?;
    if let Some(refusal) = unsafe_engine(&version) {
        return Err(StoreError::Operation(refusal));
    }
    let standby: bool = sqlx::query_scalar("SELECT pg_is_in_recovery()").fetch_one(&pool).await?;
    if standby {
        let newest = MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0);
        let at: Option<i64> = sqlx::query_scalar("SELECT CAST(MAX(version) AS BIGINT) FROM _sqlx_migrations WHERE success")
            .fetch_one(&pool)
            .await
            .map_err(|_| StoreError::Operation("this standby holds no Tongjia schema: migrate the primary first".into()))?;
        if at != Some(newest) {
            return Err(StoreError::Operation(format!(
                "this standby's schema is at migration {at:?}, this build needs {newest}: migrate the primary first"
            )));
        }
    } else {
        MIGRATOR.run(&pool).await.map_err(|e| StoreError::Database(e.into()))?;
    }
    Ok(Db::new(write, pool, Backend::Postgres, url, lock_timeout))
}

/// Why an engine that speaks PostgreSQL's protocol cannot host Tongjia, if it cannot: the
/// write turn needs `pg_advisory_xact_lock` to block, and CockroachDB before v26.2 accepts
/// the call without locking anything — stock would be oversold.
fn unsafe_engine(version: &str) -> Option<String> {
    let rest = version.split("CockroachDB").nth(1)?;
    let numbers: Vec<u32> = rest
        .split_whitespace()
        .find_map(|w| w.strip_prefix('v'))
        .map(|v| v.split(['.', '-']).take(2).filter_map(|n| n.parse().ok()).collect())
        .unwrap_or_default();
    match numbers[..] {
        [major, minor] if (major, minor) >= (26, 2) => None,
        _ => Some(format!("{version}: its advisory locks do not lock before v26.2, so writes could not take turns; use PostgreSQL")),
    }
}

/// PostgreSQL: pools per server (reads, writes), writes taking turns through a schema advisory lock.
pub(crate) struct Postgres;

impl Engine for Postgres {
    async fn open(url: &str, options: &Options) -> StoreResult<Db> {
        open_pool(url, options.max_connections, options.write_wait).await
    }

    /// Waits for the schema's write lock; PostgreSQL releases it when the transaction ends.
    /// Keyed by schema, so that deployments (and tests) in other schemas do not wait.
    async fn take_write_turn(conn: &mut AnyConnection) -> StoreResult<()> {
        sqlx::query(WRITE_TURN).execute(conn).await?;
        Ok(())
    }

    /// READ COMMITTED takes a snapshot per statement; REPEATABLE READ one for the whole
    /// transaction (read-only, it never fails to serialize).
    async fn take_snapshot(conn: &mut AnyConnection) -> StoreResult<()> {
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(conn).await?;
        Ok(())
    }

    /// `pg_dump --format=custom` of the schema in use.
    async fn backup(db: &Db, to: &Path) -> StoreResult<()> {
        let schema: String = sqlx::query_scalar("SELECT CAST(current_schema() AS TEXT)").fetch_one(&db.read).await?;
        let mut command = Command::new("pg_dump");
        command.args(["--format=custom", "--no-owner", "--schema", &schema, "--file"]).arg(to).arg(&*db.url);
        run("pg_dump", &mut command).await.map(drop)
    }

    async fn restore_into(url: &str, from: &Path) -> StoreResult<()> {
        restore(url, from).await
    }

    /// A session advisory lock keyed by schema and name (waits as long as it takes: the
    /// holder is another server doing the same start-up task).
    async fn lock_session(conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
        sqlx::query("SET lock_timeout = 0").execute(&mut *conn).await?;
        let locked =
            sqlx::query("SELECT 1 FROM pg_advisory_lock(hashtext(current_schema() || ':' || $1))").bind(name).execute(&mut *conn).await;
        sqlx::query("RESET lock_timeout").execute(&mut *conn).await?;
        locked?;
        Ok(())
    }

    async fn unlock_session(conn: &mut AnyConnection, name: &str) -> StoreResult<()> {
        sqlx::query("SELECT CAST(pg_advisory_unlock(hashtext(current_schema() || ':' || $1)) AS INTEGER)").bind(name).execute(conn).await?;
        Ok(())
    }
}

/// `url` with its `search_path` set to `schema` alone: how a deployment (or a test) keeps
/// its tables in a schema of their own.
pub fn url_in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Creates `schema` (a plain identifier) in the database `url` names.
pub async fn create_schema(url: &str, schema: &str) -> StoreResult<()> {
    on_admin(url, format!("CREATE SCHEMA {}", identifier(schema)?)).await
}

/// Drops `schema` and everything in it.
pub async fn drop_schema(url: &str, schema: &str) -> StoreResult<()> {
    let schema = identifier(schema)?;
    // Sessions still holding locks on the schema's tables (a transaction whose rollback
    // never ran: its process is dropping the schema as it ends) would make the drop wait
    // for ever. The schema is being thrown away: end them first.
    let mut admin = PgConnection::connect(url).await?;
    sqlx::query(
        "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND l.pid <> pg_backend_pid() GROUP BY l.pid",
    )
    .bind(schema)
    .fetch_all(&mut admin)
    .await?;
    admin.execute(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))).await?;
    admin.close().await?;
    Ok(())
}

fn identifier(name: &str) -> StoreResult<&str> {
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { Ok(name) } else { Err(StoreError::Corrupt(format!("not a plain schema name: {name:?}"))) }
}

/// Runs one statement on a connection of its own (schema and database DDL).
pub(crate) async fn on_admin(url: &str, statement: String) -> StoreResult<()> {
    let mut admin = PgConnection::connect(url).await?;
    admin.execute(AssertSqlSafe(statement)).await?;
    admin.close().await?;
    Ok(())
}

/// `pg_restore` of an archive into the database `url` names. The archive's schema may
/// already exist there if it is empty (`public` always does): its `CREATE SCHEMA` is then
/// left out. A schema that already holds tables is refused: restore never merges.
async fn restore(url: &str, from: &Path) -> StoreResult<()> {
    let listing = run("pg_restore", Command::new("pg_restore").arg("--list").arg(from)).await?;
    let schema = listing
        .lines()
        .filter(|l| !l.starts_with(';'))
        .find_map(|l| l.split_once(" SCHEMA - ").and_then(|(_, rest)| rest.split_whitespace().next()).map(str::to_owned))
        .unwrap_or_else(|| "public".to_owned());
    let mut target = PgConnection::connect(url).await?;
    let search_path: String = sqlx::query_scalar("SELECT current_setting('search_path')").fetch_one(&mut target).await?;
    let writes_to = target_schema(&search_path);
    if writes_to.as_deref() != Some(schema.as_str()) {
        target.close().await?;
        return Err(StoreError::Operation(format!(
            "the backup holds schema {schema}, but this URL works in {}: add ?options=-c%20search_path%3D{schema} to it, so that \
             the servers find what is restored",
            writes_to.unwrap_or_else(|| "no schema".into())
        )));
    }
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
    // One transaction: a restore that fails part-way leaves nothing behind to block a retry.
    command.args(["--no-owner", "--exit-on-error", "--single-transaction", "--dbname"]).arg(url);
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

/// The schema a connection with this `search_path` creates tables in: its first entry,
/// skipping `$user` (which names no Tongjia schema).
fn target_schema(search_path: &str) -> Option<String> {
    search_path.split(',').map(|s| s.trim().trim_matches('"')).find(|s| !s.is_empty() && *s != "$user").map(str::to_owned)
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

#[cfg(test)]
mod tests {
    use super::unsafe_engine;

    #[test]
    fn the_schema_a_search_path_writes_to() {
        use super::target_schema;
        assert_eq!(target_schema("\"$user\", public").as_deref(), Some("public"));
        assert_eq!(target_schema("t_abc").as_deref(), Some("t_abc"));
        assert_eq!(target_schema("\"Shop\", public").as_deref(), Some("Shop"));
        assert_eq!(target_schema("").as_deref(), None);
    }

    #[test]
    fn engines_whose_advisory_locks_do_not_lock_are_refused() {
        assert!(unsafe_engine("PostgreSQL 15.20 (Debian 15.20-0+deb12u1) on x86_64-pc-linux-gnu").is_none());
        assert!(unsafe_engine("CockroachDB CCL v24.1.3 (x86_64-pc-linux-gnu, built 2024/07/02)").is_some());
        assert!(unsafe_engine("CockroachDB CCL v26.1.0 (x86_64)").is_some());
        assert!(unsafe_engine("CockroachDB CCL v26.2.0 (x86_64)").is_none());
        assert!(unsafe_engine("CockroachDB CCL (unknown)").is_some());
    }
}
