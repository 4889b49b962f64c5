//! Fresh databases for tests, on either engine (feature `testing`).
//!
//! SQLite: a file in a temporary directory. PostgreSQL: a new schema `t_<uuid>` in the
//! database `TONGJIA_TEST_PG` names, reached through `search_path`, dropped with the
//! [`TestDb`]. [`backend_tests!`](crate::backend_tests) turns each test into one per engine.

use crate::backend::postgres::on_admin;
use crate::scratch::clean_up;

use crate::{Backend, Db, ScratchDb};
use tongjia_domain::Fen;
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, ProductCode, SkuCode};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus};

/// A catalog row for [`Db::import_catalog`]: product and SKU both named `code`, the GTIN-13
/// completed from its first 12 digits, no price.
pub fn catalog_row(code: &str, gtin12: &str) -> (Product, Sku, Option<Fen>) {
    let product = Product::new(ProductCode::parse(code).unwrap(), code, "phone").unwrap();
    let gtin = Gtin13::from_first12(gtin12).unwrap();
    let sku = Sku::new(SkuCode::parse(code).unwrap(), product.code.clone(), code, Default::default(), gtin, true).unwrap();
    (product, sku, None)
}

/// An open location `code` of `kind` at `(lon, lat)` in `county`: opened 2025-01-01, no
/// township, default capabilities.
pub fn open_location(code: &str, kind: LocationKind, county: &str, (lon, lat): (f64, f64)) -> Location {
    Location::new(Location {
        code: LocationCode::parse(code).unwrap(),
        name: code.to_owned(),
        kind,
        county_code: CountyCode::parse(county).unwrap(),
        township_code: None,
        point: GeoPoint::new(lon, lat).unwrap(),
        status: LocationStatus::Open,
        opened_on: Some(jiff::civil::date(2025, 1, 1)),
        closed_on: None,
        capabilities: Capabilities::default(),
        partner_code: None,
    })
    .unwrap()
}

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
    /// Where it lives; `scratch.url` reaches it (e.g. for `tongjia --db`).
    pub scratch: ScratchDb,
}

impl TestDb {
    /// A fresh database on `backend`; `None` for PostgreSQL when `TONGJIA_TEST_PG` is unset.
    pub async fn fresh(backend: Backend) -> Option<TestDb> {
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(postgres_url()?),
        };
        let scratch = ScratchDb::new("t", pg.as_deref()).await.expect("a scratch database");
        let db = Db::connect(&scratch.url).await.expect("open test database");
        Some(TestDb { db, scratch })
    }

    /// The URL that reaches this database.
    pub fn url(&self) -> &str {
        &self.scratch.url
    }
}

/// Brings the (empty) database `url` names to migration `version` only: the schema an
/// older release left, for upgrade tests. Opening it as a [`Db`] then runs the rest.
pub async fn migrate_only_to(url: &str, version: i64) {
    crate::backend::install_drivers();
    let (migrator, url) = match Backend::of_url(url) {
        Backend::Sqlite => {
            let options = sqlx::sqlite::SqliteConnectOptions::new().filename(crate::backend::sqlite::path_of(url)).create_if_missing(true);
            (&crate::backend::sqlite::MIGRATOR, sqlx::ConnectOptions::to_url_lossy(&options).to_string())
        }
        Backend::Postgres => (&crate::backend::postgres::MIGRATOR, url.to_owned()),
    };
    let pool = sqlx::AnyPool::connect(&url).await.expect("connect");
    migrator.run_to(version, &pool).await.expect("migrate");
    pool.close().await;
}

/// The versions of every migration this build knows, oldest first.
pub fn migration_versions() -> Vec<i64> {
    crate::backend::sqlite::MIGRATOR.iter().map(|m| m.version).collect()
}

/// A new, empty PostgreSQL database beside `TONGJIA_TEST_PG`'s (a restore target),
/// dropped with this guard.
pub struct TestDatabase {
    /// Reaches the new database, with `search_path` set to the schema given.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates it; `None` when `TONGJIA_TEST_PG` is unset.
    pub async fn create(schema: &str) -> Option<TestDatabase> {
        let admin_url = postgres_url()?;
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        on_admin(&admin_url, format!("CREATE DATABASE {name}")).await.expect("create database");
        let (base, query) = admin_url.split_once('?').map_or((admin_url.as_str(), None), |(b, q)| (b, Some(q)));
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        let url = crate::url_in_schema(&format!("{server}/{name}{}", query.map(|q| format!("?{q}")).unwrap_or_default()), schema);
        Some(TestDatabase { url, admin_url, name })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        clean_up(async move { on_admin(&admin_url, format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await });
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
