//! `tongjia bench checkout`: SHOPPERS shoppers at once each read the quote of one hot phone,
//! place an online delivery order for one and pay it, against UNITS units — and, in the same
//! invocation on the same fresh database with the same clients, the naive path: a read, one
//! transaction `UPDATE … SET available = available - 1 WHERE available >= 1` with an
//! `INSERT` of the order, and one `UPDATE` paying it. Tongjia is asked over HTTP (one or
//! more in-process servers on the database, each with its own pool; a payment arrives as the
//! payment simulator's signed notification, as an online payment does) or in-process
//! (`Db::quote`, `Db::place_order`, `Db::pay_order`). A run fails unless exactly
//! min(UNITS, SHOPPERS) orders were paid on both paths, the rest told sold out, the ledger
//! audit is clean and no answer was anything else (a 5xx, a 503 `database_busy`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tongjia_domain::codes::SkuCode;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::orders::{Fulfilment, OrderPolicy, OrderStatus};
use tongjia_domain::pricing::Channel;
use tongjia_storage::{Db, Destination, NewOrder, NewPayment, OrderFilter, PageRequest, StoreError};

use crate::bench_reserve::{Outcome, drive};

/// How to run it.
pub struct Setup {
    pub shoppers: usize,
    pub units: i64,
    /// Shoppers checking out at once (default: all of them).
    pub clients: Option<usize>,
    pub target: crate::bench::Target,
}

/// The hot SKU (seeded by `bench::seed`) and where the orders go.
const SKU: &str = "BENCH-PHONE";
const COUNTY: &str = "440106";
/// The payment simulator's secret on the benchmark's servers.
pub(crate) const SIMULATOR_SECRET: &str = "tongjia-bench-simulator";

/// Latencies of each step and why shoppers failed, shared by the shoppers of one run.
#[derive(Default)]
struct Steps {
    place_us: Vec<u64>,
    pay_us: Vec<u64>,
    failures: BTreeMap<String, usize>,
}

type Shared = Arc<Mutex<Steps>>;

fn lock(steps: &Shared) -> std::sync::MutexGuard<'_, Steps> {
    steps.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records a failed step and says the shopper failed.
fn failed(steps: &Shared, why: String) -> Outcome {
    *lock(steps).failures.entry(why).or_default() += 1;
    Outcome::Failed
}

/// Times `step`, recording its latency into the list `pick` chooses.
async fn timed<T>(steps: &Shared, pick: fn(&mut Steps) -> &mut Vec<u64>, step: impl Future<Output = T>) -> T {
    let t = Instant::now();
    let out = step.await;
    pick(&mut lock(steps)).push(t.elapsed().as_micros() as u64);
    out
}

/// A status and, for a problem, its `code`: `503 database_busy`.
async fn status_of(res: reqwest::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or_default())
}

fn why(step: &str, status: u16, body: &serde_json::Value) -> String {
    format!("{step}: {status} {}", body.get("code").and_then(|c| c.as_str()).unwrap_or(""))
}

/// Shopper `i`'s checkout over HTTP.
async fn over_http(client: reqwest::Client, base: String, i: usize, steps: Shared) -> Outcome {
    let quote = client.get(format!("{base}/api/v1/skus/{SKU}/quote?channel=online")).send().await;
    match quote.map(|r| r.status().as_u16()) {
        Ok(200) => {}
        Ok(s) => return failed(&steps, format!("quote: {s}")),
        Err(e) => return failed(&steps, format!("quote: {e}")),
    }
    let order =
        serde_json::json!({"fulfilment": "delivery", "lines": [{"sku_code": SKU, "quantity": 1}], "destination": {"county_code": COUNTY}});
    let placed = timed(&steps, |s| &mut s.place_us, async {
        let sent =
            client.post(format!("{base}/api/v1/orders")).header("Idempotency-Key", format!("checkout-{i}")).json(&order).send().await;
        match sent {
            Ok(res) => Ok(status_of(res).await),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    let (id, total) = match placed {
        Ok((201, body)) => (body["order_id"].as_str().unwrap_or("").to_owned(), body["total_fen"].as_i64().unwrap_or(0)),
        Ok((422, body)) if body["code"] == "insufficient_stock" => return Outcome::SoldOut,
        Ok((s, body)) => return failed(&steps, why("place", s, &body)),
        Err(e) => return failed(&steps, format!("place: {e}")),
    };
    let notice = serde_json::json!({"transaction_id": format!("bench-{i}"), "order_id": id, "amount_fen": total}).to_string();
    let paid = timed(&steps, |s| &mut s.pay_us, async {
        let at = jiff::Timestamp::now().as_second();
        let nonce = format!("n{i}");
        let signature = tongjia_server::payments::simulator::sign(SIMULATOR_SECRET, at, &nonce, notice.as_bytes());
        let sent = client
            .post(format!("{base}/api/v1/payment-notifications/simulator"))
            .header("content-type", "application/json")
            .header(tongjia_server::payments::simulator::TIMESTAMP_HEADER, at.to_string())
            .header(tongjia_server::payments::simulator::NONCE_HEADER, nonce)
            .header(tongjia_server::payments::simulator::SIGNATURE_HEADER, signature)
            .body(notice.clone())
            .send()
            .await;
        match sent {
            Ok(res) => Ok(status_of(res).await),
            Err(e) => Err(e.to_string()),
        }
    })
    .await;
    match paid {
        Ok((200, body)) if body["status"] == "paid" => Outcome::Won,
        Ok((s, body)) => failed(&steps, why("pay", s, &body)),
        Err(e) => failed(&steps, format!("pay: {e}")),
    }
}

/// Shopper `i`'s checkout in this process.
async fn in_process(db: Db, i: usize, steps: Shared) -> Outcome {
    let Ok(sku) = SkuCode::parse(SKU) else { return Outcome::Failed };
    if let Err(e) = db.quote(&sku, jiff::Timestamp::now(), false).await {
        return failed(&steps, format!("quote: {e}"));
    }
    let policy = OrderPolicy::default();
    let new = NewOrder {
        channel: Channel::Online,
        fulfilment: Fulfilment::Delivery,
        customer: None,
        lines: vec![(sku, Quantity::new(1).expect("one"))],
        destination: Some(Destination::County(COUNTY.into())),
        pickup_store: None,
        redeem_points: 0,
    };
    let order = match timed(&steps, |s| &mut s.place_us, db.place_order(new, &policy, None)).await {
        Ok(o) => o,
        Err(StoreError::Domain(e)) if e.code == "insufficient_stock" => return Outcome::SoldOut,
        Err(e) => return failed(&steps, format!("place: {e}")),
    };
    let payment = NewPayment { amount: order.total, external_reference: format!("bench-{i}"), method: "simulator".into() };
    match timed(&steps, |s| &mut s.pay_us, db.pay_order(order.id, payment, &policy, None)).await {
        Ok(o) if o.status == OrderStatus::Paid => Outcome::Won,
        Ok(o) => failed(&steps, format!("pay: the order is {}", o.status.as_str())),
        Err(e) => failed(&steps, format!("pay: {e}")),
    }
}

/// The naive path's checkout.
async fn naive(db: Db, steps: Shared) -> Outcome {
    if let Err(e) = db.naive_available(SKU).await {
        return failed(&steps, format!("read: {e}"));
    }
    let id = match timed(&steps, |s| &mut s.place_us, db.naive_place(SKU, 1)).await {
        Ok(Some(id)) => id,
        Ok(None) => return Outcome::SoldOut,
        Err(e) => return failed(&steps, format!("place: {e}")),
    };
    match timed(&steps, |s| &mut s.pay_us, db.naive_pay(&id)).await {
        Ok(true) => Outcome::Won,
        Ok(false) => failed(&steps, "pay: already paid".into()),
        Err(e) => failed(&steps, format!("pay: {e}")),
    }
}

/// Orders the engine holds as paid.
async fn paid_orders(db: &Db) -> Result<usize, String> {
    let filter = OrderFilter { customer: None, store_code: None, pickup_store_code: None, status: Some(OrderStatus::Paid) };
    let (mut n, mut after) = (0, None);
    loop {
        let page = db.orders(&filter, &PageRequest { limit: Some(500), after }).await.map_err(|e| e.to_string())?;
        n += page.items.len();
        match page.next_cursor {
            Some(next) => after = Some(next),
            None => return Ok(n),
        }
    }
}

/// One row of the table.
fn row(name: &str, m: &crate::bench_reserve::Measured, steps: &Steps) {
    let ms = |l: &[u64], p| crate::bench_feeds::percentile_ms(l, p);
    println!(
        "| {name} | {:.0} | {:.2} / {:.2} / {:.2} | {:.2} / {:.2} | {:.2} / {:.2} | {} | {} | {} |",
        m.count(Outcome::Won) as f64 / m.elapsed.as_secs_f64(),
        m.ms(0.5),
        m.ms(0.99),
        m.ms(0.999),
        ms(&steps.place_us, 0.5),
        ms(&steps.place_us, 0.99),
        ms(&steps.pay_us, 0.5),
        ms(&steps.pay_us, 0.99),
        m.count(Outcome::Won),
        m.count(Outcome::SoldOut),
        m.count(Outcome::Failed)
    );
}

/// What went wrong with one path, if anything.
fn problems(name: &str, m: &crate::bench_reserve::Measured, steps: &Steps, want: usize, stored: usize) -> Vec<String> {
    let mut wrong = vec![];
    let won = m.count(Outcome::Won);
    if won != want {
        wrong.push(format!("{name} paid {won}, not {want} ({})", if won > want { "an oversell" } else { "an undersell" }));
    }
    if stored != want {
        wrong.push(format!("{name} holds {stored} paid orders, not {want}"));
    }
    if !steps.failures.is_empty() {
        let list: Vec<String> = steps.failures.iter().map(|(why, n)| format!("{n} × {why}")).collect();
        wrong.push(format!("{name} failed: {}", list.join(", ")));
    }
    wrong
}

pub async fn checkout(setup: Setup) -> Result<(), String> {
    setup.target.check()?;
    crate::limits::raise_open_file_limit();
    let (shoppers, clients) = (setup.shoppers, setup.clients.unwrap_or(setup.shoppers).max(1));
    let scratch = tongjia_storage::ScratchDb::new("bench", setup.target.pg.as_deref()).await.map_err(|e| e.to_string())?;
    let db = Db::connect(&scratch.url).await.map_err(|e| e.to_string())?;
    crate::bench::seed(&db, setup.units).await?;
    db.naive_seed(&[(SKU.to_owned(), setup.units)]).await.map_err(|e| e.to_string())?;
    let ours: Shared = Arc::default();
    let tongjia = if setup.target.in_process {
        drive("tongjia", shoppers, clients, |i| in_process(db.clone(), i, ours.clone())).await
    } else {
        let servers = crate::bench::start_servers(&scratch.url, setup.target.servers).await?;
        let client = crate::bench::signed_client(&db, "bench", clients).await?;
        let bases = servers.bases.clone();
        let measured =
            drive("tongjia", shoppers, clients, |i| over_http(client.clone(), bases[i % bases.len()].clone(), i, ours.clone())).await;
        servers.stop().await;
        measured
    };
    let theirs: Shared = Arc::default();
    let naive_run = drive("naive", shoppers, clients, |_| naive(db.clone(), theirs.clone())).await;
    let audit = db.audit_ledger().await.map_err(|e| e.to_string())?;
    let stored = paid_orders(&db).await?;
    let naive_stored = db.naive_paid().await.map_err(|e| e.to_string())? as usize;
    db.close().await;

    let on = setup.target.describe();
    let want = (setup.units.max(0) as usize).min(shoppers);
    println!("checkout — {on}, {shoppers} shoppers, {clients} at once, {} units of one SKU", setup.units);
    println!();
    println!("| path | paid/s | checkout p50 / p99 / p999 ms | place p50 / p99 ms | pay p50 / p99 ms | paid | sold out | failed |");
    println!("|---|---|---|---|---|---|---|---|");
    let (ours, theirs) = (std::mem::take(&mut *lock(&ours)), std::mem::take(&mut *lock(&theirs)));
    row("Tongjia (quote, place, pay)", &tongjia, &ours);
    row("naive (read, UPDATE + INSERT, UPDATE)", &naive_run, &theirs);
    println!();
    let paid_per_second = |m: &crate::bench_reserve::Measured| m.count(Outcome::Won) as f64 / m.elapsed.as_secs_f64();
    println!("ratio Tongjia / naive paid per second: {:.2}", paid_per_second(&tongjia) / paid_per_second(&naive_run).max(0.001));
    println!("ledger audit: {}", if audit.is_empty() { "clean".to_owned() } else { audit.join("; ") });
    let mut wrong = problems("Tongjia", &tongjia, &ours, want, stored);
    wrong.extend(problems("naive", &naive_run, &theirs, want, naive_stored));
    if !audit.is_empty() {
        wrong.push("the ledger audit found problems".into());
    }
    if wrong.is_empty() { Ok(()) } else { Err(wrong.join("; ")) }
}
