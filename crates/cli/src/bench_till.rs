//! `tongjia bench till`: a carry-out sale of three scanned items at the store till, over real
//! HTTP on loopback against a fresh database, with 1 till and with many at once. The till is
//! the page's own requests (three `GET /till/{store}/cart` scans, one `POST
//! /till/{store}/sale` that places, pays and answers with the receipt); beside it, in the same
//! run and with the same tills, the same sale through the API (three quotes, `POST /orders`,
//! `POST /orders/{id}/payments`). Reports requests per sale and per-request and whole-sale
//! latency (measured at the client, so an upper bound on the server's time), and checks every
//! answer and the ledger.

use std::time::{Duration, Instant};
use tongjia_domain::Fen;
use tongjia_domain::access::{Binding, Role};
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, Owner, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus};
use tongjia_server::auth::secrets;
use tongjia_storage::Db;

use crate::bench_feeds::percentile_ms;

/// How to run it.
pub struct Setup {
    /// Tills selling at once, one run each (e.g. 1 and 16).
    pub tills: Vec<usize>,
    /// Sales each till makes per path.
    pub sales: usize,
    pub pg: Option<String>,
}

/// The three items every sale scans: (SKU, barcode's first 12 digits, price in yuan).
const ITEMS: [(&str, &str, i64); 3] =
    [("TILL-PHONE", "692025990101", 1399), ("TILL-CASE", "692025990102", 99), ("TILL-CABLE", "692025990103", 39)];

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// The catalogue, `stores` direct stores with stock of each item, and a signed-in clerk
/// (session cookie, CSRF token) at each.
async fn seed(db: &Db, stores: usize, units: i64) -> Result<Vec<(String, String, String)>, String> {
    let product = Product::new(ProductCode::parse("TILL").map_err(err)?, "Till items", "phone").map_err(err)?;
    let mut rows = vec![];
    for (code, gtin, yuan) in ITEMS {
        let sku = Sku::new(
            SkuCode::parse(code).map_err(err)?,
            product.code.clone(),
            code,
            Default::default(),
            Gtin13::from_first12(gtin).map_err(err)?,
            true,
        )
        .map_err(err)?;
        rows.push((product.clone(), sku, Some(Fen::yuan(yuan))));
    }
    db.import_catalog(&rows, tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| e.to_string())?;
    let mut locations = vec![];
    for i in 0..stores {
        locations.push(
            Location::new(Location {
                code: LocationCode::parse(&format!("TILL-{i}")).map_err(err)?,
                name: format!("Till store {i}"),
                kind: LocationKind::Direct,
                county_code: CountyCode::parse("330106").map_err(err)?,
                township_code: None,
                point: GeoPoint::new(120.1, 30.2).map_err(err)?,
                status: LocationStatus::Open,
                opened_on: Some(jiff::civil::date(2025, 1, 1)),
                closed_on: None,
                capabilities: Capabilities { pickup: true, ship_from_store: true, delivery_radius_km: 0 },
                partner_code: None,
            })
            .map_err(err)?,
        );
    }
    db.import_locations(&[], &locations, tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| e.to_string())?;
    let mut clerks = vec![];
    for l in &locations {
        for (code, ..) in ITEMS {
            let key = StockKey { location_code: l.code.clone(), sku_code: SkuCode::parse(code).map_err(err)?, owner: Owner::Brand };
            db.execute(StockCommand::Receive { key, quantity: Quantity::new(units).map_err(err)?, reference: None }, None)
                .await
                .map_err(|e| e.to_string())?;
        }
        let username = format!("clerk{}", clerks.len());
        let binding = Binding::new(Role::StoreStaff, vec![l.code.clone()], None).map_err(err)?;
        db.create_account(&username, binding, secrets::hash_password(&secrets::random_secret("")).await, None)
            .await
            .map_err(|e| e.to_string())?;
        let (secret, csrf) = (secrets::random_secret("tjs_"), secrets::random_secret(""));
        let until = db.now().checked_add(jiff::SignedDuration::from_hours(8)).map_err(err)?;
        db.start_session(&secrets::digest(&secret), &format!("account:{username}"), &csrf, until, None).await.map_err(|e| e.to_string())?;
        clerks.push((l.code.to_string(), secret, csrf));
    }
    Ok(clerks)
}

/// What one till measured: each request's latency by kind, and each sale's.
#[derive(Default)]
struct Timings {
    scans: Vec<u64>,
    sales: Vec<u64>,
    whole: Vec<u64>,
    requests: usize,
    failures: Vec<String>,
}

impl Timings {
    fn merge(&mut self, other: Timings) {
        self.scans.extend(other.scans);
        self.sales.extend(other.sales);
        self.whole.extend(other.whole);
        self.requests += other.requests;
        self.failures.extend(other.failures);
    }
}

impl Timings {
    /// Sends `req`, timing it into `kind` (`scan` or `sale`); the body when the status is
    /// `expect`, else the failure is noted.
    async fn send(&mut self, kind: Kind, req: reqwest::RequestBuilder, expect: u16) -> Option<String> {
        let start = Instant::now();
        self.requests += 1;
        let answer = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let body = r.text().await.unwrap_or_default();
                if status != expect {
                    self.failures.push(format!("{status}: {}", body.chars().take(200).collect::<String>()));
                }
                (status == expect).then_some(body)
            }
            Err(e) => {
                self.failures.push(e.to_string());
                None
            }
        };
        let took = start.elapsed().as_micros() as u64;
        match kind {
            Kind::Scan => self.scans.push(took),
            Kind::Sale => self.sales.push(took),
        }
        answer
    }
}

/// Which requests a latency counts with: reading the cart (a scan, a quote) or changing it.
#[derive(Clone, Copy)]
enum Kind {
    Scan,
    Sale,
}

/// The value of the hidden field `name` in a page fragment.
fn field<'a>(html: &'a str, name: &str) -> Option<&'a str> {
    let at = html.find(&format!("name=\"{name}\" value=\""))? + name.len() + 15;
    html[at..].split('"').next()
}

/// One till selling `sales` times through its page.
async fn till_sales(client: reqwest::Client, base: String, store: String, csrf: String, sales: usize) -> Timings {
    let mut t = Timings::default();
    for _ in 0..sales {
        let start = Instant::now();
        let mut lines: Vec<(String, String)> = vec![];
        let mut cart = None;
        for (code, gtin, _) in ITEMS {
            let gtin = Gtin13::from_first12(gtin).map(|g| g.to_string()).unwrap_or_default();
            let mut query = lines.clone();
            query.push(("add".into(), gtin));
            cart = t.send(Kind::Scan, client.get(format!("{base}/till/{store}/cart")).query(&query), 200).await;
            lines.push(("line".into(), format!("{code}*1")));
        }
        let Some(key) = cart.as_deref().and_then(|c| field(c, "idempotency_key")).map(str::to_owned) else {
            t.failures.push("no sale key in the cart".into());
            continue;
        };
        let mut form = lines;
        form.push(("method".into(), "cash".into()));
        form.push(("idempotency_key".into(), key));
        let req = client.post(format!("{base}/till/{store}/sale")).header("x-csrf-token", &csrf).header("hx-request", "true").form(&form);
        let receipt = t.send(Kind::Sale, req, 200).await;
        if receipt.is_some_and(|r| r.contains("id=\"receipt\"")) {
            t.whole.push(start.elapsed().as_micros() as u64);
        } else {
            t.failures.push("the sale gave no receipt".into());
        }
    }
    t
}

/// The same sale through the API: three quotes, place, pay.
async fn api_sales(client: reqwest::Client, base: String, store: String, csrf: String, sales: usize) -> Timings {
    let mut t = Timings::default();
    for n in 0..sales {
        let start = Instant::now();
        for (code, ..) in ITEMS {
            t.send(Kind::Scan, client.get(format!("{base}/api/v1/skus/{code}/quote")), 200).await;
        }
        let lines: Vec<_> = ITEMS.iter().map(|(code, ..)| serde_json::json!({"sku_code": code, "quantity": 1})).collect();
        let body = serde_json::json!({"store_code": store, "fulfilment": "carry_out", "lines": lines});
        let key = format!("{store}-{n}");
        let req = client.post(format!("{base}/api/v1/orders")).header("x-csrf-token", &csrf).header("idempotency-key", &key).json(&body);
        let placed = t.send(Kind::Sale, req, 201).await;
        let order: serde_json::Value = placed.and_then(|p| serde_json::from_str(&p).ok()).unwrap_or_default();
        let pay = serde_json::json!({"amount_fen": order["total_fen"], "external_reference": key, "method": "cash"});
        let req = client
            .post(format!("{base}/api/v1/orders/{}/payments", order["order_id"].as_str().unwrap_or("-")))
            .header("x-csrf-token", &csrf)
            .header("idempotency-key", format!("{key}-pay"))
            .json(&pay);
        let paid = t.send(Kind::Sale, req, 201).await;
        if paid.is_some() {
            t.whole.push(start.elapsed().as_micros() as u64);
        }
    }
    t
}

/// `tills` tills at once, each its own clerk and connection.
async fn run_path(api: bool, base: &str, clerks: &[(String, String, String)], sales: usize) -> Result<(Timings, Duration), String> {
    let start = Instant::now();
    let mut tasks = vec![];
    for (store, secret, csrf) in clerks {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::COOKIE, format!("tongjia_session={secret}").parse().map_err(|_| "a cookie".to_owned())?);
        let client = reqwest::Client::builder().default_headers(headers).build().map_err(err)?;
        let (base, store, csrf) = (base.to_owned(), store.clone(), csrf.clone());
        tasks.push(if api {
            tokio::spawn(api_sales(client, base, store, csrf, sales))
        } else {
            tokio::spawn(till_sales(client, base, store, csrf, sales))
        });
    }
    let mut all = Timings::default();
    for task in tasks {
        all.merge(task.await.map_err(err)?);
    }
    Ok((all, start.elapsed()))
}

/// Runs the till benchmark and prints a Markdown table.
pub async fn till(setup: Setup) -> Result<(), String> {
    let most = setup.tills.iter().copied().max().unwrap_or(1);
    println!(
        "| path | tills | sales | requests per sale | sales/s | request p50 ms | request p99 ms | scan p99 ms | sale request p99 ms | whole sale p99 ms | errors |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failed = vec![];
    for &tills in &setup.tills {
        let scratch = tongjia_storage::ScratchDb::new("bench_till", setup.pg.as_deref()).await.map_err(|e| e.to_string())?;
        let db = Db::connect(&scratch.url).await.map_err(|e| e.to_string())?;
        let clerks = seed(&db, tills.max(1), (setup.sales * 2 + 10) as i64).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(err)?;
        let base = format!("http://{}", listener.local_addr().map_err(err)?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let settings = tongjia_server::Settings { secure_cookies: false, ..Default::default() };
        let server = tokio::spawn(tongjia_server::serve(listener, db.clone(), settings, async move {
            let _ = stopped.await;
        }));
        let bar = crate::progress::bar(2, &format!("{tills} till(s)"));
        for (label, api) in [("till page", false), ("API", true)] {
            let (t, elapsed) = run_path(api, &base, &clerks, setup.sales).await?;
            bar.inc(1);
            let all: Vec<u64> = t.scans.iter().chain(&t.sales).copied().collect();
            let sales = t.whole.len();
            println!(
                "| {label} | {tills} | {sales} | {:.0} | {:.0} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
                t.requests as f64 / (setup.sales * tills) as f64,
                sales as f64 / elapsed.as_secs_f64(),
                percentile_ms(&all, 0.5),
                percentile_ms(&all, 0.99),
                percentile_ms(&t.scans, 0.99),
                percentile_ms(&t.sales, 0.99),
                percentile_ms(&t.whole, 0.99),
                t.failures.len()
            );
            if let Some(f) = t.failures.first() {
                failed.push(format!("{label} with {tills} till(s): {} failures, first: {f}", t.failures.len()));
            }
        }
        bar.finish_and_clear();
        let _ = stop.send(());
        let _ = server.await;
        let audit = db.audit_ledger().await.map_err(|e| e.to_string())?;
        if !audit.is_empty() {
            failed.push(format!("ledger audit with {tills} till(s): {}", audit.join("; ")));
        }
        db.close().await;
    }
    println!();
    println!("{} sales per till per path; the most tills at once: {most}", setup.sales);
    if failed.is_empty() { Ok(()) } else { Err(failed.join("\n")) }
}
