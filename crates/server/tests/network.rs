//! The store network on the real map, over HTTP: stores only in real divisions, coverage as
//! of a date recomputed independently from the store list, gaps, the planner, the locator.

mod common;

use common::{ok, read, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use tongjia_storage::Backend;

fn store(
    code: &str,
    kind: &str,
    county: &str,
    township: Option<&str>,
    (lon, lat): (f64, f64),
    opened: &str,
    closed: Option<&str>,
) -> Value {
    json!({"store_code": code, "name": code, "kind": kind, "county_code": county, "township_code": township, "longitude": lon, "latitude": lat,
           "status": if closed.is_some() { "closed" } else { "open" }, "opened_on": opened, "closed_on": closed, "pickup": true,
           "partner_code": if kind == "direct" { None } else { Some("P-1") }})
}

async fn stores_stand_only_in_real_divisions(backend: Backend) {
    let app = spawn_app(backend).await;
    ok(app.post("/api/v1/partners", json!({"partner_code": "P-1", "name": "Partner"})).await);
    for (body, code) in [
        (store("X-1", "direct", "330199", None, (120.1, 30.2), "2025-01-01", None), "unknown_county_code"),
        (store("X-2", "direct", "130171", None, (114.5, 38.0), "2025-01-01", None), "not_a_county_level_division"),
        (store("X-3", "township_authorized", "330782", Some("330782999"), (120.1, 29.3), "2025-01-01", None), "unknown_township_code"),
        (store("X-4", "township_authorized", "330782", Some("330106002"), (120.1, 29.3), "2025-01-01", None), "township_not_in_county"),
    ] {
        let (s, p) = app.post("/api/v1/stores", body).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{p}");
    }
    ok(app.post("/api/v1/stores", store("DG-1", "direct", "441900", Some("441900003"), (113.75, 23.02), "2025-01-01", None)).await);
    let d = ok(app.get("/api/v1/network/divisions/441900").await);
    assert_eq!((d["name"].as_str(), d["kind"].as_str(), d["stores"].as_i64()), (Some("东莞市"), Some("city"), Some(1)));
    let z = ok(app.get("/api/v1/network/divisions/130171").await);
    assert_eq!(z["kind"], "zone");
}

async fn coverage_on_any_date_matches_a_recount_of_the_store_list(backend: Backend) {
    let app = spawn_app(backend).await;
    ok(app.post("/api/v1/partners", json!({"partner_code": "P-1", "name": "Partner"})).await);
    let stores = [
        store("D-HZ", "direct", "330106", None, (120.13, 30.26), "2025-01-10", None),
        store("A-YW", "authorized", "330782", None, (120.07, 29.31), "2025-06-01", None),
        store("T-YW", "township_authorized", "330782", Some("330782101"), (120.1, 29.2), "2025-07-01", Some("2026-03-01")),
        store("A-XX", "authorized", "341322", None, (116.95, 34.19), "2026-02-01", None),
        store("T-XX", "township_authorized", "341322", Some("341322100"), (116.9, 34.2), "2026-02-01", None),
    ];
    for s in &stores {
        ok(app.post("/api/v1/stores", s.clone()).await);
    }
    let list = ok(app.get("/api/v1/stores?limit=500").await);
    for at in ["2024-12-31", "2025-03-01", "2025-08-01", "2026-02-15", "2026-04-01"] {
        let c = ok(app.get(&format!("/api/v1/network/coverage?at={at}")).await);
        let open: Vec<&Value> = list["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["opened_on"].as_str().is_some_and(|o| o <= at) && s["closed_on"].as_str().is_none_or(|c| at < c))
            .collect();
        let counties: BTreeSet<&str> = open.iter().map(|s| s["county_code"].as_str().unwrap()).collect();
        assert_eq!(c["overall"]["counties"], 2852);
        assert_eq!(c["overall"]["covered"].as_u64().unwrap() as usize, counties.len(), "{at}");
        assert_eq!(c["overall"]["share_bp"].as_u64().unwrap() as usize, counties.len() * 10_000 / 2852, "{at}");
        let zj = c["by_province"].as_array().unwrap().iter().find(|p| p["code"] == "33").unwrap();
        assert_eq!(zj["covered"].as_u64().unwrap() as usize, counties.iter().filter(|c| c.starts_with("33")).count());
        let townships = open.iter().filter(|s| s["kind"] == "township_authorized").count();
        assert_eq!(c["township_stores"].as_u64().unwrap() as usize, townships, "{at}");
    }
    let svg = app.client.get(app.url("/api/v1/network/coverage.svg?at=2026-04-01")).send().await.unwrap();
    assert_eq!(svg.headers().get("content-type").unwrap(), "image/svg+xml");
    let text = svg.text().await.unwrap();
    assert!(text.starts_with("<svg") && text.contains("浙江省") && text.ends_with("</svg>"));

    let gaps = ok(app.get("/api/v1/network/gaps?at=2026-04-01&limit=3").await);
    assert_eq!(gaps["uncovered"], 2852 - 3);
    let d: Vec<i64> = gaps["items"].as_array().unwrap().iter().map(|g| g["nearest_store_m"].as_i64().unwrap()).collect();
    assert!(d.windows(2).all(|w| w[0] >= w[1]), "farthest first: {d:?}");
    let plan = ok(app.get("/api/v1/network/plan?stores=4").await);
    assert_eq!(plan["new_counties_covered"], 4);
    assert_eq!(plan["sites"][0]["county_code"], gaps["items"][0]["county_code"], "the first site goes to the worst gap");
    let (s, p) = app.get("/api/v1/network/plan?stores=0").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_stores")));
}

async fn the_locator_finds_the_nearest_open_stores_with_stock(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await; // D-1, A-1, T-1 around (120.1, 29.3); a SKU NOTE13-BLK
    ok(app.post("/api/v1/stores", store("D-FAR", "direct", "110105", None, (116.44, 39.92), "2025-01-01", None)).await);
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-FAR", "sku_code": "NOTE13-BLK", "quantity": 2})).await);
    let near = ok(app.get("/api/v1/stores/nearest?longitude=120.1&latitude=29.3&limit=2").await);
    assert_eq!(near["items"].as_array().unwrap().len(), 2);
    assert!(near["items"][0]["distance_m"].as_i64().unwrap() < 1000);
    let stocked = ok(app.get("/api/v1/stores/nearest?longitude=120.1&latitude=29.3&sku_code=NOTE13-BLK").await);
    let codes: Vec<&str> = stocked["items"].as_array().unwrap().iter().map(|s| s["store_code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["D-FAR"], "only the store that can promise it");
    assert_eq!(stocked["items"][0]["available"], 2);
    let by_division = ok(app.get("/api/v1/stores/nearest?division_code=330782101&limit=1").await);
    assert_eq!(by_division["items"].as_array().unwrap().len(), 1);
    let (s, p) = app.get("/api/v1/stores/nearest?longitude=120.1").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_point")));
}

/// A second server on the test's database, with its own copy of the network; its address.
async fn second_server(app: &common::TestApp) -> String {
    let db = tongjia_storage::Db::connect(app.db_url()).await.expect("the same database");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(tongjia_server::serve(listener, db, tongjia_server::Settings::default(), std::future::pending::<()>()));
    base
}

async fn the_network_is_read_from_memory_and_every_server_sees_a_change(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    // Several servers share a PostgreSQL database; SQLite is served by one process (a second
    // one's background writes would meet the first's as `database_busy`).
    let other = match backend {
        Backend::Postgres => second_server(&app).await,
        Backend::Sqlite => app.url(""),
    };
    let nearest = |base: String| async move {
        let url = format!("{base}/api/v1/stores/nearest?longitude=116.44&latitude=39.92&limit=1");
        let near: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        near["items"][0]["store_code"].as_str().unwrap().to_owned()
    };
    // Both servers have read the network (three stores in Zhejiang).
    assert_ne!(nearest(app.url("")).await, "D-BJ");
    assert_ne!(nearest(other.clone()).await, "D-BJ");
    // A store opens in Beijing, through the first server: it finds it at once ...
    ok(app.post("/api/v1/stores", store("D-BJ", "direct", "110105", None, (116.44, 39.92), "2025-01-01", None)).await);
    assert_eq!(nearest(app.url("")).await, "D-BJ");
    // ... and the second within its outbox poll.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while nearest(other.clone()).await != "D-BJ" {
        assert!(std::time::Instant::now() < deadline, "the second server never saw the new store");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // Closed: gone from both.
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-BJ", "sku_code": "NOTE13-BLK", "quantity": 1})).await);
    let (s, _) = read(
        app.client
            .patch(app.url("/api/v1/stores/D-BJ"))
            .json(&json!({"status": "closed", "closed_on": "2026-01-01"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert!(s.is_success(), "{s}");
    assert_ne!(nearest(app.url("")).await, "D-BJ");
}

async fn availability_across_the_network_is_filtered_and_paged(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    ok(app.post("/api/v1/stores", store("D-BJ", "direct", "110105", None, (116.44, 39.92), "2025-01-01", None)).await);
    for (l, n) in [("D-1", 1), ("A-1", 2), ("T-1", 3), ("D-BJ", 4), ("WH-S", 5)] {
        ok(app.post("/api/v1/stock/receipts", json!({"location_code": l, "sku_code": "NOTE13-BLK", "quantity": n})).await);
    }
    let app = &app;
    let get = |q: &str| {
        let path = format!("/api/v1/skus/NOTE13-BLK/availability?{q}");
        async move { app.get(&path).await }
    };
    let codes =
        |v: &Value| v["locations"].as_array().unwrap().iter().map(|l| l["location_code"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let all = ok(get("").await);
    assert_eq!((all["total"]["available"].as_i64(), codes(&all).len()), (Some(15), 5));
    let zhejiang = ok(get("division_code=33").await);
    assert_eq!(
        (zhejiang["total"]["available"].as_i64(), codes(&zhejiang)),
        (Some(6), vec!["A-1".to_owned(), "D-1".to_owned(), "T-1".to_owned()])
    );
    let beijing = ok(get("longitude=116.40&latitude=39.90&radius_km=20").await);
    assert_eq!(codes(&beijing), vec!["D-BJ"]);
    // Two at a time, in code order, the total over all of them on every page.
    let first = ok(get("limit=2").await);
    assert_eq!((codes(&first), first["total"]["available"].as_i64()), (vec!["A-1".to_owned(), "D-1".to_owned()], Some(15)));
    let next = first["next_cursor"].as_str().unwrap();
    let second = ok(get(&format!("limit=2&after={next}")).await);
    assert_eq!(codes(&second), vec!["D-BJ", "T-1"]);
    let last = ok(get(&format!("limit=2&after={}", second["next_cursor"].as_str().unwrap())).await);
    assert_eq!((codes(&last), last["next_cursor"].is_null()), (vec!["WH-S".to_owned()], true));
    for (q, code) in
        [("radius_km=5", "invalid_radius"), ("longitude=116&latitude=39&radius_km=900", "invalid_radius"), ("limit=0", "invalid_limit")]
    {
        let (s, p) = get(q).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some(code)), "{q}");
    }
    let (s, p) = get("division_code=999999").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("division_not_found")));
}

tongjia_storage::backend_tests!(
    stores_stand_only_in_real_divisions,
    coverage_on_any_date_matches_a_recount_of_the_store_list,
    the_locator_finds_the_nearest_open_stores_with_stock,
    the_network_is_read_from_memory_and_every_server_sees_a_change,
    availability_across_the_network_is_filtered_and_paged,
);
