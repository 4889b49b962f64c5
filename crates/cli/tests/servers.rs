//! Several `tongjia serve` processes on one PostgreSQL database: stock is never oversold,
//! an idempotent request applies once whichever server each try reaches, and events
//! committed through one server reach the subscribers of every server.
//!
//! Runs when `TONGJIA_TEST_PG` is set (SQLite serves from one process).

mod common;

use common::{CATALOG_HEADER, serve, stop, tongjia, write};
use reqwest::Response;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tongjia_storage::testing::{TestDb, postgres_url};
use tongjia_storage::{Backend, PageRequest, StockFilter};

const UNITS: i64 = 60;
const BUYERS: usize = 150;

/// Reads a server-sent event stream until `want` events of `event_type` have arrived;
/// returns their `seq`s.
async fn collect(mut res: Response, event_type: &str, want: usize) -> Vec<i64> {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seqs: Vec<i64> = text
            .split("\n\n")
            .filter(|block| block.lines().any(|l| l == format!("event: {event_type}")))
            .filter_map(|block| block.lines().find_map(|l| l.strip_prefix("id: ")).and_then(|id| id.parse().ok()))
            .collect();
        if seqs.len() >= want {
            return seqs;
        }
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("stream ended or timed out with {} of {want} {event_type} events", seqs.len()),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_postgres_never_oversell_apply_each_key_once_and_share_events() {
    if postgres_url().is_none() {
        eprintln!("TONGJIA_TEST_PG not set: skipped");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(Backend::Postgres).await.unwrap();
    let db = store.url().to_owned();
    let catalog =
        write(dir.path(), "c.csv", &format!("{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567892,true,139900\n"));
    let stores = write(
        dir.path(),
        "s.csv",
        "store_code,name,kind,county_code,township_code,longitude,latitude,status,opened_on,closed_on,pickup,ship_from_store,delivery_radius_km,partner_code,partner_name\n\
         D-1,West Lake,direct,330106,,120.13,30.26,open,2025-03-01,,true,true,10,,\n",
    );
    let stock = write(dir.path(), "k.csv", &format!("location_code,sku_code,owner,quantity,reference\nD-1,NOTE13-BLK,brand,{UNITS},\n"));
    for (what, file) in [("catalog", &catalog), ("stores", &stores), ("stock", &stock)] {
        let (ok, out) = tongjia(&db, &["import", what, file]);
        assert!(ok, "{out}");
    }

    let (a, addr_a) = serve(&db, &[]);
    let (b, addr_b) = serve(&db, &[]);
    let servers = [format!("http://{addr_a}"), format!("http://{addr_b}")];
    let client = common::client_with(&common::admin_token(&db));

    // Subscribers on both servers, from the start of the outbox.
    let mut reserved_streams = vec![];
    let mut price_streams = vec![];
    let mut order_streams = vec![];
    for base in &servers {
        for (streams, event_type) in
            [(&mut reserved_streams, "stock.reserved"), (&mut price_streams, "price.scheduled"), (&mut order_streams, "order.placed")]
        {
            let res = client.get(format!("{base}/api/v1/events/stream?event_type={event_type}")).send().await.unwrap();
            assert_eq!(res.status(), 200);
            streams.push(res);
        }
    }

    // Every buyer sends the same keyed request to both servers at once (a retry that
    // reached the other server): one reservation per key, the same answer from both.
    let mut tries = vec![];
    for i in 0..BUYERS {
        for base in &servers {
            let (client, url) = (client.clone(), format!("{base}/api/v1/reservations"));
            tries.push(tokio::spawn(async move {
                let res = client
                    .post(url)
                    .header("Idempotency-Key", format!("buyer-{i}"))
                    .json(&json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 1, "reference": format!("buyer-{i}")}))
                    .send()
                    .await
                    .unwrap();
                let status = res.status().as_u16();
                (i, status, res.json::<Value>().await.unwrap())
            }));
        }
    }
    let mut answers: BTreeMap<usize, Vec<(u16, Value)>> = BTreeMap::new();
    for t in tries {
        let (i, status, body) = t.await.unwrap();
        answers.entry(i).or_default().push((status, body));
    }
    let mut won = BTreeSet::new();
    let mut sold_out = 0;
    for (i, pair) in &answers {
        assert_eq!(pair[0], pair[1], "buyer {i}: both servers give the one answer of the key");
        match pair[0].0 {
            201 => assert!(won.insert(pair[0].1["reservation"]["reservation_id"].as_str().unwrap().to_owned()), "one reservation per key"),
            422 => {
                assert_eq!(pair[0].1["code"], "insufficient_stock");
                sold_out += 1;
            }
            other => panic!("buyer {i}: unexpected {other}: {}", pair[0].1),
        }
    }
    assert_eq!(won.len() as i64, UNITS, "exactly the stock is sold, never more");
    assert_eq!(sold_out, BUYERS - UNITS as usize);

    // The ledger agrees: everything reserved, nothing below zero, entries sum to balances.
    let balances = store.db.positions(&StockFilter::default(), &PageRequest::default()).await.unwrap();
    assert_eq!(balances.items.len(), 1);
    assert_eq!((balances.items[0].position.on_hand, balances.items[0].position.reserved), (UNITS, UNITS));
    assert!(store.db.audit_ledger().await.unwrap().is_empty());

    // A price change through B and an order through A reach subscribers of both.
    let price =
        client.post(format!("{}/api/v1/skus/NOTE13-BLK/prices", servers[1])).json(&json!({"list_price_fen": 129900})).send().await.unwrap();
    assert_eq!(price.status(), 201);
    client
        .post(format!("{}/api/v1/stock/receipts", servers[0]))
        .json(&json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 1}))
        .send()
        .await
        .unwrap();
    let order = client
        .post(format!("{}/api/v1/orders", servers[0]))
        .json(&json!({"store_code": "D-1", "fulfilment": "carry_out", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(order.status(), 201, "{:?}", order.text().await);

    let mut seen = vec![];
    for res in reserved_streams {
        seen.push(collect(res, "stock.reserved", UNITS as usize).await);
    }
    assert_eq!(seen[0], seen[1], "both servers publish the same reservations in the same order");
    assert!(seen[0].windows(2).all(|w| w[0] < w[1]), "seq rises: {:?}", seen[0]);
    for res in price_streams {
        assert_eq!(collect(res, "price.scheduled", 2).await.len(), 2, "the import's price and B's change");
    }
    for res in order_streams {
        assert_eq!(collect(res, "order.placed", 1).await.len(), 1);
    }
    stop(a);
    stop(b);
}

#[tokio::test]
async fn servers_started_together_on_an_empty_database_seed_the_demo_once() {
    if postgres_url().is_none() {
        eprintln!("TONGJIA_TEST_PG not set: skipped");
        return;
    }
    let store = TestDb::fresh(Backend::Postgres).await.unwrap();
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let url = store.url().to_owned();
            std::thread::spawn(move || serve(&url, &["--demo"]))
        })
        .collect();
    let servers: Vec<_> = starts.into_iter().map(|s| s.join().expect("both servers start")).collect();
    let sites = store.db.store_sites().await.unwrap();
    assert_eq!(sites.len(), 4716 + 3, "one demo network (stores and warehouses), not two");
    let skus = store.db.skus(&tongjia_storage::SkuFilter::default(), &PageRequest { limit: Some(500), after: None }).await.unwrap();
    assert_eq!(skus.items.len(), 41);
    for (server, addr) in servers {
        let health: Value = reqwest::get(format!("http://{addr}/health")).await.unwrap().json().await.unwrap();
        assert_eq!(health["status"], "ok");
        stop(server);
    }
}
