//! Upgrading: a database an older release left is migrated when opened, and keeps its data.

use tongjia_storage::testing::{migrate_only_to, migration_versions, postgres_url};
use tongjia_storage::{Backend, Db, PageRequest, ScratchDb, StockFilter};

async fn an_older_schema_is_migrated_on_open_and_keeps_its_data(backend: Backend) {
    let pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => postgres_url(),
    };
    let scratch = ScratchDb::new("t", pg.as_deref()).await.unwrap();
    let versions = migration_versions();
    assert!(versions.len() >= 2);
    // The first release: the foundation only (no damaged stock, no orders).
    migrate_only_to(&scratch.url, versions[0]).await;
    {
        sqlx::any::install_default_drivers();
        let old = sqlx::AnyPool::connect(&scratch.url).await.unwrap();
        for statement in [
            "INSERT INTO products (code, name, category, created_at_us, updated_at_us) VALUES ('P', 'Phone', 'phone', 1, 1)",
            "INSERT INTO skus (code, product_code, name, attributes, gtin, active, created_at_us, updated_at_us) \
             VALUES ('PHONE', 'P', 'Phone', '{}', '6901234567892', TRUE, 1, 1)",
            "INSERT INTO locations (code, name, kind, county_code, longitude, latitude, status, opened_on, pickup, ship_from_store, \
             delivery_radius_km, created_at_us, updated_at_us) \
             VALUES ('D-1', 'West Lake', 'direct', '330106', 120.13, 30.26, 'open', '2025-03-01', TRUE, TRUE, 10, 1, 1)",
            "INSERT INTO stock_positions (location_code, sku_code, owner, on_hand, reserved, updated_at_us) VALUES ('D-1', 'PHONE', 'brand', 5, 1, 1)",
        ] {
            sqlx::query(statement).execute(&old).await.unwrap();
        }
        old.close().await;
    }

    let db = Db::connect(&scratch.url).await.unwrap();
    assert_eq!(db.schema_version().await.unwrap(), *versions.last().unwrap(), "every later migration ran on open");
    let balances = db.positions(&StockFilter::default(), &PageRequest::default()).await.unwrap().items;
    assert_eq!(balances.len(), 1);
    let p = balances[0].position;
    assert_eq!((p.on_hand, p.reserved, p.damaged), (5, 1, 0), "old rows kept, new column defaulted");
    assert!(db.location("D-1").await.unwrap().is_some());
    // Opening again is a no-op.
    db.close().await;
    let again = Db::connect(&scratch.url).await.unwrap();
    assert_eq!(again.schema_version().await.unwrap(), *versions.last().unwrap());
    again.close().await;
}

tongjia_storage::backend_tests!(an_older_schema_is_migrated_on_open_and_keeps_its_data);
