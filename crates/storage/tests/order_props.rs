//! Property test of the order flow on real SQLite: random sequences of orders (every
//! fulfilment), payments, shipments, pickups, cancellations, expiries and returns keep the
//! ledger sound after every step and conserve stock; points balances equal their history.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use tongjia_domain::Fen;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::customer::Mobile;
use tongjia_domain::ledger::{EntryKind, Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Capabilities, GeoPoint, Location, LocationKind};
use tongjia_domain::orders::{Fulfilment, OrderAction, OrderPolicy};
use tongjia_domain::pricing::{Channel, PriceChange};
use tongjia_storage::Backend;
use tongjia_storage::testing::{TestDb, backends, catalog_row, open_location};
use tongjia_storage::{Db, Destination, NewOrder, NewPayment, PageRequest, StockFilter, StoreError};
use uuid::Uuid;

const LOCATIONS: [(&str, LocationKind, f64, f64, &str); 4] = [
    ("WH", LocationKind::Warehouse, 113.4, 23.1, "440112"),
    ("S1", LocationKind::Direct, 120.1, 30.2, "330106"),
    ("S2", LocationKind::Direct, 120.5, 29.5, "330782"),
    ("S3", LocationKind::Direct, 116.4, 39.9, "110105"),
];
const SKUS: [&str; 2] = ["PHONE", "BAND"];

#[derive(Debug, Clone)]
enum Op {
    Place { fulfilment: u8, store: usize, sku: usize, qty: i64, member: bool, redeem: i64 },
    Pay(usize),
    Ship(usize),
    Deliver(usize),
    Ready(usize),
    HandOver(usize),
    Cancel(usize),
    Expire(i64),
    Return { order: usize, qty: i64, damaged: bool, store: usize },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..4, 1usize..4, 0usize..2, 1i64..6, any::<bool>(), 0i64..300)
            .prop_map(|(fulfilment, store, sku, qty, member, redeem)| Op::Place { fulfilment, store, sku, qty, member, redeem }),
        3 => (0usize..12).prop_map(Op::Pay),
        2 => (0usize..12).prop_map(Op::Ship),
        1 => (0usize..12).prop_map(Op::Deliver),
        1 => (0usize..12).prop_map(Op::Ready),
        1 => (0usize..12).prop_map(Op::HandOver),
        1 => (0usize..12).prop_map(Op::Cancel),
        1 => (0i64..2000).prop_map(Op::Expire),
        2 => (0usize..12, 1i64..4, any::<bool>(), 1usize..4).prop_map(|(order, qty, damaged, store)| Op::Return { order, qty, damaged, store }),
    ]
}

async fn seeded(db: Db) -> Db {
    let mut rows = vec![];
    for (i, sku) in SKUS.iter().enumerate() {
        rows.push(catalog_row(sku, &format!("69012345678{i}")));
    }
    db.import_catalog(&rows, |_| {}).await.unwrap();
    for (i, sku) in SKUS.iter().enumerate() {
        let change = PriceChange {
            sku_code: SkuCode::parse(sku).unwrap(),
            list_price: Fen::new(99_900 + i as i64 * 777),
            member_price: Some(Fen::new(95_000)),
            effective_at: None,
            note: None,
        };
        db.schedule_price(change, None).await.unwrap();
    }
    let locations: Vec<Location> = LOCATIONS
        .iter()
        .map(|(code, kind, lon, lat, county)| Location {
            capabilities: Capabilities { pickup: true, ship_from_store: true, delivery_radius_km: 0 },
            ..open_location(code, *kind, county, (*lon, *lat))
        })
        .collect();
    db.import_locations(&[], &locations, |_| {}).await.unwrap();
    let mut cmds = vec![];
    for (code, _, _, _, _) in LOCATIONS {
        for sku in SKUS {
            let key =
                StockKey { location_code: LocationCode::parse(code).unwrap(), sku_code: SkuCode::parse(sku).unwrap(), owner: Owner::Brand };
            cmds.push(StockCommand::Receive { key, quantity: Quantity::new(if code == "WH" { 20 } else { 4 }).unwrap(), reference: None });
        }
    }
    db.execute_all(&cmds, |_| {}).await.unwrap();
    db
}

async fn all_entries(db: &Db) -> Vec<tongjia_storage::EntryRecord> {
    let mut out = vec![];
    let mut page = PageRequest { limit: Some(500), after: None };
    loop {
        let p = db.entries(&StockFilter::default(), &page).await.unwrap();
        out.extend(p.items);
        match p.next_cursor {
            Some(c) => page.after = Some(c),
            None => return out,
        }
    }
}

async fn run(backend: Backend, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = TestDb::fresh(backend).await.unwrap();
    let db = seeded(store.db.clone()).await;
    let policy = OrderPolicy::default();
    let member = Mobile::parse("13900139000").unwrap();
    let mut orders: Vec<(Uuid, Option<String>)> = vec![];
    let pick = |orders: &Vec<(Uuid, Option<String>)>, i: usize| orders.get(i % orders.len().max(1)).cloned();
    for op in ops {
        let result: Result<(), StoreError> = match op {
            Op::Place { fulfilment, store, sku, qty, member: is_member, redeem } => {
                let fulfilment =
                    [Fulfilment::Delivery, Fulfilment::Pickup, Fulfilment::CarryOut, Fulfilment::EndlessAisle][fulfilment as usize];
                let store_code = LocationCode::parse(LOCATIONS[store].0).unwrap();
                let new = NewOrder {
                    channel: if matches!(fulfilment, Fulfilment::CarryOut | Fulfilment::EndlessAisle) {
                        Channel::Store(store_code.clone())
                    } else {
                        Channel::Online
                    },
                    fulfilment,
                    customer: is_member.then(|| member.clone()),
                    lines: vec![(SkuCode::parse(SKUS[sku]).unwrap(), Quantity::new(qty).unwrap())],
                    destination: fulfilment.ships().then(|| Destination::Point(GeoPoint::new(120.0, 30.0).unwrap())),
                    pickup_store: (fulfilment == Fulfilment::Pickup).then_some(store_code),
                    redeem_points: if is_member { redeem } else { 0 },
                };
                db.place_order(new, &policy, None).await.map(|o| orders.push((o.id, o.pickup_code.clone())))
            }
            Op::Pay(i) => match pick(&orders, i) {
                Some((id, _)) => {
                    let total = db.order(id).await.unwrap().unwrap().total;
                    db.pay_order(id, NewPayment { amount: total, external_reference: "ref".into(), method: "cash".into() }, &policy, None)
                        .await
                        .map(|_| ())
                }
                None => Ok(()),
            },
            Op::Ship(i) | Op::Deliver(i) | Op::Ready(i) => match pick(&orders, i) {
                Some((id, _)) => {
                    let action = match op {
                        Op::Ship(_) => OrderAction::Ship,
                        Op::Deliver(_) => OrderAction::Complete,
                        _ => OrderAction::MarkReady,
                    };
                    db.advance_order(id, action, &policy, None).await.map(|_| ())
                }
                None => Ok(()),
            },
            Op::HandOver(i) => match pick(&orders, i) {
                Some((id, code)) => db.hand_over_order(id, code.as_deref().unwrap_or("none"), &policy, None).await.map(|_| ()),
                None => Ok(()),
            },
            Op::Cancel(i) => match pick(&orders, i) {
                Some((id, _)) => db.cancel_order(id, false, None).await.map(|_| ()),
                None => Ok(()),
            },
            Op::Expire(secs) => {
                let at = Timestamp::now().checked_add(SignedDuration::from_secs(secs)).unwrap();
                db.expire_due_orders(at).await.map(|_| ())
            }
            Op::Return { order, qty, damaged, store } => match pick(&orders, order) {
                Some((id, _)) => {
                    let store = LocationCode::parse(LOCATIONS[store].0).unwrap();
                    db.return_order_lines(id, &store, &[(1, Quantity::new(qty).unwrap(), damaged)], &policy, None).await.map(|_| ())
                }
                None => Ok(()),
            },
        };
        match result {
            Ok(()) | Err(StoreError::Domain(_)) => {}
            Err(e) => return Err(TestCaseError::fail(format!("{op:?} failed in storage: {e}"))),
        }
        let problems = db.audit_ledger().await.unwrap();
        prop_assert!(problems.is_empty(), "after {:?}: {:?}", op, problems);
    }
    // Conservation: receipts − sales + returns (+ damaged) = on hand + damaged + in transit.
    let entries = all_entries(&db).await;
    let flow: i64 = entries
        .iter()
        .map(|e| match e.entry.kind {
            EntryKind::Receipt | EntryKind::Return | EntryKind::Sale | EntryKind::Commit | EntryKind::Adjustment | EntryKind::Count => e.entry.on_hand_delta,
            _ => 0,
        } + e.entry.damaged_delta)
        .sum();
    let positions = db.positions(&StockFilter::default(), &PageRequest { limit: Some(500), after: None }).await.unwrap().items;
    let held: i64 = positions.iter().map(|p| p.position.on_hand + p.position.damaged).sum();
    let mut in_transit = 0;
    for e in entries.iter().filter(|e| e.entry.kind == EntryKind::TransferOut) {
        let t = db.transfer(e.entry.transfer_id.unwrap()).await.unwrap().unwrap();
        if t.status == tongjia_domain::ledger::TransferStatus::InTransit {
            in_transit += t.quantity.get();
        }
    }
    prop_assert_eq!(flow, held + in_transit);
    // Sold units equal what orders handed over minus nothing returned twice.
    let sold: i64 = -entries.iter().filter(|e| e.entry.kind == EntryKind::Commit).map(|e| e.entry.on_hand_delta).sum::<i64>();
    let mut fulfilled = 0;
    let mut returned = 0;
    for (id, _) in &orders {
        let o = db.order(*id).await.unwrap().unwrap();
        if o.fulfilled_at.is_some() {
            fulfilled += o.lines.iter().map(|l| l.quantity.get()).sum::<i64>();
        }
        returned += o.lines.iter().map(|l| l.returned_quantity).sum::<i64>();
        prop_assert!(o.refunded.get() <= o.paid.get());
    }
    prop_assert_eq!(sold, fulfilled);
    let returns_in: i64 =
        entries.iter().filter(|e| e.entry.kind == EntryKind::Return).map(|e| e.entry.on_hand_delta + e.entry.damaged_delta).sum();
    prop_assert_eq!(returns_in, returned);
    if let Some(c) = db.customer(&member).await.unwrap() {
        let history = db.points_history(&member, &PageRequest { limit: Some(500), after: None }).await.unwrap();
        prop_assert_eq!(c.points_balance, history.items.iter().map(|p| p.delta).sum::<i64>());
        prop_assert!(c.points_balance >= 0);
    }
    db.close().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn random_order_flows_keep_the_ledger_sound(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for backend in backends() {
            rt.block_on(run(backend, ops.clone())).map_err(|e| TestCaseError::fail(format!("on {}: {e}", backend.name())))?;
        }
    }
}
