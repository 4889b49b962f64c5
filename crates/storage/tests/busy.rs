//! A write that cannot get its turn in time is refused as busy, writes nothing, and the
//! same write succeeds once the turn is free (PostgreSQL; SQLite waits for its one write
//! connection instead).

use sqlx::{Connection, Executor, PgConnection};
use std::time::{Duration, Instant};
use tongjia_storage::testing::{TestDb, catalog_row, postgres_url};
use tongjia_storage::{Backend, Db, Options, SkuFilter, StoreError};

#[tokio::test]
async fn a_write_that_cannot_get_its_turn_in_time_is_busy_and_writes_nothing() {
    if postgres_url().is_none() {
        eprintln!("TONGJIA_TEST_PG not set: skipped");
        return;
    }
    let store = TestDb::fresh(Backend::Postgres).await.unwrap();
    let db = Db::connect_with(store.url(), &Options { write_wait: Duration::from_millis(300), ..Options::default() }).await.unwrap();

    // Another server holds the write turn (an open transaction that took the schema's lock).
    let mut other = PgConnection::connect(store.url()).await.unwrap();
    other.execute("BEGIN").await.unwrap();
    other.execute("SELECT 1 FROM pg_advisory_xact_lock(hashtext(current_schema()))").await.unwrap();

    let started = Instant::now();
    let refused = db.import_catalog(&[catalog_row("WAITED", "690123456789")], tongjia_storage::Bulk::Write, |_| {}).await;
    assert!(
        matches!(refused.as_ref().map_err(|r| &r.0[..]), Err([(_, StoreError::Busy(_))])),
        "{:?}",
        refused.err().map(|e| e.to_string())
    );
    assert!(started.elapsed() < Duration::from_secs(5), "refused after the wait, not queued: {:?}", started.elapsed());
    assert!(db.skus(&SkuFilter::default(), &Default::default()).await.unwrap().items.is_empty(), "nothing written");

    other.execute("COMMIT").await.unwrap();
    db.import_catalog(&[catalog_row("WAITED", "690123456789")], tongjia_storage::Bulk::Write, |_| {})
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    assert_eq!(db.skus(&SkuFilter::default(), &Default::default()).await.unwrap().items.len(), 1);
    db.close().await;
}
