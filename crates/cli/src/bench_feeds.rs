//! `tongjia bench feeds`: what many open store price feeds cost everyone else. A server on
//! a fresh database answers ordinary GETs (a SKU, its quote) one after another, first with
//! nothing else going on (the baseline) and then with F filtered feeds open
//! (`/events/stream?event_type=price.scheduled`) while a writer receives stock every 100 ms
//! and schedules a new price once a second, so that every feed has an event to deliver each
//! second and the outbox grows with events none of them wants. Reports both latencies, their
//! ratio, and whether every feed got every price.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How to run it.
pub struct Setup {
    pub feeds: usize,
    pub seconds: u64,
    pub pg: Option<String>,
}

/// Latencies of ordinary GETs, one after another, for `span`.
async fn probe(client: &reqwest::Client, base: &str, span: Duration) -> Vec<u64> {
    let paths = ["/api/v1/skus/BENCH-PHONE", "/api/v1/skus/BENCH-PHONE/quote?channel=app"];
    let start = Instant::now();
    let mut latencies = vec![];
    let mut i = 0;
    while start.elapsed() < span {
        let t = Instant::now();
        if let Ok(res) = client.get(format!("{base}{}", paths[i % paths.len()])).send().await {
            let _ = res.bytes().await;
        }
        latencies.push(t.elapsed().as_micros() as u64);
        i += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    latencies
}

pub(crate) fn percentile_ms(latencies: &[u64], p: f64) -> f64 {
    let mut l = latencies.to_vec();
    l.sort_unstable();
    let i = ((l.len() as f64 - 1.0) * p).round() as usize;
    l.get(i).copied().unwrap_or(0) as f64 / 1000.0
}

/// Opens one feed and counts the prices it delivers.
async fn open_feed(client: &reqwest::Client, base: &str, got: Arc<AtomicUsize>) -> Result<tokio::task::JoinHandle<()>, String> {
    let mut res = client
        .get(format!("{base}/api/v1/events/stream?event_type=price.scheduled"))
        .send()
        .await
        .map_err(|e| format!("a feed did not open: {e}"))?;
    Ok(tokio::spawn(async move {
        while let Ok(Some(chunk)) = res.chunk().await {
            got.fetch_add(String::from_utf8_lossy(&chunk).matches("event: price.scheduled\n").count(), Ordering::Relaxed);
        }
    }))
}

/// Receipts every 100 ms and a new price every second, until `stop`; returns the prices.
async fn write_load(client: reqwest::Client, base: String, stop: Arc<std::sync::atomic::AtomicBool>) -> usize {
    let mut prices = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for i in 1usize.. {
        tick.tick().await;
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let receipt = serde_json::json!({"location_code": "WH-BENCH", "sku_code": "BENCH-PHONE", "quantity": 1});
        let _ = client.post(format!("{base}/api/v1/stock/receipts")).json(&receipt).send().await;
        if i % 10 == 0 {
            let price = serde_json::json!({"list_price_fen": 199_900 + i as i64});
            if client
                .post(format!("{base}/api/v1/skus/BENCH-PHONE/prices"))
                .json(&price)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                prices += 1;
            }
        }
    }
    prices
}

/// Runs the feeds benchmark and prints a Markdown table.
pub async fn feeds(setup: Setup) -> Result<(), String> {
    crate::limits::raise_open_file_limit();
    let scratch = tongjia_storage::ScratchDb::new("bench", setup.pg.as_deref()).await.map_err(|e| e.to_string())?;
    let db = tongjia_storage::Db::connect(&scratch.url).await.map_err(|e| e.to_string())?;
    crate::bench::seed(&db, 1).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let base = format!("http://{}", listener.local_addr().map_err(|e| e.to_string())?);
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tongjia_server::serve(
        listener,
        db.clone(),
        tongjia_server::Settings { streams_per_principal: usize::MAX, ..Default::default() },
        async move {
            let _ = stopped.await;
        },
    ));
    let client = crate::bench::signed_client(&db, "bench", 64).await?;
    let span = Duration::from_secs(setup.seconds);
    let idle = probe(&client, &base, span).await;

    let feeds_client = crate::bench::signed_client(&db, "bench-feeds", 0).await?;
    let got = Arc::new(AtomicUsize::new(0));
    let mut feeds = Vec::with_capacity(setup.feeds);
    let bar = crate::progress::bar(setup.feeds, "opening feeds");
    for _ in 0..setup.feeds {
        feeds.push(open_feed(&feeds_client, &base, got.clone()).await?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let stop_writes = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = tokio::spawn(write_load(client.clone(), base.clone(), stop_writes.clone()));
    let loaded = probe(&client, &base, span).await;
    stop_writes.store(true, Ordering::Relaxed);
    let prices = writer.await.map_err(|e| e.to_string())?;
    // Each feed starts with the seed's price; the last price reaches every feed within the
    // reader's interval.
    let want = (prices + 1) * setup.feeds;
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.load(Ordering::Relaxed) < want && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let delivered = got.load(Ordering::Relaxed);
    let _ = stop_server.send(());
    let _ = server.await;
    for f in feeds {
        f.abort();
    }
    db.close().await;

    println!(
        "{} on one process, {} feeds, {} s per phase",
        if setup.pg.is_some() { "PostgreSQL" } else { "SQLite" },
        setup.feeds,
        setup.seconds
    );
    println!();
    println!("| phase | GETs | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    for (label, l) in [("baseline (nothing else open)", &idle), ("with the feeds and the writes", &loaded)] {
        println!(
            "| {label} | {} | {:.2} | {:.2} | {:.2} |",
            l.len(),
            percentile_ms(l, 0.5),
            percentile_ms(l, 0.95),
            percentile_ms(l, 0.99)
        );
    }
    println!();
    let ratio = percentile_ms(&loaded, 0.5) / percentile_ms(&idle, 0.5).max(0.001);
    let ratio95 = percentile_ms(&loaded, 0.95) / percentile_ms(&idle, 0.95).max(0.001);
    println!("ratio with feeds / baseline: p50 {ratio:.2}, p95 {ratio95:.2}");
    println!("prices scheduled {prices}, delivered {delivered} of {want} ({} feeds × {} prices)", setup.feeds, prices + 1);
    if delivered < want {
        return Err(format!("feeds missed prices: {delivered} of {want} delivered"));
    }
    Ok(())
}
