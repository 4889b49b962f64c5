//! Group commit (`writer`): writes that queue up share one transaction and commit together,
//! yet each behaves as if it ran alone — a refused write keeps nothing, an accepted one is
//! answered only once it is committed, and every answer is the one its key replays.

use jiff::{SignedDuration, Timestamp};
use sqlx::Connection;
use std::collections::HashMap;
use std::sync::Arc;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::ledger::{Decision, Quantity, StockCommand, StockKey};
use tongjia_domain::location::LocationKind;
use tongjia_storage::testing::{TestDb, catalog_row, open_location, postgres_url};
use tongjia_storage::{Backend, Db, Idem, StockFilter, StoreError};
use uuid::Uuid;

const UNITS: i64 = 50;
const BUYERS: usize = 120;
/// Buyers who name a warehouse that does not exist (refused after their key is claimed).
const LOST: usize = 20;

fn render(d: &Decision) -> String {
    format!("{} {}", d.event_type, d.reservation.as_ref().map(|r| r.id.to_string()).unwrap_or_default())
}

fn stock_key(location: &str) -> StockKey {
    StockKey { location_code: LocationCode::parse(location).unwrap(), sku_code: SkuCode::parse("PHONE").unwrap(), owner: Owner::Brand }
}

async fn seeded(db: &Db) {
    db.import_catalog(&[catalog_row("PHONE", "690123456789")], tongjia_storage::Bulk::Write, |_| {})
        .await
        .map_err(|e| e.to_string())
        .unwrap();
    let wh = open_location("WH", LocationKind::Warehouse, "330106", (120.1, 30.2));
    db.import_locations(&[], &[wh], tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| e.to_string()).unwrap();
    let receive = StockCommand::Receive { key: stock_key("WH"), quantity: Quantity::new(UNITS).unwrap(), reference: None };
    db.execute(receive, None).await.unwrap();
}

/// Buyer `i`'s command: one unit, from the warehouse or (the last `LOST`) from nowhere.
fn reserve(i: usize, id: Uuid) -> StockCommand {
    let location = if i < BUYERS - LOST { "WH" } else { "NOWHERE" };
    StockCommand::Reserve {
        reservation_id: id,
        key: stock_key(location),
        quantity: Quantity::new(1).unwrap(),
        expires_at: Timestamp::now() + SignedDuration::from_mins(15),
        reference: Some(format!("buyer {i}")),
    }
}

fn idem(i: usize) -> Idem<'static, Decision> {
    Idem {
        scope: "POST /api/v1/reservations".into(),
        key: Some(format!("buyer-{i}")),
        audit: None,
        request_hash: format!("hash-{i}"),
        status: 201,
        render: &render,
        rendered: Default::default(),
    }
}

/// What buyer `i` was told: the stored body of a success, or the code and status of a refusal
/// (given once it stands, as the server does; a refusal leaves its key free).
async fn buy(db: Db, i: usize, id: Uuid) -> Result<String, (&'static str, u16)> {
    let idem = idem(i);
    let mark = db.write_mark();
    match db.execute(reserve(i, id), Some(&idem)).await {
        Ok(_) => Ok(idem.rendered.get().cloned().expect("a keyed success is rendered at commit")),
        Err(StoreError::Domain(e)) => {
            db.refusal_stands(mark).await.unwrap();
            let status = if e.code == "insufficient_stock" { 422 } else { 404 };
            Err((e.code, status))
        }
        Err(e) => panic!("buyer {i}: {e}"),
    }
}

async fn concurrent_buyers_share_commits_and_every_answer_is_what_their_key_keeps(backend: Backend) {
    let Some(store) = TestDb::fresh(backend).await else { return };
    let db = store.db.clone();
    seeded(&db).await;
    let before = db.group_commits();

    let ids: Vec<Uuid> = (0..BUYERS).map(|_| Uuid::now_v7()).collect();
    let start = Arc::new(tokio::sync::Barrier::new(BUYERS));
    let tasks: Vec<_> = (0..BUYERS)
        .map(|i| {
            let (db, start, id) = (db.clone(), start.clone(), ids[i]);
            tokio::spawn(async move {
                start.wait().await;
                buy(db, i, id).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }

    let won = answers.iter().filter(|a| a.is_ok()).count();
    let sold_out = answers.iter().filter(|a| matches!(a, Err(("insufficient_stock", _)))).count();
    let unknown = answers.iter().filter(|a| matches!(a, Err(("location_not_found", _)))).count();
    assert_eq!((won, sold_out, unknown), (UNITS as usize, BUYERS - LOST - UNITS as usize, LOST), "{answers:?}");

    // Every answer is committed: the ledger holds exactly the winners' holds, each winner's
    // key replays what its buyer was told, and a refused buyer's retry is decided afresh.
    let positions = db.positions(&StockFilter::default(), &Default::default()).await.unwrap();
    assert_eq!(positions.items.iter().map(|p| p.position.reserved).sum::<i64>(), UNITS);
    assert_eq!(db.audit_ledger().await.unwrap(), Vec::<String>::new());
    for (i, answer) in answers.iter().enumerate() {
        let again = db.execute(reserve(i, ids[i]), Some(&idem(i))).await;
        match (answer, again) {
            (Ok(body), Err(StoreError::Replay(stored))) => {
                assert_eq!((stored.status, &stored.body), (201, body));
                assert!(db.reservation(ids[i]).await.unwrap().is_some(), "buyer {i} won a hold that is not stored");
            }
            (Err((code, _)), Err(StoreError::Domain(e))) => {
                assert_eq!(e.code, *code, "buyer {i}: the retry is refused the same way");
                assert!(db.reservation(ids[i]).await.unwrap().is_none(), "buyer {i} was refused but a hold is stored");
            }
            (answer, again) => panic!("buyer {i}: told {answer:?}, then {again:?}"),
        }
    }

    // The writes really were grouped: fewer commits than writes (at least one per winner).
    let after = db.group_commits();
    let (groups, writes) = (after.groups - before.groups, after.writes - before.writes);
    assert!(writes >= UNITS as u64, "{writes} writes counted");
    assert!(groups < writes, "{groups} commits for {writes} writes: nothing was grouped");
}

/// Callers that give up at any point (a client that disconnects drops its request's future)
/// leave no group hanging and nothing half-done: a write is either wholly kept, with its
/// answer stored under its key, or not there at all and taken afresh on retry.
async fn callers_that_give_up_midway_leave_nothing_half_done(backend: Backend) {
    let Some(store) = TestDb::fresh(backend).await else { return };
    let db = store.db.clone();
    seeded(&db).await;
    let buyers = BUYERS - LOST;
    let more = StockCommand::Receive { key: stock_key("WH"), quantity: Quantity::new(buyers as i64).unwrap(), reference: None };
    db.execute(more, None).await.unwrap();

    let ids: Vec<Uuid> = (0..buyers).map(|_| Uuid::now_v7()).collect();
    let tasks: Vec<_> = (0..buyers)
        .map(|i| {
            let (db, id) = (db.clone(), ids[i]);
            tokio::spawn(async move {
                let idem = idem(i);
                let patience = std::time::Duration::from_micros(2_500 * (i as u64 % 40));
                let _ = tokio::time::timeout(patience, db.execute(reserve(i, id), Some(&idem))).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    // A caller that gave up after its write joined a group does not stop the group: it may
    // commit just after. One more write, answered only once its group has committed, is
    // answered only after every group before it — and shows that none is left hanging.
    let last = StockCommand::Receive { key: stock_key("WH"), quantity: Quantity::new(1).unwrap(), reference: None };
    tokio::time::timeout(std::time::Duration::from_secs(10), db.execute(last, None))
        .await
        .expect("no write is left waiting on a group that never commits")
        .unwrap();

    let mut kept = 0;
    for (i, id) in ids.iter().enumerate() {
        let stored_before = db.reservation(*id).await.unwrap().is_some();
        let retry = tokio::time::timeout(std::time::Duration::from_secs(10), db.execute(reserve(i, *id), Some(&idem(i))))
            .await
            .expect("no write is left waiting on a group that never commits");
        match retry {
            Err(StoreError::Replay(stored)) => {
                assert!(stored_before, "buyer {i}: an answer is stored but its hold is not");
                assert_eq!(stored.status, 201, "buyer {i}: {stored:?}");
                kept += 1;
            }
            Ok(_) => assert!(!stored_before, "buyer {i}: a hold is stored but its key is free"),
            Err(e) => panic!("buyer {i} retried: {e}"),
        }
    }
    eprintln!("{kept} of {buyers} writes were kept although their callers gave up");
    let positions = db.positions(&StockFilter::default(), &Default::default()).await.unwrap();
    assert_eq!(positions.items.iter().map(|p| p.position.reserved).sum::<i64>(), buyers as i64);
    assert_eq!(db.audit_ledger().await.unwrap(), Vec::<String>::new());
}

/// A kept write is answered within a bounded number of turns even while refused writes keep
/// queueing behind it: refused turns count towards the group's size, so they cannot hold
/// its commit (and the kept write's answer) off until the stream stops.
async fn a_stream_of_refused_writes_does_not_hold_a_kept_one_back(backend: Backend) {
    let Some(store) = TestDb::fresh(backend).await else { return };
    let db = store.db.clone();
    seeded(&db).await;
    // Refused writes keep coming, up to FLOOD_MAX, with IN_FLIGHT of them queued at any
    // time: the queue never empties while the flood lasts.
    const FLOOD_MAX: usize = 5_000;
    const IN_FLIGHT: usize = 32;
    let sent = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (db, sent, stop) = (db.clone(), sent.clone(), stop.clone());
        tokio::spawn(async move {
            let mut running = tokio::task::JoinSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && sent.load(std::sync::atomic::Ordering::SeqCst) < FLOOD_MAX {
                if running.len() >= IN_FLIGHT {
                    let refused = running.join_next().await.expect("one is running").unwrap();
                    assert!(matches!(refused, Err(StoreError::Domain(_))), "{refused:?}");
                }
                let db = db.clone();
                let too_many = StockCommand::Sell { key: stock_key("WH"), quantity: Quantity::new(1_000_000).unwrap(), reference: None };
                running.spawn(async move { db.execute(too_many, None).await.map(drop) });
                sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
            while let Some(refused) = running.join_next().await {
                assert!(matches!(refused.unwrap(), Err(StoreError::Domain(_))));
            }
        })
    };
    while sent.load(std::sync::atomic::Ordering::SeqCst) < 2 * IN_FLIGHT {
        tokio::task::yield_now().await;
    }
    db.execute(StockCommand::Receive { key: stock_key("WH"), quantity: Quantity::new(1).unwrap(), reference: None }, None).await.unwrap();
    let sent_by_then = sent.load(std::sync::atomic::Ordering::SeqCst);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    flood.await.unwrap();
    eprintln!("the kept write was answered after {sent_by_then} refused writes were sent");
    assert!(sent_by_then < FLOOD_MAX, "the kept write was answered only when the refusals stopped");
}

tongjia_storage::backend_tests!(
    concurrent_buyers_share_commits_and_every_answer_is_what_their_key_keeps,
    callers_that_give_up_midway_leave_nothing_half_done,
    a_stream_of_refused_writes_does_not_hold_a_kept_one_back
);

/// PostgreSQL, when `TONGJIA_TEST_PG` is set: a seeded database whose transactions fail at
/// commit when a stock entry meets `condition` (a deferred constraint trigger on `NEW`).
async fn seeded_with_commit_check(condition: &str) -> Option<TestDb> {
    if postgres_url().is_none() {
        eprintln!("TONGJIA_TEST_PG not set: skipped");
        return None;
    }
    let store = TestDb::fresh(Backend::Postgres).await.unwrap();
    seeded(&store.db).await;
    let mut admin = sqlx::PgConnection::connect(store.url()).await.unwrap();
    let function = format!(
        "CREATE FUNCTION check_at_commit() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN IF {condition} THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$"
    );
    let trigger = "CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON stock_entries DEFERRABLE INITIALLY DEFERRED \
                   FOR EACH ROW EXECUTE FUNCTION check_at_commit()";
    for statement in [function.as_str(), trigger] {
        sqlx::Executor::execute(&mut admin, sqlx::AssertSqlSafe(statement.to_owned())).await.unwrap();
    }
    Some(store)
}

/// PostgreSQL: a trigger deferred to commit fails any transaction that holds the poisoned
/// buyer's entry, so that buyer's whole group fails at commit. Every write of a failed group
/// is told so with a retryable error and keeps nothing; every other write is kept; a retry
/// with the same key then succeeds (except the poisoned one).
#[tokio::test]
async fn a_group_that_fails_at_commit_fails_each_of_its_writes_and_keeps_none() {
    let Some(store) = seeded_with_commit_check("NEW.reference = 'buyer 7'").await else { return };
    let db = store.db.clone();
    let buyers = BUYERS - LOST;
    // Enough for everyone, so that every write here is a success unless its group fails.
    let more = StockCommand::Receive { key: stock_key("WH"), quantity: Quantity::new(buyers as i64).unwrap(), reference: None };
    db.execute(more, None).await.unwrap();

    let ids: Vec<Uuid> = (0..buyers).map(|_| Uuid::now_v7()).collect();
    let start = Arc::new(tokio::sync::Barrier::new(buyers));
    let tasks: Vec<_> = (0..buyers)
        .map(|i| {
            let (db, start, id) = (db.clone(), start.clone(), ids[i]);
            tokio::spawn(async move {
                start.wait().await;
                let idem = idem(i);
                db.execute(reserve(i, id), Some(&idem)).await.map(drop)
            })
        })
        .collect();
    let mut outcome = HashMap::new();
    for (i, t) in tasks.into_iter().enumerate() {
        outcome.insert(i, t.await.unwrap());
    }

    assert!(matches!(outcome[&7], Err(StoreError::Unavailable(_))), "the poisoned write: {:?}", outcome[&7]);
    let failed = outcome.values().filter(|r| r.is_err()).count();
    eprintln!("{failed} of {buyers} writes shared the poisoned group");
    for (i, result) in &outcome {
        let stored = db.reservation(ids[*i]).await.unwrap();
        match result {
            Ok(()) => assert!(stored.is_some(), "buyer {i} was told yes but nothing is stored"),
            Err(StoreError::Unavailable(_)) => assert!(stored.is_none(), "buyer {i} was told to retry but its hold is stored"),
            Err(e) => panic!("buyer {i}: {e}"),
        }
    }
    assert_eq!(db.audit_ledger().await.unwrap(), Vec::<String>::new());

    // The others retry with their keys and are answered as if the failed group never ran.
    for (i, result) in &outcome {
        if *i != 7 && matches!(result, Err(StoreError::Unavailable(_))) {
            db.execute(reserve(*i, ids[*i]), Some(&idem(*i))).await.unwrap_or_else(|e| panic!("buyer {i} retried: {e}"));
        }
    }
    let positions = db.positions(&StockFilter::default(), &Default::default()).await.unwrap();
    let reserved: i64 = positions.items.iter().map(|p| p.position.reserved).sum();
    assert_eq!(reserved, buyers as i64 - 1, "every buyer but the poisoned one holds a unit");
    assert_eq!(db.audit_ledger().await.unwrap(), Vec::<String>::new());
}

/// PostgreSQL: a commit-time trigger fails every group that holds a reservation, so no hold
/// is ever kept and a unit stays available throughout. Buyers refused `insufficient_stock`
/// beside a hold of their own group (not yet committed) must not be told so: the hold never
/// happened. `refusal_stands` turns such refusals into retryable errors.
#[tokio::test]
async fn a_refusal_beside_writes_that_were_not_kept_is_not_given() {
    let Some(store) = seeded_with_commit_check("NEW.reserved_delta > 0").await else { return };
    let db = store.db.clone();
    // Leave one unit: 49 sold to one big buyer, kept.
    let big = StockCommand::Sell { key: stock_key("WH"), quantity: Quantity::new(UNITS - 1).unwrap(), reference: None };
    db.execute(big, None).await.unwrap();

    let buyers = 40;
    let start = Arc::new(tokio::sync::Barrier::new(buyers));
    let tasks: Vec<_> = (0..buyers)
        .map(|i| {
            let (db, start) = (db.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let mark = db.write_mark();
                let told: Result<(), String> = match db.execute(reserve(i, Uuid::now_v7()), None).await {
                    Err(StoreError::Domain(e)) => match db.refusal_stands(mark).await {
                        Ok(()) => Err(format!("refused: {}", e.code)),
                        Err(StoreError::Unavailable(_)) => Err("retry".to_owned()),
                        Err(e) => Err(format!("refusal check: {e}")),
                    },
                    Err(StoreError::Unavailable(_)) => Err("retry".to_owned()),
                    other => Err(format!("{other:?}")),
                };
                told
            })
        })
        .collect();
    let mut retries = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Err(told) if told == "retry" => retries += 1,
            told => panic!("buyer {i} was told {told:?}, but a unit was free all along"),
        }
    }
    assert_eq!(retries, buyers);
    let positions = db.positions(&StockFilter::default(), &Default::default()).await.unwrap();
    let p = &positions.items[0].position;
    assert_eq!((p.on_hand, p.reserved), (1, 0));
}
