//! Fresh databases for tests, on either engine (feature `testing`).
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new schema `t_<uuid>` in the
//! database `TONGJIA_TEST_PG` names, reached through `search_path`, dropped with the
//! [`TestDb`]. [`backend_tests!`](crate::backend_tests) turns each test into one per engine.

use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use crate::{Backend, Db};

/// The variable naming the PostgreSQL database tests may use (they skip it when unset).
pub const TEST_PG_VAR: &str = "TONGJIA_TEST_PG";

/// The PostgreSQL URL tests may use, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var(TEST_PG_VAR).ok().filter(|u| !u.trim().is_empty())
}

/// The engines to test on: SQLite always, PostgreSQL when `TONGJIA_TEST_PG` is set.
pub fn backends() -> Vec<Backend> {
    let mut all = vec![Backend::Sqlite];
    if postgres_url().is_some() {
        all.push(Backend::Postgres);
    }
    all
}

/// A fresh, migrated, empty database that cleans up after itself.
pub struct TestDb {
    pub db: Db,
    /// The URL that reaches this database (e.g. for `tongjia --db`).
    pub url: String,
    place: Place,
}

enum Place {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl TestDb {
    /// A fresh database on `backend`; `None` for PostgreSQL when `TONGJIA_TEST_PG` is unset.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        let (url, place) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temporary directory");
                (format!("sqlite:{}", dir.path().join("test.db").display()), Place::Sqlite(dir))
            }
            Backend::Postgres => {
                let admin_url = postgres_url()?;
                let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(&admin_url).await.expect("connect to TONGJIA_TEST_PG");
                admin.execute(AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).await.expect("create test schema");
                admin.close().await.ok();
                (in_schema(&admin_url, &schema), Place::Postgres { admin_url, schema })
            }
        };
        let db = Db::connect(&url).await.expect("open test database");
        Some(TestDb { db, url, place })
    }
}

/// `url` with its `search_path` set to `schema` only.
pub fn in_schema(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Place::Postgres { admin_url, schema } = &self.place {
            let (admin_url, name) = (admin_url.clone(), schema.clone());
            // Drop runs inside the test's runtime: do the async clean-up on a thread of its own.
            let dropped = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                rt.block_on(async {
                    let mut admin = PgConnection::connect(&admin_url).await?;
                    admin.execute(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS {name} CASCADE"))).await?;
                    admin.close().await
                })
            })
            .join();
            if !matches!(dropped, Ok(Ok(()))) {
                eprintln!("could not drop test schema {schema}: {dropped:?}");
            }
        }
    }
}

/// Turns `async fn name(backend: Backend)` test bodies into `sqlite::name` and
/// `postgres::name` tests; the PostgreSQL one passes without running when
/// `TONGJIA_TEST_PG` is unset (and says so).
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if $crate::testing::postgres_url().is_none() {
                        eprintln!("{} not set: PostgreSQL run skipped", $crate::testing::TEST_PG_VAR);
                        return;
                    }
                    super::$name($crate::Backend::Postgres).await
                }
            )+
        }
    };
}
