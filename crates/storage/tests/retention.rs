//! Retention on both engines, on a simulated clock: idempotency keys are removed once past
//! their window (a retry then is a new request), the outbox is trimmed from its oldest end
//! past its own and remembers how far, and each pass is bounded.

use jiff::{SignedDuration, Timestamp};
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::ledger::{Decision, Quantity, StockCommand, StockKey};
use tongjia_domain::location::LocationKind;
use tongjia_storage::testing::{TestDb, catalog_row, open_location};
use tongjia_storage::{Backend, Clock, Idem, PURGE_BATCH, Removed, Retention, StoreError};

fn key() -> StockKey {
    StockKey { location_code: LocationCode::parse("WH").unwrap(), sku_code: SkuCode::parse("ONE").unwrap(), owner: Owner::Brand }
}

fn render(d: &Decision) -> String {
    format!("{}", d.entries.len())
}

fn idem(i: usize) -> Idem<'static, Decision> {
    Idem {
        scope: "POST /api/v1/stock/receipts".into(),
        key: Some(format!("rcpt-{i}")),
        audit: None,
        request_hash: format!("hash-{i}"),
        status: 201,
        render: &render,
        rendered: Default::default(),
    }
}

fn receive() -> StockCommand {
    StockCommand::Receive { key: key(), quantity: Quantity::new(1).unwrap(), reference: None }
}

/// A SKU and a warehouse on a simulated clock.
async fn warehouse(backend: Backend) -> (TestDb, tongjia_storage::Db, Clock) {
    let store = TestDb::fresh(backend).await.unwrap();
    let clock = Clock::simulated(Timestamp::from_second(1_900_000_000).unwrap());
    let db = store.db.clone().with_clock(clock.clone());
    db.import_catalog(&[catalog_row("ONE", "690123456789")], tongjia_storage::Bulk::Write, |_| {}).await.unwrap();
    db.import_locations(
        &[],
        &[open_location("WH", LocationKind::Warehouse, "110112", (116.66, 39.91))],
        tongjia_storage::Bulk::Write,
        |_| {},
    )
    .await
    .unwrap();
    (store, db, clock)
}

async fn keys_and_events_go_after_their_window(backend: Backend) {
    let (_store, db, clock) = warehouse(backend).await;
    let keep = Retention::default();
    for i in 0..5 {
        db.execute(receive(), Some(&idem(i))).await.unwrap();
    }
    let head = db.outbox_head().await.unwrap();
    let old_events = db.events_after(0, None, 1000).await.unwrap().len() as u64;
    // Within the window: the keys replay, nothing is removed.
    clock.advance(SignedDuration::from_hours(23));
    assert_eq!(db.purge(&keep, clock.now()).await.unwrap(), Removed::default());
    assert!(matches!(db.execute(receive(), Some(&idem(0))).await, Err(StoreError::Replay(_))));
    // Past it: the keys are gone and a retry is a new request; the events stay.
    clock.advance(SignedDuration::from_hours(2));
    let removed = db.purge(&keep, clock.now()).await.unwrap();
    assert_eq!(removed, Removed { idempotency_keys: 5, events: 0, credentials: 0 });
    db.execute(receive(), Some(&idem(0))).await.unwrap();
    assert_eq!(db.outbox_trimmed_through().await.unwrap(), 0);
    // Past the outbox's window: the old events are trimmed, the newer one stays.
    clock.advance(SignedDuration::from_hours(30 * 24 - 1));
    let removed = db.purge(&keep, clock.now()).await.unwrap();
    assert_eq!(removed, Removed { idempotency_keys: 1, events: old_events, credentials: 0 }, "the key of the retry goes too");
    assert_eq!(db.outbox_trimmed_through().await.unwrap(), head);
    let left = db.events_after(0, None, 100).await.unwrap();
    assert_eq!(left.len(), 1, "the receipt made a day later is kept: {left:?}");
    assert!(left[0].seq > head);
}

async fn a_pass_is_bounded(backend: Backend) {
    let (_store, db, clock) = warehouse(backend).await;
    let n = PURGE_BATCH as usize + 50;
    let cmds: Vec<StockCommand> = (0..n).map(|_| receive()).collect();
    db.execute_all(&cmds, tongjia_storage::Bulk::Write, |_| {}).await.unwrap();
    let events = db.events_after(0, None, 10_000).await.unwrap().len() as u64;
    assert!(events >= n as u64, "{events}");
    clock.advance(SignedDuration::from_hours(31 * 24));
    let first = db.purge(&Retention::default(), clock.now()).await.unwrap();
    assert_eq!(first.events, u64::from(PURGE_BATCH), "one pass removes one batch");
    let second = db.purge(&Retention::default(), clock.now()).await.unwrap();
    assert_eq!(first.events + second.events, events);
    assert!(db.events_after(0, None, 10).await.unwrap().is_empty());
}

tongjia_storage::backend_tests!(keys_and_events_go_after_their_window, a_pass_is_bounded);
