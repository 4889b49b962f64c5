//! `tongjia bench reserve`: reservations against the naive path, in the same invocation, on
//! the same fresh database with the same clients. Three shapes, each on a database of its
//! own: **hot** (every request for one SKU), **spread** (requests over many SKUs, one unit
//! each in stock, so about half sell out) and **mixed** (over the spread SKUs, 90 % reads —
//! a quote — and 10 % reservations). Tongjia is asked over HTTP (`POST /reservations`,
//! `GET /quote`, one or more in-process servers) or in-process (`Db::execute`, `Db::quote`);
//! the naive path is one `UPDATE … SET available = available - 1 WHERE available >= 1` per
//! request on the database's write pool, from this process (`Db::naive_reserve`). Every run
//! checks sold against stock — exactly as many won as the stock and the demand allow, on
//! both paths — and fails on an oversell, an undersell or any other answer (a 5xx).

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tongjia_domain::Fen;
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, Owner, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_storage::{Bulk, Db};

/// Which requests a run makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shape {
    Hot,
    Spread,
    Mixed,
}

/// How to run it.
pub struct Setup {
    pub shapes: Vec<Shape>,
    pub requests: usize,
    pub clients: usize,
    /// SKUs of the spread and mixed shapes.
    pub skus: usize,
    pub target: crate::bench::Target,
}

/// What one request (or one shopper's checkout) came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Won,
    SoldOut,
    Read,
    Failed,
}

/// What one path measured.
pub(crate) struct Measured {
    pub(crate) elapsed: Duration,
    latencies_us: Vec<u64>,
    outcomes: Vec<Outcome>,
}

impl Measured {
    pub(crate) fn per_second(&self) -> f64 {
        self.outcomes.len() as f64 / self.elapsed.as_secs_f64()
    }
    pub(crate) fn ms(&self, p: f64) -> f64 {
        crate::bench_feeds::percentile_ms(&self.latencies_us, p)
    }
    pub(crate) fn count(&self, o: Outcome) -> usize {
        self.outcomes.iter().filter(|x| **x == o).count()
    }
}

/// The SKU request `i` asks for, and whether it reserves (else it reads).
fn request(shape: Shape, i: usize, skus: usize) -> (usize, bool) {
    match shape {
        Shape::Hot => (0, true),
        Shape::Spread => ((i * 7919) % skus, true),
        Shape::Mixed => ((i * 7919) % skus, i.is_multiple_of(10)),
    }
}

fn sku_code(n: usize) -> String {
    format!("R-{n:06}")
}

/// The stock each SKU gets: the hot SKU half the requests, every spread SKU one unit.
fn stock(shape: Shape, requests: usize, skus: usize) -> Vec<i64> {
    match shape {
        Shape::Hot => vec![(requests / 2).max(1) as i64],
        Shape::Spread | Shape::Mixed => vec![1; skus],
    }
}

/// What must be won: per SKU, the smaller of its stock and the reservations asking for it.
fn expected_wins(shape: Shape, requests: usize, stock: &[i64]) -> i64 {
    let mut demand = vec![0i64; stock.len()];
    for i in 0..requests {
        let (sku, reserves) = request(shape, i, stock.len());
        if reserves {
            demand[sku] += 1;
        }
    }
    demand.iter().zip(stock).map(|(d, s)| (*d).min(*s)).sum()
}

/// A warehouse, `stock.len()` SKUs with a price and their stock there; the same counts in
/// the naive table.
async fn seed(db: &Db, stock: &[i64]) -> Result<(), String> {
    let e = |e: tongjia_domain::DomainError| e.to_string();
    let product = Product::new(ProductCode::parse("RES").map_err(e)?, "Bench item", "phone").map_err(e)?;
    let mut rows = Vec::with_capacity(stock.len());
    for n in 0..stock.len() {
        let code = SkuCode::parse(&sku_code(n)).map_err(e)?;
        let gtin = Gtin13::from_first12(&format!("6930{n:08}")).map_err(e)?;
        let sku = Sku::new(code, product.code.clone(), &format!("Bench item {n}"), Default::default(), gtin, true).map_err(e)?;
        rows.push((product.clone(), sku, Some(Fen::yuan(99))));
    }
    let bar = crate::progress::bar(stock.len() * 2, "seeding");
    db.import_catalog(&rows, Bulk::Write, |_| bar.inc(1)).await.map_err(|r| format!("{r:?}"))?;
    crate::bench::seed_warehouse(db, "WH-BENCH").await?;
    let wh = LocationCode::parse("WH-BENCH").map_err(e)?;
    let receipts: Vec<StockCommand> = stock
        .iter()
        .enumerate()
        .map(|(n, units)| {
            let key = StockKey { location_code: wh.clone(), sku_code: SkuCode::parse(&sku_code(n)).map_err(e)?, owner: Owner::Brand };
            Ok(StockCommand::Receive { key, quantity: Quantity::new(*units).map_err(e)?, reference: Some("bench".into()) })
        })
        .collect::<Result<_, String>>()?;
    db.execute_all(&receipts, Bulk::Write, |_| bar.inc(1)).await.map_err(|r| format!("{r:?}"))?;
    bar.finish_and_clear();
    let naive: Vec<(String, i64)> = stock.iter().enumerate().map(|(n, s)| (sku_code(n), *s)).collect();
    db.naive_seed(&naive).await.map_err(|e| e.to_string())
}

/// Runs `requests` calls of `one`, `clients` at a time, with a progress bar.
pub(crate) async fn drive<F, Fut>(label: &str, requests: usize, clients: usize, one: F) -> Measured
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = Outcome> + Send + 'static,
{
    let bar = crate::progress::bar(requests, label);
    let gate = Arc::new(Semaphore::new(clients));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(requests);
    for i in 0..requests {
        let (gate, bar, call) = (gate.clone(), bar.clone(), one(i));
        tasks.push(tokio::spawn(async move {
            let _turn = gate.acquire().await;
            let t = Instant::now();
            let outcome = call.await;
            bar.inc(1);
            (outcome, t.elapsed().as_micros() as u64)
        }));
    }
    let (mut outcomes, mut latencies_us) = (Vec::with_capacity(requests), Vec::with_capacity(requests));
    for t in tasks {
        let (o, l) = t.await.unwrap_or((Outcome::Failed, 0));
        outcomes.push(o);
        latencies_us.push(l);
    }
    bar.finish_and_clear();
    Measured { elapsed: start.elapsed(), latencies_us, outcomes }
}

/// Tongjia's answer to request `i`, in this process.
async fn in_process(db: Db, shape: Shape, i: usize, skus: usize) -> Outcome {
    let (n, reserves) = request(shape, i, skus);
    let Ok(sku) = SkuCode::parse(&sku_code(n)) else { return Outcome::Failed };
    if !reserves {
        return match db.quote(&sku, jiff::Timestamp::now(), false).await {
            Ok(_) => Outcome::Read,
            Err(_) => Outcome::Failed,
        };
    }
    let Ok(location_code) = LocationCode::parse("WH-BENCH") else { return Outcome::Failed };
    let cmd = StockCommand::Reserve {
        reservation_id: uuid::Uuid::now_v7(),
        key: StockKey { location_code, sku_code: sku, owner: Owner::Brand },
        quantity: Quantity::new(1).expect("one"),
        expires_at: jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1),
        reference: Some(format!("bench-{i}")),
    };
    match db.execute(cmd, None).await {
        Ok(_) => Outcome::Won,
        Err(tongjia_storage::StoreError::Domain(e)) if e.code == "insufficient_stock" => Outcome::SoldOut,
        Err(_) => Outcome::Failed,
    }
}

/// Tongjia's answer to request `i`, over HTTP.
async fn over_http(client: reqwest::Client, base: String, shape: Shape, i: usize, skus: usize) -> Outcome {
    let (n, reserves) = request(shape, i, skus);
    let sku = sku_code(n);
    let sent = if reserves {
        client
            .post(format!("{base}/api/v1/reservations"))
            .header("Idempotency-Key", format!("bench-{i}"))
            .json(&serde_json::json!({"location_code": "WH-BENCH", "sku_code": sku, "quantity": 1, "reference": format!("bench-{i}")}))
            .send()
            .await
    } else {
        client.get(format!("{base}/api/v1/skus/{sku}/quote?channel=online")).send().await
    };
    match sent.map(|r| r.status().as_u16()) {
        Ok(201) => Outcome::Won,
        Ok(422) => Outcome::SoldOut,
        Ok(200) if !reserves => Outcome::Read,
        _ => Outcome::Failed,
    }
}

/// The naive path's answer to request `i`.
async fn naive(db: Db, shape: Shape, i: usize, skus: usize) -> Outcome {
    let (n, reserves) = request(shape, i, skus);
    let sku = sku_code(n);
    if !reserves {
        return if db.naive_available(&sku).await.is_ok() { Outcome::Read } else { Outcome::Failed };
    }
    match db.naive_reserve(&sku, 1).await {
        Ok(true) => Outcome::Won,
        Ok(false) => Outcome::SoldOut,
        Err(_) => Outcome::Failed,
    }
}

/// One shape on a fresh database: both paths, the table and the checks.
async fn run(setup: &Setup, shape: Shape) -> Result<(), String> {
    let skus = if shape == Shape::Hot { 1 } else { setup.skus };
    let stock = stock(shape, setup.requests, skus);
    let want = expected_wins(shape, setup.requests, &stock);
    let scratch = tongjia_storage::ScratchDb::new("bench", setup.target.pg.as_deref()).await.map_err(|e| e.to_string())?;
    let db = Db::connect(&scratch.url).await.map_err(|e| e.to_string())?;
    seed(&db, &stock).await?;
    let (requests, clients) = (setup.requests, setup.clients);
    let tongjia = if setup.target.in_process {
        drive("tongjia", requests, clients, |i| in_process(db.clone(), shape, i, skus)).await
    } else {
        let servers = crate::bench::start_servers(&scratch.url, setup.target.servers).await?;
        let client = crate::bench::signed_client(&db, "bench", clients).await?;
        let bases = servers.bases.clone();
        let measured =
            drive("tongjia", requests, clients, |i| over_http(client.clone(), bases[i % bases.len()].clone(), shape, i, skus)).await;
        servers.stop().await;
        measured
    };
    let naive_run = drive("naive", requests, clients, |i| naive(db.clone(), shape, i, skus)).await;
    let audit = db.audit_ledger().await.map_err(|e| e.to_string())?;
    let naive_left = db.naive_left().await.map_err(|e| e.to_string())?;
    db.close().await;

    let on = setup.target.describe();
    println!("{shape:?} — {on}, {requests} requests, {clients} clients, {skus} SKU(s), {want} can be won");
    println!();
    println!("| path | req/s | p50 ms | p99 ms | p999 ms | won | sold out | reads | errors |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, m) in [("Tongjia", &tongjia), ("naive UPDATE … WHERE available >= q", &naive_run)] {
        println!(
            "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} |",
            m.per_second(),
            m.ms(0.5),
            m.ms(0.99),
            m.ms(0.999),
            m.count(Outcome::Won),
            m.count(Outcome::SoldOut),
            m.count(Outcome::Read),
            m.count(Outcome::Failed)
        );
    }
    println!();
    println!("ratio Tongjia / naive throughput: {:.2}", tongjia.per_second() / naive_run.per_second().max(0.001));
    println!("ledger audit: {}", if audit.is_empty() { "clean".to_owned() } else { audit.join("; ") });
    println!();
    let stock_total: i64 = stock.iter().sum();
    let mut wrong = vec![];
    for (name, m) in [("Tongjia", &tongjia), ("naive", &naive_run)] {
        let won = m.count(Outcome::Won) as i64;
        if won != want {
            wrong.push(format!("{name} won {won}, not {want} ({})", if won > want { "an oversell" } else { "an undersell" }));
        }
        if m.count(Outcome::Failed) > 0 {
            wrong.push(format!("{name}: {} requests failed", m.count(Outcome::Failed)));
        }
    }
    if stock_total - naive_left != want {
        wrong.push(format!("the naive table lost {} units for {want} won", stock_total - naive_left));
    }
    if !audit.is_empty() {
        wrong.push("the ledger audit found problems".into());
    }
    if wrong.is_empty() { Ok(()) } else { Err(wrong.join("; ")) }
}

pub async fn reserve(setup: Setup) -> Result<(), String> {
    setup.target.check()?;
    crate::limits::raise_open_file_limit();
    let shapes = if setup.shapes.is_empty() { vec![Shape::Hot, Shape::Spread, Shape::Mixed] } else { setup.shapes.clone() };
    let mut failed = vec![];
    for shape in shapes {
        if let Err(e) = run(&setup, shape).await {
            println!("FAILED: {e}\n");
            failed.push(format!("{shape:?}: {e}"));
        }
    }
    if failed.is_empty() { Ok(()) } else { Err(failed.join("; ")) }
}
