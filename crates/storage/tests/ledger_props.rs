//! Property test through the real SQLite storage: random sequences of stock commands, run
//! through `Db::execute`, never break `0 ≤ reserved ≤ on_hand`, keep every balance equal to
//! the sum of its entries, conserve stock, and a refused command writes nothing.

use jiff::{SignedDuration, Timestamp};
use proptest::prelude::*;
use tongjia_domain::Fen;
use tongjia_domain::codes::{LocationCode, Owner, PartnerCode, SkuCode};
use tongjia_domain::ledger::{EntryKind, Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Location, LocationKind};
use tongjia_storage::Backend;
use tongjia_storage::testing::{TestDb, backends, catalog_row, open_location};
use tongjia_storage::{Db, PageRequest, Partner, StockFilter, StoreError};
use uuid::Uuid;

const LOCATIONS: [&str; 3] = ["WH", "S1", "S2"];

#[derive(Debug, Clone)]
enum Op {
    Receive(usize, bool, i64),
    Adjust(usize, bool, i64),
    Count(usize, bool, i64),
    Sell(usize, bool, i64),
    Return(usize, bool, i64),
    Reserve(usize, bool, i64, i64),
    Release(usize),
    Commit(usize),
    Expire(usize, i64),
    TransferOut(usize, usize, bool, i64),
    TransferIn(usize),
    Safety(usize, i64),
}

fn op() -> impl Strategy<Value = Op> {
    let l = 0usize..3;
    let o = any::<bool>();
    prop_oneof![
        3 => (l.clone(), o, 1i64..20).prop_map(|(l, o, q)| Op::Receive(l, o, q)),
        1 => (l.clone(), o, -10i64..10).prop_map(|(l, o, d)| Op::Adjust(l, o, d)),
        1 => (l.clone(), o, -1i64..20).prop_map(|(l, o, c)| Op::Count(l, o, c)),
        2 => (l.clone(), o, 1i64..8).prop_map(|(l, o, q)| Op::Sell(l, o, q)),
        1 => (l.clone(), o, 1i64..4).prop_map(|(l, o, q)| Op::Return(l, o, q)),
        3 => (l.clone(), o, 1i64..8, 1i64..600).prop_map(|(l, o, q, t)| Op::Reserve(l, o, q, t)),
        1 => (0usize..16).prop_map(Op::Release),
        1 => (0usize..16).prop_map(Op::Commit),
        1 => (0usize..16, 0i64..900).prop_map(|(i, t)| Op::Expire(i, t)),
        1 => (l.clone(), l.clone(), o, 1i64..8).prop_map(|(a, b, o, q)| Op::TransferOut(a, b, o, q)),
        1 => (0usize..8).prop_map(Op::TransferIn),
        1 => (l, 0i64..5).prop_map(|(l, q)| Op::Safety(l, q)),
    ]
}

async fn seeded_db(db: Db) -> Db {
    let (product, sku, _) = catalog_row("PHONE", "690123456789");
    db.import_catalog(&[(product, sku, Some(Fen::yuan(1999)))], |_| {}).await.unwrap();
    let locations: Vec<Location> = LOCATIONS
        .iter()
        .map(|code| {
            let kind = if *code == "WH" { LocationKind::Warehouse } else { LocationKind::Direct };
            open_location(code, kind, "330106", (120.1, 30.2))
        })
        .collect();
    let partner = Partner { code: PartnerCode::parse("P1").unwrap(), name: "Partner".into() };
    db.import_locations(&[partner], &locations, |_| {}).await.unwrap();
    db
}

fn key(l: usize, partner: bool) -> StockKey {
    StockKey {
        location_code: LocationCode::parse(LOCATIONS[l]).unwrap(),
        sku_code: SkuCode::parse("PHONE").unwrap(),
        owner: if partner { Owner::Partner(PartnerCode::parse("P1").unwrap()) } else { Owner::Brand },
    }
}

async fn entry_count(db: &Db) -> usize {
    let mut n = 0;
    let mut page = PageRequest { limit: Some(500), after: None };
    loop {
        let p = db.entries(&StockFilter::default(), &page).await.unwrap();
        n += p.items.len();
        match p.next_cursor {
            Some(c) => page.after = Some(c),
            None => return n,
        }
    }
}

async fn run(backend: Backend, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let store = TestDb::fresh(backend).await.unwrap();
    let db = seeded_db(store.db.clone()).await;
    let t0 = Timestamp::now();
    let mut reservations: Vec<Uuid> = vec![];
    let mut transfers: Vec<Uuid> = vec![];
    for op in ops {
        let mut now = t0;
        let cmd = match op {
            Op::Receive(l, o, q) => StockCommand::Receive { key: key(l, o), quantity: Quantity::new(q).unwrap(), reference: None },
            Op::Adjust(l, o, d) => StockCommand::Adjust { key: key(l, o), delta: d, reason: "check".into() },
            Op::Count(l, o, c) => StockCommand::Count { key: key(l, o), counted: c, reference: None },
            Op::Sell(l, o, q) => StockCommand::Sell { key: key(l, o), quantity: Quantity::new(q).unwrap(), reference: None },
            Op::Return(l, o, q) => {
                StockCommand::Return { key: key(l, o), quantity: Quantity::new(q).unwrap(), reference: None, damaged: q == 2 }
            }
            Op::Reserve(l, o, q, ttl) => {
                let id = Uuid::now_v7();
                reservations.push(id);
                let expires_at = t0.checked_add(SignedDuration::from_secs(ttl)).unwrap();
                StockCommand::Reserve {
                    reservation_id: id,
                    key: key(l, o),
                    quantity: Quantity::new(q).unwrap(),
                    expires_at,
                    reference: None,
                }
            }
            Op::Release(i) => StockCommand::Release { reservation_id: reservations.get(i).copied().unwrap_or_else(Uuid::now_v7) },
            Op::Commit(i) => {
                StockCommand::Commit { reservation_id: reservations.get(i).copied().unwrap_or_else(Uuid::now_v7), reference: None }
            }
            Op::Expire(i, t) => {
                now = t0.checked_add(SignedDuration::from_secs(t)).unwrap();
                StockCommand::Expire { reservation_id: reservations.get(i).copied().unwrap_or_else(Uuid::now_v7) }
            }
            Op::TransferOut(a, b, o, q) => {
                let id = Uuid::now_v7();
                transfers.push(id);
                StockCommand::TransferOut {
                    transfer_id: id,
                    from: key(a, o),
                    to_location_code: LocationCode::parse(LOCATIONS[b]).unwrap(),
                    quantity: Quantity::new(q).unwrap(),
                }
            }
            Op::TransferIn(i) => StockCommand::TransferIn { transfer_id: transfers.get(i).copied().unwrap_or_else(Uuid::now_v7) },
            Op::Safety(l, q) => StockCommand::SetSafetyStock {
                location_code: LocationCode::parse(LOCATIONS[l]).unwrap(),
                sku_code: SkuCode::parse("PHONE").unwrap(),
                quantity: q,
            },
        };
        let before = entry_count(&db).await;
        match db.execute_at(cmd, None, now).await {
            Ok(_) => {}
            Err(StoreError::Domain(_)) => prop_assert_eq!(entry_count(&db).await, before, "a refused command wrote entries"),
            Err(e) => return Err(TestCaseError::fail(format!("storage failed: {e}"))),
        }
        let problems = db.audit_ledger().await.unwrap();
        prop_assert!(problems.is_empty(), "{:?}", problems);
    }
    // Conservation: receipts − sales + returns + adjustments + counts = on hand + in transit.
    let mut flow = 0i64;
    let mut page = PageRequest { limit: Some(500), after: None };
    loop {
        let p = db.entries(&StockFilter::default(), &page).await.unwrap();
        for e in &p.items {
            if matches!(
                e.entry.kind,
                EntryKind::Receipt | EntryKind::Return | EntryKind::Adjustment | EntryKind::Count | EntryKind::Sale | EntryKind::Commit
            ) {
                flow += e.entry.on_hand_delta;
            }
        }
        match p.next_cursor {
            Some(c) => page.after = Some(c),
            None => break,
        }
    }
    let on_hand: i64 = db
        .positions(&StockFilter::default(), &PageRequest { limit: Some(500), after: None })
        .await
        .unwrap()
        .items
        .iter()
        .map(|p| p.position.on_hand)
        .sum();
    let mut in_transit = 0;
    for id in transfers {
        if let Some(t) = db.transfer(id).await.unwrap()
            && t.status == tongjia_domain::ledger::TransferStatus::InTransit
        {
            in_transit += t.quantity.get();
        }
    }
    prop_assert_eq!(flow, on_hand + in_transit);
    db.close().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn stored_ledger_keeps_invariants_under_random_commands(ops in prop::collection::vec(op(), 1..50)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for backend in backends() {
            rt.block_on(run(backend, ops.clone())).map_err(|e| TestCaseError::fail(format!("on {}: {e}", backend.name())))?;
        }
    }
}
