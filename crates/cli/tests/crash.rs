//! Crash test: a server killed with SIGKILL at random moments under a concurrent load of
//! reservations, orders and payments, restarted on the same database each time. Afterwards
//! every acknowledged answer replays identically under its key, nothing was applied twice,
//! and the ledger audits clean (balances equal their entries, nothing negative).
//!
//! Runs only when `TONGJIA_CRASH_BIN` names the binary to kill (CI passes the release build):
//! `TONGJIA_CRASH_BIN=target/release/tongjia cargo test -p tongjia --test crash`. PostgreSQL
//! runs too when `TONGJIA_TEST_PG` is set.

mod common;

use common::{CATALOG_HEADER, write};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tongjia_storage::testing::{TestDb, postgres_url};
use tongjia_storage::{Backend, Db};

const KILLS: usize = 20;
const CLIENTS: usize = 6;
const UNITS: i64 = 100_000;

/// An acknowledged answer: the request (path, key, body) and what the server said.
type Acked = (String, String, Value, StatusCode, Value);

fn start(bin: &str, db: &str) -> (Child, String) {
    let mut child = Command::new(bin)
        .args(["--db", db, "serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("server printed its address").unwrap();
        if let Some(rest) = line.split("listening on http://").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, format!("http://{addr}"))
}

fn import(bin: &str, db: &str, dir: &std::path::Path) {
    let catalog = write(dir, "c.csv", &format!("{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567892,true,139900\n"));
    let stores = write(
        dir,
        "s.csv",
        "store_code,name,kind,county_code,township_code,longitude,latitude,status,opened_on,closed_on,pickup,ship_from_store,delivery_radius_km,partner_code,partner_name\n\
         D-1,West Lake,direct,330106,,120.13,30.26,open,2025-03-01,,true,true,10,,\n",
    );
    let stock = write(dir, "k.csv", &format!("location_code,sku_code,owner,quantity,reference\nD-1,NOTE13-BLK,brand,{UNITS},\n"));
    for (what, file) in [("catalog", &catalog), ("stores", &stores), ("stock", &stock)] {
        let out = Command::new(bin).args(["--db", db, "import", what, file]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

/// Sends one keyed request until the server answers it (it may be down, or killed mid-way).
async fn until_answered(client: &Client, base: &RwLock<String>, path: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    loop {
        let url = format!("{}{path}", base.read().unwrap());
        let sent = client.post(url).header("Idempotency-Key", key).json(body).timeout(Duration::from_secs(20)).send().await;
        if let Ok(res) = sent {
            let status = res.status();
            // 503 (not started, busy) and 409 for the same key still running are retried.
            if let Ok(v) = res.json::<Value>().await
                && status != StatusCode::SERVICE_UNAVAILABLE
                && v["code"] != "idempotency_key_in_flight"
            {
                return (status, v);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One client: a reservation, then a till sale and its payment, over and over.
async fn client_loop(
    client: Client,
    n: usize,
    base: Arc<RwLock<String>>,
    acked: Arc<Mutex<Vec<Acked>>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) {
    let mut i = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        i += 1;
        let key = format!("r-{n}-{i}");
        let body = json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 1, "ttl_seconds": 86_400, "reference": key});
        let (s, v) = until_answered(&client, &base, "/api/v1/reservations", &key, &body).await;
        acked.lock().unwrap().push(("/api/v1/reservations".into(), key, body, s, v));

        let key = format!("o-{n}-{i}");
        let body = json!({"store_code": "D-1", "fulfilment": "carry_out", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]});
        let (s, order) = until_answered(&client, &base, "/api/v1/orders", &key, &body).await;
        acked.lock().unwrap().push(("/api/v1/orders".into(), key.clone(), body, s, order.clone()));
        if s != StatusCode::CREATED {
            continue;
        }
        let path = format!("/api/v1/orders/{}/payments", order["order_id"].as_str().unwrap());
        let key = format!("p-{n}-{i}");
        let body = json!({"amount_fen": order["total_fen"], "external_reference": format!("wx-{n}-{i}"), "method": "cash"});
        let (s, v) = until_answered(&client, &base, &path, &key, &body).await;
        acked.lock().unwrap().push((path, key, body, s, v));
    }
}

async fn crash_and_check(backend: Backend) {
    let Ok(bin) = std::env::var("TONGJIA_CRASH_BIN") else {
        eprintln!("TONGJIA_CRASH_BIN not set: crash test skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let pg = TestDb::fresh(Backend::Postgres);
    let (_keep, db) = match backend {
        Backend::Postgres => {
            let t = pg.await.unwrap();
            let url = t.url().to_owned();
            (Some(t), url)
        }
        Backend::Sqlite => (None, format!("sqlite:{}", dir.path().join("crash.db").display())),
    };
    import(&bin, &db, dir.path());
    // The till of D-1: it reserves, sells and takes cash there.
    let client = common::client_with(&common::account_token(&bin, &db, "clerk", &["--role", "store_staff", "--store", "D-1"]));
    let (mut server, url) = start(&bin, &db);
    let base = Arc::new(RwLock::new(url));
    let acked = Arc::new(Mutex::new(vec![]));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> =
        (0..CLIENTS).map(|n| tokio::spawn(client_loop(client.clone(), n, base.clone(), acked.clone(), stop.clone()))).collect();
    let mut seed = 0x9E37_79B9_7F4A_7C15_u64;
    for _ in 0..KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(150 + seed % 900)).await;
        server.kill().unwrap(); // SIGKILL
        server.wait().unwrap();
        let (next, url) = start(&bin, &db);
        server = next;
        *base.write().unwrap() = url;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for c in clients {
        c.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() > 3 * KILLS, "the load ran: {} answers", acked.len());

    // Every acknowledged answer replays identically.
    let url = base.read().unwrap().clone();
    for (path, key, body, status, answer) in &acked {
        let res = client.post(format!("{url}{path}")).header("Idempotency-Key", key).json(body).send().await.unwrap();
        assert_eq!(res.status(), *status, "{path} {key}");
        assert_eq!(&res.json::<Value>().await.unwrap(), answer, "{path} {key} replayed differently");
    }
    // Nothing applied twice: as many holds and sales as acknowledged ones, each once.
    let held = acked.iter().filter(|a| a.0 == "/api/v1/reservations" && a.3 == StatusCode::CREATED).count() as i64;
    let sold = acked.iter().filter(|a| a.0.ends_with("/payments") && a.3.is_success()).count() as i64;
    let placed = acked.iter().filter(|a| a.0 == "/api/v1/orders" && a.3 == StatusCode::CREATED).count() as i64;
    let stock: Value = client.get(format!("{url}/api/v1/stock?location_code=D-1")).send().await.unwrap().json().await.unwrap();
    let b = &stock["items"][0];
    let unpaid = placed - sold;
    assert_eq!(b["on_hand"].as_i64(), Some(UNITS - sold), "each paid till sale took one unit, once: {b}");
    assert_eq!(b["reserved"].as_i64(), Some(held + unpaid), "each hold reserved one unit, once: {b}");
    server.kill().unwrap();
    server.wait().unwrap();
    let db = Db::connect(&db).await.unwrap();
    assert_eq!(db.audit_ledger().await.unwrap(), Vec::<String>::new());
    eprintln!("{backend:?}: {KILLS} kills, {} acknowledged answers replayed, {held} holds, {sold} sales", acked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_on_sqlite_loses_nothing_acknowledged_and_applies_nothing_twice() {
    crash_and_check(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_load_on_postgres_loses_nothing_acknowledged_and_applies_nothing_twice() {
    if postgres_url().is_none() {
        eprintln!("TONGJIA_TEST_PG not set: skipped");
        return;
    }
    crash_and_check(Backend::Postgres).await;
}
