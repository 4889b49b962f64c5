//! `tongjia bench flash-sale`: N buyers race for M units of one phone over real HTTP on
//! loopback, against a fresh database (a temporary SQLite file, or a new schema in a
//! PostgreSQL database) and one or more in-process servers sharing it. The baseline,
//! measured in the same run with the same concurrency, is `GET /health`: the server's
//! request ceiling without a database write. Reports throughput, latency and the ratio, and
//! checks that exactly M buyers won and that nothing answered with an error.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tongjia_domain::Fen;
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, Owner, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus};
use tongjia_domain::pricing::PriceChange;
use tongjia_storage::{Db, PageRequest, StockFilter};

/// What one phase measured.
struct Phase {
    elapsed: Duration,
    latencies_us: Vec<u64>,
    statuses: Vec<u16>,
}

impl Phase {
    fn per_second(&self) -> f64 {
        self.statuses.len() as f64 / self.elapsed.as_secs_f64()
    }
    fn percentile_ms(&self, p: f64) -> f64 {
        let mut l = self.latencies_us.clone();
        l.sort_unstable();
        let i = ((l.len() as f64 - 1.0) * p).round() as usize;
        l.get(i).copied().unwrap_or(0) as f64 / 1000.0
    }
    fn count(&self, status: u16) -> usize {
        self.statuses.iter().filter(|s| **s == status).count()
    }
}

pub(crate) async fn seed(db: &Db, units: i64) -> Result<(), String> {
    let e = |e: tongjia_domain::DomainError| e.to_string();
    let product = Product::new(ProductCode::parse("BENCH").map_err(e)?, "Flash phone", "phone").map_err(e)?;
    let sku_code = SkuCode::parse("BENCH-PHONE").map_err(e)?;
    let sku = Sku::new(
        sku_code.clone(),
        product.code.clone(),
        "Flash phone 12+256",
        Default::default(),
        Gtin13::from_first12("692025990001").map_err(e)?,
        true,
    )
    .map_err(e)?;
    db.import_catalog(&[(product, sku, None)], tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| e.to_string())?;
    let change =
        PriceChange { sku_code: sku_code.clone(), list_price: Fen::yuan(1999), member_price: None, effective_at: None, note: None };
    db.schedule_price(change, None).await.map_err(|e| e.to_string())?;
    seed_warehouse(db, "WH-BENCH").await?;
    let key = StockKey { location_code: LocationCode::parse("WH-BENCH").map_err(e)?, sku_code, owner: Owner::Brand };
    db.execute(StockCommand::Receive { key, quantity: Quantity::new(units).map_err(e)?, reference: Some("bench".into()) }, None)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

async fn phase(label: &str, buyers: usize, concurrency: usize, request: impl Fn(usize) -> reqwest::RequestBuilder) -> Phase {
    let bar = crate::progress::bar(buyers, label);
    let gate = Arc::new(Semaphore::new(concurrency));
    let start = Instant::now();
    let tasks: Vec<_> = (0..buyers)
        .map(|i| {
            let req = request(i);
            let gate = gate.clone();
            let bar = bar.clone();
            tokio::spawn(async move {
                let _permit = gate.acquire().await;
                let t = Instant::now();
                let status = match req.send().await {
                    Ok(res) => {
                        let status = res.status().as_u16();
                        let _ = res.bytes().await;
                        status
                    }
                    Err(_) => 0,
                };
                bar.inc(1);
                (status, t.elapsed().as_micros() as u64)
            })
        })
        .collect();
    let mut statuses = Vec::with_capacity(buyers);
    let mut latencies_us = Vec::with_capacity(buyers);
    for t in tasks {
        let (s, l) = t.await.unwrap_or((0, 0));
        statuses.push(s);
        latencies_us.push(l);
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    Phase { elapsed, latencies_us, statuses }
}

/// How to run the flash sale.
pub struct Setup {
    pub buyers: usize,
    pub units: i64,
    pub concurrency: usize,
    /// PostgreSQL URL to run on (a fresh schema); SQLite in a temporary directory if none.
    pub pg: Option<String>,
    /// Servers sharing the database, each with its own pool.
    pub servers: usize,
}

/// Runs the flash-sale benchmark and prints a Markdown table.
pub async fn flash_sale(setup: Setup) -> Result<(), String> {
    let Setup { buyers, units, concurrency, pg, servers } = setup;
    if servers == 0 || (servers > 1 && pg.is_none()) {
        return Err("--servers must be 1, or more with --pg (SQLite serves from one process)".into());
    }
    let scratch = tongjia_storage::ScratchDb::new("bench", pg.as_deref()).await.map_err(|e| e.to_string())?;
    run(&scratch.url, buyers, units, concurrency, servers).await
}

async fn run(url: &str, buyers: usize, units: i64, concurrency: usize, servers: usize) -> Result<(), String> {
    let db = Db::connect(url).await.map_err(|e| e.to_string())?;
    seed(&db, units).await?;
    let servers_running = start_servers(url, servers).await?;
    let bases = servers_running.bases.clone();
    let client = signed_client(&db, "bench", concurrency).await?;

    let health: Vec<String> = bases.iter().map(|b| format!("{b}/health")).collect();
    let baseline = phase("baseline", buyers, concurrency, |i| client.get(&health[i % servers])).await;
    let urls: Vec<String> = bases.iter().map(|b| format!("{b}/api/v1/reservations")).collect();
    let sale = phase("flash sale", buyers, concurrency, |i| {
        client.post(&urls[i % servers]).header("Idempotency-Key", format!("buyer-{i}")).json(&serde_json::json!({
            "location_code": "WH-BENCH", "sku_code": "BENCH-PHONE", "quantity": 1, "reference": format!("buyer-{i}")
        }))
    })
    .await;
    servers_running.stop().await;
    println!("{} on {}, {servers} server(s)", db.backend().name(), if servers == 1 { "one process" } else { "one database" });
    println!();

    let won = sale.count(201);
    let sold_out = sale.count(422);
    let errors = buyers - won - sold_out;
    let balance = db.positions(&StockFilter::default(), &PageRequest::default()).await.map_err(|e| e.to_string())?;
    let reserved: i64 = balance.items.iter().map(|p| p.position.reserved).sum();
    let audit = db.audit_ledger().await.map_err(|e| e.to_string())?;
    db.close().await;

    println!("| phase | requests | concurrency | req/s | p50 ms | p99 ms | outcome |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| baseline `GET /health` | {buyers} | {concurrency} | {:.0} | {:.2} | {:.2} | {} ok |",
        baseline.per_second(),
        baseline.percentile_ms(0.5),
        baseline.percentile_ms(0.99),
        baseline.count(200)
    );
    println!(
        "| flash sale `POST /reservations` | {buyers} | {concurrency} | {:.0} | {:.2} | {:.2} | {won} won, {sold_out} sold out, {errors} errors |",
        sale.per_second(),
        sale.percentile_ms(0.5),
        sale.percentile_ms(0.99)
    );
    println!();
    println!("ratio flash sale / baseline throughput: {:.2}", sale.per_second() / baseline.per_second());
    println!(
        "units {units}, reserved afterwards {reserved}, ledger audit: {}",
        if audit.is_empty() { "clean".to_owned() } else { audit.join("; ") }
    );
    let exact = won as i64 == units.min(buyers as i64) && reserved == won as i64 && errors == 0 && audit.is_empty();
    if exact { Ok(()) } else { Err(format!("flash sale was not exact: {won} won for {units} units, {errors} errors")) }
}

/// An open warehouse `code` in Guangzhou that ships.
pub(crate) async fn seed_warehouse(db: &Db, code: &str) -> Result<(), String> {
    let e = |e: tongjia_domain::DomainError| e.to_string();
    let wh = Location::new(Location {
        code: LocationCode::parse(code).map_err(e)?,
        name: "Bench DC".into(),
        kind: LocationKind::Warehouse,
        county_code: CountyCode::parse("440112").map_err(e)?,
        township_code: None,
        point: GeoPoint::new(113.46, 23.10).map_err(e)?,
        status: LocationStatus::Open,
        opened_on: Some(jiff::civil::date(2025, 1, 1)),
        closed_on: None,
        capabilities: Capabilities { pickup: false, ship_from_store: true, delivery_radius_km: 0 },
        partner_code: None,
    })
    .map_err(e)?;
    db.import_locations(&[], &[wh], tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| e.to_string())?;
    Ok(())
}

/// Where a benchmark runs Tongjia: the engine (a fresh PostgreSQL schema or a temporary
/// SQLite file), and over HTTP to in-process servers or in-process.
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// Run on PostgreSQL: a fresh schema in the database this URL names.
    #[arg(long, env = "TONGJIA_BENCH_PG")]
    pub pg: Option<String>,
    /// Servers sharing the database (over HTTP; more than one needs `--pg`).
    #[arg(long, default_value_t = 1)]
    pub servers: usize,
    /// Ask the engine in this process instead of over HTTP.
    #[arg(long)]
    pub in_process: bool,
}

impl Target {
    /// Refuses a server count the engine cannot serve.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.servers == 0 || (self.servers > 1 && self.pg.is_none()) {
            return Err("--servers must be 1, or more with --pg (SQLite serves from one process)".into());
        }
        Ok(())
    }

    /// `SQLite, over HTTP, 2 server(s)` — the run's heading.
    pub(crate) fn describe(&self) -> String {
        let engine = if self.pg.is_some() { "PostgreSQL" } else { "SQLite" };
        let how = if self.in_process { "in-process".to_owned() } else { format!("over HTTP, {} server(s)", self.servers) };
        format!("{engine}, {how}")
    }
}

/// Servers started in this process on one database, each with its own pool (as separate
/// processes would have).
pub(crate) struct Servers {
    pub(crate) bases: Vec<String>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    running: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Servers {
    pub(crate) async fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for server in self.running {
            let _ = server.await;
        }
    }
}

/// Starts `n` servers on the database at `url`, on loopback, each taking the payment
/// simulator's notifications signed with [`crate::bench_checkout::SIMULATOR_SECRET`].
pub(crate) async fn start_servers(url: &str, n: usize) -> Result<Servers, String> {
    let mut servers = Servers { bases: vec![], stops: vec![], running: vec![] };
    for _ in 0..n {
        let server_db = Db::connect(url).await.map_err(|e| e.to_string())?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
        servers.bases.push(format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        servers.stops.push(stop);
        let mut settings = tongjia_server::Settings::default();
        let simulator = tongjia_server::payments::simulator::Simulator::new(crate::bench_checkout::SIMULATOR_SECRET, "/dev/null");
        settings.payment_providers = settings.payment_providers.with("simulator", std::sync::Arc::new(simulator));
        servers.running.push(tokio::spawn(tongjia_server::serve(listener, server_db, settings, async move {
            let _ = stopped.await;
        })));
    }
    Ok(servers)
}

/// A client that acts as headquarters (`hq_admin`): the account `name` and a
/// token for it are made in `db` first.
pub(crate) async fn signed_client(db: &Db, name: &str, pool: usize) -> Result<reqwest::Client, String> {
    let binding = tongjia_domain::access::Binding::new(tongjia_domain::access::Role::HqAdmin, vec![], None).map_err(|e| e.to_string())?;
    let token = tongjia_server::auth::bootstrap_token(db, name, binding, "benchmark").await.map_err(|e| e.to_string())?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().map_err(|_| "a token header".to_owned())?);
    reqwest::Client::builder().pool_max_idle_per_host(pool).default_headers(headers).build().map_err(|e| e.to_string())
}
