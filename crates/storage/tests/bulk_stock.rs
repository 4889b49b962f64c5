//! A stock import decided together and written set-based leaves exactly what the same
//! commands leave one by one: the same balances, safety stock, entries and events (in the
//! same order), a clean ledger — and a refusal among them still names its row and writes
//! nothing.

use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::LocationKind;
use tongjia_storage::testing::{TestDb, catalog_row, open_location};
use tongjia_storage::{Backend, Bulk, Db, PageRequest, StockFilter};

async fn world(backend: Backend) -> Option<(TestDb, Db)> {
    let store = TestDb::fresh(backend).await?;
    let db = store.db.clone();
    let rows = [catalog_row("ONE", "692025000001"), catalog_row("TWO", "692025000002")];
    db.import_catalog(&rows, Bulk::Write, |_| {}).await.unwrap();
    let places = [
        open_location("WH", LocationKind::Warehouse, "440112", (113.46, 23.10)),
        open_location("S-1", LocationKind::Direct, "330106", (120.13, 30.26)),
    ];
    db.import_locations(&[], &places, Bulk::Write, |_| {}).await.unwrap();
    Some((store, db))
}

/// Receipts, adjustments, counts and safety stock over four keys, repeating keys.
fn commands() -> Vec<StockCommand> {
    let key = |l: &str, s: &str| StockKey {
        location_code: LocationCode::parse(l).unwrap(),
        sku_code: SkuCode::parse(s).unwrap(),
        owner: Owner::Brand,
    };
    let mut cmds: Vec<StockCommand> = [("WH", "ONE"), ("WH", "TWO"), ("S-1", "ONE"), ("S-1", "TWO")]
        .iter()
        .map(|(l, s)| StockCommand::Receive { key: key(l, s), quantity: Quantity::new(100).unwrap(), reference: None })
        .collect();
    for i in 0..40i64 {
        let (l, s) = [("WH", "ONE"), ("WH", "TWO"), ("S-1", "ONE"), ("S-1", "TWO")][(i % 4) as usize];
        cmds.push(match i % 5 {
            0..=2 => StockCommand::Receive { key: key(l, s), quantity: Quantity::new(i + 1).unwrap(), reference: Some(format!("r{i}")) },
            3 => StockCommand::Adjust { key: key(l, s), delta: -1, reason: "shrink".into() },
            _ => StockCommand::SetSafetyStock {
                location_code: LocationCode::parse(l).unwrap(),
                sku_code: SkuCode::parse(s).unwrap(),
                quantity: i,
            },
        });
    }
    cmds.push(StockCommand::Count { key: key("S-1", "TWO"), counted: 7, reference: None });
    cmds
}

/// What a database holds of the ledger, without ids and times.
async fn state(db: &Db) -> (Vec<String>, Vec<String>) {
    let page = PageRequest { limit: Some(500), after: None };
    let positions = db.positions(&StockFilter::default(), &page).await.unwrap();
    let mut balances: Vec<String> = positions.items.iter().map(|p| format!("{:?} {:?}", p.key, p.position)).collect();
    balances.sort();
    let events = db.events_after(0, None, 1000).await.unwrap();
    let events = events
        .iter()
        .filter(|e| e.event_type.starts_with("stock"))
        .map(|e| format!("{} {} {}", e.event_type, e.subject, e.payload["balances"]))
        .collect();
    (balances, events)
}

async fn at_once_and_one_by_one_leave_the_same_ledger(backend: Backend) {
    let Some((_a, at_once)) = world(backend).await else { return };
    let Some((_b, one_by_one)) = world(backend).await else { return };
    let cmds = commands();
    // Twice: the second import meets the safety stock the first set (rows with no owner).
    for _ in 0..2 {
        at_once.execute_all(&cmds, Bulk::Write, |_| {}).await.unwrap();
        for cmd in &cmds {
            one_by_one.execute(cmd.clone(), None).await.unwrap();
        }
    }
    assert_eq!(state(&at_once).await, state(&one_by_one).await);
    assert!(at_once.audit_ledger().await.unwrap().is_empty());
    let entries = |db: &Db| {
        let db = db.clone();
        async move {
            let page = PageRequest { limit: Some(500), after: None };
            db.entries(&StockFilter::default(), &page)
                .await
                .unwrap()
                .items
                .iter()
                .map(|e| format!("{:?}", (e.entry.kind, &e.entry.key, e.entry.on_hand_delta)))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(entries(&at_once).await, entries(&one_by_one).await);
}

async fn a_refusal_among_them_names_its_row_and_writes_nothing(backend: Backend) {
    let Some((_s, db)) = world(backend).await else { return };
    let mut cmds = commands();
    // Takes more than is there: refused.
    cmds.insert(
        30,
        StockCommand::Adjust {
            key: StockKey {
                location_code: LocationCode::parse("WH").unwrap(),
                sku_code: SkuCode::parse("ONE").unwrap(),
                owner: Owner::Brand,
            },
            delta: -10_000,
            reason: "too much".into(),
        },
    );
    let refused = db.execute_all(&cmds, Bulk::Write, |_| {}).await.unwrap_err();
    assert_eq!(refused.0.iter().map(|(i, _)| *i).collect::<Vec<_>>(), vec![30], "{refused}");
    assert!(state(&db).await.0.is_empty(), "nothing was written");
}

/// Receipts of every SKU at every location, partner-owned at the store, as a load takes them.
fn opening() -> Vec<StockCommand> {
    let mut cmds = vec![];
    for (l, owner) in [("WH", Owner::Brand), ("S-1", Owner::Brand)] {
        for (s, q) in [("ONE", 7), ("TWO", 11)] {
            let key =
                StockKey { location_code: LocationCode::parse(l).unwrap(), sku_code: SkuCode::parse(s).unwrap(), owner: owner.clone() };
            cmds.push(StockCommand::Receive { key, quantity: Quantity::new(q).unwrap(), reference: Some("opening, \"quoted\"".into()) });
        }
    }
    cmds
}

async fn a_load_leaves_the_ledger_receipts_leave_with_one_event(backend: Backend) {
    let Some((_a, loaded)) = world(backend).await else { return };
    let Some((_b, received)) = world(backend).await else { return };
    let cmds = opening();
    let summary = loaded.load_stock(&cmds).await.unwrap();
    assert_eq!((summary.positions, summary.units), (4, 36));
    assert_eq!(summary.locations.iter().map(|l| l.as_str()).collect::<Vec<_>>(), ["S-1", "WH"]);
    for cmd in &cmds {
        received.execute(cmd.clone(), None).await.unwrap();
    }
    assert_eq!(state(&loaded).await.0, state(&received).await.0, "the same balances");
    assert!(loaded.audit_ledger().await.unwrap().is_empty(), "every balance is its entries' sum");
    let page = PageRequest { limit: Some(500), after: None };
    let entries = loaded.entries(&StockFilter::default(), &page).await.unwrap().items;
    assert_eq!(entries.len(), 4);
    assert!(entries.iter().all(|e| e.entry.reference.as_deref() == Some("opening, \"quoted\"")), "text fields survive COPY's CSV");
    let events = loaded.events_after(0, None, 1000).await.unwrap();
    let stock: Vec<_> = events.iter().filter(|e| e.event_type.starts_with("stock")).collect();
    assert_eq!(stock.len(), 1, "one event for the batch");
    assert_eq!(stock[0].event_type, "stock.loaded");
    assert_eq!(stock[0].payload["positions"], 4);

    // Again onto the same pairs: refused whole, nothing more written.
    let again = loaded.load_stock(&cmds).await.unwrap_err();
    assert!(again.to_string().contains("already hold stock"), "{again}");
    let mut unknown = opening();
    if let StockCommand::Receive { key, .. } = &mut unknown[0] {
        key.sku_code = SkuCode::parse("NOPE").unwrap();
    }
    assert!(loaded.load_stock(&unknown).await.unwrap_err().to_string().contains("NOPE"));
    let adjust = StockCommand::Adjust {
        key: StockKey { location_code: LocationCode::parse("WH").unwrap(), sku_code: SkuCode::parse("ONE").unwrap(), owner: Owner::Brand },
        delta: 1,
        reason: "x".into(),
    };
    assert!(loaded.load_stock(&[adjust]).await.unwrap_err().to_string().contains("not a receipt"));
    assert_eq!(loaded.entries(&StockFilter::default(), &page).await.unwrap().items.len(), 4, "refused loads wrote nothing");
}

tongjia_storage::backend_tests!(
    at_once_and_one_by_one_leave_the_same_ledger,
    a_refusal_among_them_names_its_row_and_writes_nothing,
    a_load_leaves_the_ledger_receipts_leave_with_one_event
);
