//! `tongjia bench reads`: the network's reads at national scale against the server's own
//! floor. A fresh database holds the demo network (4,700 stores, 41 SKUs, stock everywhere);
//! one in-process server answers, for each read in turn, C clients asking as fast as they
//! can for S seconds: `GET /health` first (the baseline: the same server, routing, guard and
//! connection with no work behind it), then the locator (nearest stores, with and without a
//! SKU in stock), a quote, and availability in a province. Reports requests per second, p50
//! and p99 latency and each read's ratio to the baseline; any answer but 200 fails the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::bench_feeds::percentile_ms;

/// How to run it.
pub struct Setup {
    pub clients: usize,
    pub seconds: u64,
    pub pg: Option<String>,
    /// A server already serving the demo (`serve --demo`) to measure instead of a fresh one
    /// in this process (another build, another machine).
    pub url: Option<String>,
}

/// The reads, each a name and its path.
const READS: &[(&str, &str)] = &[
    ("GET /health (baseline)", "/health"),
    ("stores/nearest (Hangzhou, 5)", "/api/v1/stores/nearest?longitude=120.15&latitude=30.28&limit=5"),
    ("stores/nearest with a SKU in stock", "/api/v1/stores/nearest?longitude=120.15&latitude=30.28&limit=5&sku_code=NOTE13-BLK-8-256"),
    ("quote", "/api/v1/skus/NOTE13-BLK-8-256/quote?channel=online"),
    ("availability in Zhejiang (a page of 50)", "/api/v1/skus/NOTE13-BLK-8-256/availability?division_code=33&limit=50"),
];

/// What one read did.
struct Measured {
    requests: usize,
    per_second: f64,
    latencies: Vec<u64>,
}

/// `clients` loops asking for `path` until `span` is over.
async fn hammer(client: &reqwest::Client, url: String, clients: usize, span: Duration) -> Result<Measured, String> {
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let (client, url, stop, failures) = (client.clone(), url.clone(), stop.clone(), failures.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = vec![];
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match client.get(&url).send().await {
                    Ok(res) if res.status().is_success() => {
                        let _ = res.bytes().await;
                    }
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                latencies.push(t.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    tokio::time::sleep(span).await;
    stop.store(true, Ordering::Relaxed);
    let mut latencies = vec![];
    for t in tasks {
        latencies.extend(t.await.map_err(|e| e.to_string())?);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let failed = failures.load(Ordering::Relaxed);
    if failed > 0 {
        return Err(format!("{url}: {failed} answers were not 200"));
    }
    Ok(Measured { requests: latencies.len(), per_second: latencies.len() as f64 / elapsed, latencies })
}

pub async fn reads(setup: Setup) -> Result<(), String> {
    crate::limits::raise_open_file_limit();
    let (base, served) = match &setup.url {
        Some(url) => (url.trim_end_matches('/').to_owned(), None),
        None => {
            let (base, served) = serve_demo(setup.pg.as_deref()).await?;
            (base, Some(served))
        }
    };
    let client = reqwest::Client::builder().pool_max_idle_per_host(setup.clients).build().map_err(|e| e.to_string())?;
    let span = Duration::from_secs(setup.seconds);
    let bar = crate::progress::bar(READS.len() * 2, "reading");
    let mut rows = vec![];
    for (name, path) in READS {
        // One client alone first (the unloaded latency), then all of them.
        let alone = hammer(&client, format!("{base}{path}"), 1, span / 2).await?;
        bar.inc(1);
        let loaded = hammer(&client, format!("{base}{path}"), setup.clients, span).await?;
        bar.inc(1);
        rows.push((*name, alone, loaded));
    }
    bar.finish_and_clear();
    let seeded = match served {
        Some(served) => Some(served.stop().await),
        None => None,
    };
    let engine = if setup.pg.is_some() { "PostgreSQL" } else { "SQLite" };
    match seeded {
        Some(s) => println!(
            "{engine}, the demo network (seeded in {s:.1} s), one in-process server, {} clients, {} s per read",
            setup.clients, setup.seconds
        ),
        None => println!("the server at {base}, {} clients, {} s per read", setup.clients, setup.seconds),
    }
    println!();
    println!("| read | 1 client p99 ms | {} clients: requests/s | p50 ms | p99 ms | ratio to /health |", setup.clients);
    println!("|---|---|---|---|---|---|");
    let floor = rows.first().map_or(1.0, |(_, _, l)| l.per_second.max(1.0));
    for (name, alone, loaded) in &rows {
        println!(
            "| {name} | {:.2} | {:.0} | {:.2} | {:.2} | {:.2} |",
            percentile_ms(&alone.latencies, 0.99),
            loaded.per_second,
            percentile_ms(&loaded.latencies, 0.5),
            percentile_ms(&loaded.latencies, 0.99),
            loaded.per_second / floor
        );
    }
    let total: usize = rows.iter().map(|(_, a, l)| a.requests + l.requests).sum();
    println!();
    println!("{total} requests, every one answered 200");
    Ok(())
}

/// The in-process server on a fresh demo database, and how to stop it.
struct Served {
    db: tongjia_storage::Db,
    stop: tokio::sync::oneshot::Sender<()>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    seeded: Duration,
    /// Removed (the temporary directory or schema) once the server has stopped.
    _scratch: tongjia_storage::ScratchDb,
}

impl Served {
    /// Stops the server; the seconds the seed took.
    async fn stop(self) -> f64 {
        let _ = self.stop.send(());
        let _ = self.server.await;
        self.db.close().await;
        self.seeded.as_secs_f64()
    }
}

async fn serve_demo(pg: Option<&str>) -> Result<(String, Served), String> {
    let scratch = tongjia_storage::ScratchDb::new("bench", pg).await.map_err(|e| e.to_string())?;
    let db = tongjia_storage::Db::connect(&scratch.url).await.map_err(|e| e.to_string())?;
    let seeding = Instant::now();
    crate::demo::seed(&db).await?;
    let seeded = seeding.elapsed();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let base = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tongjia_server::serve(listener, db.clone(), tongjia_server::Settings::default(), async move {
        let _ = stopped.await;
    }));
    Ok((base, Served { db, stop, server, seeded, _scratch: scratch }))
}
