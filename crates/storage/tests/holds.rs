//! Regression tests at the storage level for the hold of a paid order: an extension is stored
//! field for field, and a paid order's hold survives the sweeper on a clock moved past the
//! unpaid hold, past the paid hold and beyond, then ships as a sale.

use jiff::{SignedDuration, Timestamp};
use tongjia_domain::Fen;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::ledger::{EntryKind, Quantity, ReservationStatus, StockCommand, StockKey};
use tongjia_domain::location::LocationKind;
use tongjia_domain::orders::{Fulfilment, OrderAction, OrderPolicy};
use tongjia_domain::pricing::{Channel, PriceChange};
use tongjia_storage::testing::{TestDb, catalog_row, open_location};
use tongjia_storage::{Backend, Clock, Db, Destination, NewOrder, NewPayment, PageRequest, StockFilter};
use uuid::Uuid;

fn wh_key() -> StockKey {
    StockKey { location_code: LocationCode::parse("WH").unwrap(), sku_code: SkuCode::parse("ONE").unwrap(), owner: Owner::Brand }
}

/// One SKU, one unit at a warehouse, on a simulated clock.
async fn one_unit(backend: Backend) -> (TestDb, Db, Clock) {
    let store = TestDb::fresh(backend).await.unwrap();
    let clock = Clock::simulated(Timestamp::from_second(1_900_000_000).unwrap());
    let db = store.db.clone().with_clock(clock.clone());
    db.import_catalog(&[catalog_row("ONE", "690123456789")], tongjia_storage::Bulk::Write, |_| {}).await.unwrap();
    let price = PriceChange {
        sku_code: SkuCode::parse("ONE").unwrap(),
        list_price: Fen::new(10_000),
        member_price: None,
        effective_at: None,
        note: None,
    };
    db.schedule_price(price, None).await.unwrap();
    db.import_locations(
        &[],
        &[open_location("WH", LocationKind::Warehouse, "110112", (116.66, 39.91))],
        tongjia_storage::Bulk::Write,
        |_| {},
    )
    .await
    .unwrap();
    db.execute(StockCommand::Receive { key: wh_key(), quantity: Quantity::new(1).unwrap(), reference: None }, None).await.unwrap();
    (store, db, clock)
}

async fn an_extension_is_stored(backend: Backend) {
    let (_store, db, clock) = one_unit(backend).await;
    let id = Uuid::now_v7();
    let hold = clock.now().checked_add(SignedDuration::from_mins(5)).unwrap();
    let reserve = StockCommand::Reserve {
        reservation_id: id,
        key: wh_key(),
        quantity: Quantity::new(1).unwrap(),
        expires_at: hold,
        reference: Some("cart 7".into()),
    };
    db.execute(reserve, None).await.unwrap();
    let until = clock.now().checked_add(SignedDuration::from_hours(24 * 30)).unwrap();
    let decided = db.execute(StockCommand::Extend { reservation_id: id, expires_at: until }, None).await.unwrap();
    let stored = db.reservation(id).await.unwrap().unwrap();
    assert_eq!(Some(&stored), decided.reservation.as_ref(), "the row is what the domain decided, every field");
    assert_eq!(stored.expires_at, until);
    // The sweeper sees the stored expiry: nothing is due at the old one.
    clock.advance(SignedDuration::from_mins(10));
    db.sweep(&OrderPolicy::default(), clock.now()).await.unwrap();
    assert_eq!(db.reservation(id).await.unwrap().unwrap().status, ReservationStatus::Active);
}

async fn a_paid_orders_hold_outlives_every_sweep(backend: Backend) {
    let (_store, db, clock) = one_unit(backend).await;
    let policy = OrderPolicy::default();
    let new = NewOrder {
        channel: Channel::Online,
        fulfilment: Fulfilment::Delivery,
        customer: None,
        lines: vec![(SkuCode::parse("ONE").unwrap(), Quantity::new(1).unwrap())],
        destination: Some(Destination::County("110105".into())),
        pickup_store: None,
        redeem_points: 0,
    };
    let order = db.place_order(new.clone(), &policy, None).await.unwrap();
    let payment = NewPayment { amount: order.total, external_reference: "wx".into(), method: "wechat_pay".into() };
    db.pay_order(order.id, payment, &policy, None).await.unwrap();
    let hold = order.allocations[0].reservation_id.unwrap();
    // Past the unpaid hold, past the paid hold, and far beyond it, the sweeper running each time.
    for hours in [1, 24, 24 * 29, 24 * 2, 24 * 60, 24 * 365] {
        clock.advance(SignedDuration::from_hours(hours));
        db.sweep(&policy, clock.now()).await.unwrap();
        let r = db.reservation(hold).await.unwrap().unwrap();
        assert_eq!(r.status, ReservationStatus::Active, "after {hours} h more");
        assert!(r.expires_at > clock.now(), "renewed ahead of the clock: {r:?}");
        assert!(db.place_order(new.clone(), &policy, None).await.is_err(), "the unit is not sold twice");
    }
    let shipped = db.advance_order(order.id, OrderAction::Ship, &policy, None).await.unwrap();
    assert_eq!(shipped.status.as_str(), "shipped");
    assert_eq!(db.reservation(hold).await.unwrap().unwrap().status, ReservationStatus::Committed);
    let entries = db.entries(&StockFilter::default(), &PageRequest { limit: Some(100), after: None }).await.unwrap().items;
    assert!(entries.iter().all(|e| e.entry.kind != EntryKind::Expiry));
    assert_eq!(entries.last().map(|e| e.entry.kind), Some(EntryKind::Commit));
    assert!(db.audit_ledger().await.unwrap().is_empty());
}

tongjia_storage::backend_tests!(an_extension_is_stored, a_paid_orders_hold_outlives_every_sweep);
