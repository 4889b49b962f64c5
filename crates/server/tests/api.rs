//! End-to-end tests of the HTTP API against a real server and a temporary database.

mod common;

use common::{ok, read, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tongjia_storage::Backend;

async fn health_openapi_and_docs_are_served(backend: Backend) {
    let app = spawn_app(backend).await;
    assert_eq!(ok(app.get("/health").await)["status"], "ok");
    assert_eq!(ok(app.get("/health/live").await)["status"], "ok");
    assert_eq!(ok(app.get("/health/ready").await)["status"], "ok");
    let doc = ok(app.get("/api/v1/openapi.json").await);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    for path in ["/api/v1/skus", "/api/v1/skus/{sku_code}/quote", "/api/v1/reservations", "/api/v1/stock/receipts"] {
        assert!(doc["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
    let docs = app.client.get(app.url("/api/v1/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

async fn quote_is_the_same_for_every_channel_and_store(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let online = ok(app.get("/api/v1/skus/NOTE13-BLK/quote?channel=online").await);
    assert_eq!(online["unit_price_fen"], 139900);
    assert_eq!(online["price_version"], 1);
    for store in ["D-1", "A-1", "T-1"] {
        let q = ok(app.get(&format!("/api/v1/skus/NOTE13-BLK/quote?store_code={store}")).await);
        assert_eq!(q["channel"], format!("store:{store}"));
        assert_eq!((&q["unit_price_fen"], &q["price_version"]), (&online["unit_price_fen"], &online["price_version"]));
    }
    let member = ok(app.get("/api/v1/skus/NOTE13-BLK/quote?store_code=T-1&member=true").await);
    assert_eq!(member["unit_price_fen"], 132900);
    let (status, p) = app.get("/api/v1/skus/NOTE13-BLK/quote?store_code=WH-S").await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("store_not_found")));
}

async fn a_scheduled_price_reaches_every_channel_at_its_effective_time(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let at = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(2)).unwrap();
    let v2 = ok(app
        .post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129900, "effective_at": at.to_string(), "note": "Double 12"}))
        .await);
    assert_eq!(v2["price_version"], 2);
    let before = at.checked_sub(jiff::SignedDuration::from_secs(1)).unwrap();
    for channel in ["channel=online", "store_code=D-1", "store_code=T-1"] {
        let q = ok(app.get(&format!("/api/v1/skus/NOTE13-BLK/quote?{channel}&at={before}")).await);
        assert_eq!((q["unit_price_fen"].as_i64(), q["price_version"].as_i64()), (Some(139900), Some(1)), "{channel} before");
        let q = ok(app.get(&format!("/api/v1/skus/NOTE13-BLK/quote?{channel}&at={at}")).await);
        assert_eq!((q["unit_price_fen"].as_i64(), q["price_version"].as_i64()), (Some(129900), Some(2)), "{channel} at");
    }
    let history = ok(app.get("/api/v1/skus/NOTE13-BLK/prices").await);
    assert_eq!(history["items"].as_array().unwrap().len(), 2, "versions are kept, never overwritten");
    let events = ok(app.get("/api/v1/events?event_type=price.scheduled").await);
    assert_eq!(events["items"].as_array().unwrap().len(), 2);
}

async fn a_channel_or_store_price_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    for extra in [json!({"store_code": "T-1"}), json!({"channel": "online"}), json!({"location_code": "D-1"})] {
        let mut body = json!({"list_price_fen": 99900});
        body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let (status, p) = app.post("/api/v1/skus/NOTE13-BLK/prices", body).await;
        assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("price_is_channel_blind")));
    }
    let (status, p) = app.post("/api/v1/stores/T-1/prices", json!({"sku_code": "NOTE13-BLK", "list_price_fen": 99900})).await;
    assert_eq!((status, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("price_is_channel_blind")));
    let history = ok(app.get("/api/v1/skus/NOTE13-BLK/prices").await);
    assert_eq!(history["items"].as_array().unwrap().len(), 1);
}

async fn problem(res: reqwest::Response) -> (StatusCode, Value) {
    let ct = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let (status, body) = read(res).await;
    assert_eq!(body["status"].as_u64(), Some(status.as_u16() as u64), "{body}");
    assert!(body["code"].is_string() && body["type"].is_string() && body["detail"].is_string(), "{body}");
    (status, body)
}

async fn bad_input_gets_problem_json_and_writes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let post_raw = |path: &'static str, body: &'static str| {
        app.client.post(app.url(path)).header("content-type", "application/json").body(body).send()
    };

    let (s, p) = problem(post_raw("/api/v1/skus", "{\"sku_code\": ").await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));

    let sku = |gtin: &str| json!({"sku_code": "X-1", "product_code": "NOTE13", "name": "X", "gtin": gtin});
    let (s, p) = problem(app.client.post(app.url("/api/v1/skus")).json(&sku("6901234567893")).send().await.unwrap()).await;
    assert_eq!(
        (s, p["code"].as_str(), p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_gtin_check_digit"), Some("gtin"))
    );

    let receipt = |sku: &str, q: i64| json!({"location_code": "D-1", "sku_code": sku, "quantity": q});
    let (s, p) = problem(app.client.post(app.url("/api/v1/stock/receipts")).json(&receipt("NOTE13-BLK", -5)).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("quantity_not_positive")));
    let (s, p) = problem(app.client.post(app.url("/api/v1/stock/receipts")).json(&receipt("NOPE", 5)).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("sku_not_found")));
    let (s, p) = problem(app.client.get(app.url("/api/v1/skus/NOPE/quote")).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("sku_not_found")));

    let (s, p) = problem(
        app.client
            .post(app.url("/api/v1/stock/receipts"))
            .json(&json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": "five"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str(), p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_field"), Some("quantity"))
    );
    let (s, p) = problem(
        app.client
            .post(app.url("/api/v1/stock/receipts"))
            .json(&json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 1, "colour": "red"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_field")));

    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(100_000));
    let (s, p) =
        problem(app.client.post(app.url("/api/v1/products")).header("content-type", "application/json").body(big).send().await.unwrap())
            .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::PAYLOAD_TOO_LARGE, Some("body_too_large")));

    let (s, p) =
        problem(app.client.post(app.url("/api/v1/products")).header("content-type", "text/plain").body("hi").send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("unsupported_media_type")));

    let (s, p) = problem(app.client.get(app.url("/api/v1/skus?limit=100000")).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_limit")));
    let (s, _) = problem(app.client.get(app.url("/api/v1/nowhere")).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let (s, p) = problem(app.client.get(app.url("/api/v1/skus/%FF/quote")).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("bad_request")), "framework rejections are problems too");
    let (s, _) = problem(app.client.delete(app.url("/api/v1/skus")).send().await.unwrap()).await;
    assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED);
    let (s, p) = problem(
        app.client
            .post(app.url("/api/v1/stock/receipts"))
            .header("Idempotency-Key", "ключ")
            .json(&receipt("NOTE13-BLK", 1))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_idempotency_key")));

    let (s, p) = problem(
        app.client
            .post(app.url("/api/v1/stock/adjustments"))
            .json(&json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "delta": i64::MIN, "reason": "x"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_delta")));
    let (s, p) = problem(app.client.get(app.url(&format!("/api/v1/skus?q={}", "A".repeat(5000)))).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_query")));
    let (_, p) = problem(app.client.get(app.url(&format!("/api/v1/orders/{}", "A".repeat(5000)))).send().await.unwrap()).await;
    assert!(p["detail"].as_str().unwrap().chars().count() <= 201, "a problem's detail does not echo 5,000 characters: {p}");
    assert_eq!(ok(app.get("/api/v1/skus?q=%25").await)["items"].as_array().unwrap().len(), 0, "a % in the search matches itself");
    let back = jiff::Timestamp::now().checked_sub(jiff::SignedDuration::from_secs(20)).unwrap();
    let (s, p) = problem(
        app.client
            .post(app.url("/api/v1/skus/NOTE13-BLK/prices"))
            .json(&json!({"list_price_fen": 100, "effective_at": back.to_string()}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("price_effective_in_past")));

    let (s, p) = problem(post_raw("/api/v1/skus/NOTE13-BLK/prices", "[12300, null]").await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("body_not_object")));
    let (s, p) = problem(post_raw("/api/v1/stock/receipts", "{\"foo\":").await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::BAD_REQUEST, Some("malformed_json")));
    let (s, p) = problem(post_raw("/api/v1/stock/receipts", "{}").await.unwrap()).await;
    assert_eq!(
        (s, p["code"].as_str(), p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("missing_field"), Some("location_code"))
    );
    let (s, p) = problem(app.client.get(app.url("/api/v1/stock/entries?after=4142")).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_cursor")));

    // Nothing above wrote anything: one SKU, no stock, no entries.
    assert_eq!(ok(app.get("/api/v1/skus").await)["items"].as_array().unwrap().len(), 1);
    assert_eq!(ok(app.get("/api/v1/stock/entries").await)["items"].as_array().unwrap().len(), 0);
}

async fn an_idempotency_key_applies_once_and_refuses_another_body(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let body = json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 10});
    let first = app.post_with_key("/api/v1/stock/receipts", "rcpt-1", body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    let again = app.post_with_key("/api/v1/stock/receipts", "rcpt-1", body.clone()).await;
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(again.text().await.unwrap(), first);
    let stock = ok(app.get("/api/v1/stock?location_code=D-1").await);
    assert_eq!(stock["items"][0]["on_hand"], 10, "the receipt applied once");

    // The same request with its keys in another order is the same request.
    let reordered = app
        .client
        .post(app.url("/api/v1/stock/receipts"))
        .header("Idempotency-Key", "rcpt-1")
        .header("content-type", "application/json")
        .body(r#"{"quantity": 10, "sku_code": "NOTE13-BLK", "location_code": "D-1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reordered.headers().get("idempotent-replayed").unwrap(), "true");
    let other = app
        .post_with_key("/api/v1/stock/receipts", "rcpt-1", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 11}))
        .await;
    let (s, p) = problem(other).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")));

    // A refusal had no effect, so it does not occupy its key: the retry is decided afresh
    // (here: stock has arrived), and another request may take the key.
    let sale = json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 50});
    let (s, _) = problem(app.post_with_key("/api/v1/stock/sales", "sale-1", sale.clone()).await).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 100})).await);
    let sold = app.post_with_key("/api/v1/stock/sales", "sale-1", sale.clone()).await;
    assert_eq!(sold.status(), StatusCode::CREATED);
    let (s, _) = problem(
        app.post_with_key(
            "/api/v1/orders",
            "web-1001",
            json!({"fulfilment": "delivery",
        "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NO-SUCH", "quantity": 1}]}),
        )
        .await,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let squatted = app
        .post_with_key("/api/v1/stock/sales", "web-1001", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 1}))
        .await;
    assert_eq!(squatted.status(), StatusCode::CREATED, "a refused request left its key free");

    // Concurrent repeats of one keyed request apply once.
    let body = json!({"location_code": "A-1", "sku_code": "NOTE13-BLK", "quantity": 3});
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request = app.client.post(app.url("/api/v1/stock/receipts")).header("Idempotency-Key", "rcpt-burst").json(&body);
            async move { request.send().await.expect("request") }
        })
        .collect();
    for res in futures_join(tasks).await {
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    assert_eq!(ok(app.get("/api/v1/stock?location_code=A-1").await)["items"][0]["on_hand"], 3);
}

/// Holds the database's write lock from a connection of the test's own, as a long write of
/// another process would: PostgreSQL's schema lock, or SQLite's `BEGIN IMMEDIATE`.
async fn hold_the_write_lock(backend: Backend, url: &str) -> sqlx::AnyConnection {
    use sqlx::{Connection, Executor};
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    match backend {
        Backend::Postgres => {
            conn.execute("BEGIN").await.unwrap();
            conn.execute("SELECT 1 FROM pg_advisory_xact_lock(hashtext(current_schema()))").await.unwrap();
        }
        Backend::Sqlite => {
            conn.execute("BEGIN IMMEDIATE").await.unwrap();
        }
    }
    conn
}

/// A repeat of a keyed request that is still running waits for it and replays its answer;
/// past the wait it gets 409 `idempotency_key_in_flight` (and nothing applies twice).
async fn a_repeat_of_a_running_request_waits_for_it_or_is_told_it_is_in_flight(backend: Backend) {
    use sqlx::Executor;
    let settings = tongjia_server::Settings {
        sweep_interval: std::time::Duration::from_secs(3600),
        key_wait: std::time::Duration::from_millis(300),
        ..Default::default()
    };
    let app = spawn_app_with(backend, settings).await;
    app.seed_basics().await;
    let body = json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 7});
    let send = || app.client.post(app.url("/api/v1/stock/receipts")).header("Idempotency-Key", "slow-1").json(&body).send();

    let mut lock = hold_the_write_lock(backend, app.db_url()).await;
    let first = tokio::spawn(send());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let (status, problem_body) = problem(send().await.unwrap()).await;
    assert_eq!((status, problem_body["code"].as_str()), (StatusCode::CONFLICT, Some("idempotency_key_in_flight")), "{problem_body}");

    // Sent now and released within its wait: it waits for the first and replays its answer.
    let waiting = tokio::spawn(send());
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    lock.execute("ROLLBACK").await.unwrap();
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = first.text().await.unwrap();
    let waiting = waiting.await.unwrap().unwrap();
    assert_eq!(waiting.status(), StatusCode::CREATED);
    assert_eq!(waiting.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(waiting.text().await.unwrap(), first);
    assert_eq!(ok(app.get("/api/v1/stock?location_code=D-1").await)["items"][0]["on_hand"], 7, "applied once");
}

async fn futures_join<F: std::future::Future + Send + 'static>(fs: Vec<F>) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = fs.into_iter().map(tokio::spawn).collect();
    let mut out = vec![];
    for h in handles {
        out.push(h.await.expect("task"));
    }
    out
}

async fn reservations_commit_release_and_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "WH-S", "sku_code": "NOTE13-BLK", "quantity": 10})).await);
    let res = app
        .client
        .put(app.url("/api/v1/stock/safety-stock"))
        .json(&json!({"location_code": "WH-S", "sku_code": "NOTE13-BLK", "quantity": 2}))
        .send()
        .await
        .unwrap();
    ok(read(res).await);
    let reserve = |q: i64, ttl: i64| json!({"location_code": "WH-S", "sku_code": "NOTE13-BLK", "quantity": q, "ttl_seconds": ttl});
    let (s, p) = app.post("/api/v1/reservations", reserve(9, 60)).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_stock")), "safety stock is kept back");
    let a = ok(app.post("/api/v1/reservations", reserve(3, 60)).await);
    let b = ok(app.post("/api/v1/reservations", reserve(2, 60)).await);
    let c = ok(app.post("/api/v1/reservations", reserve(1, 1)).await);
    let avail = ok(app.get("/api/v1/skus/NOTE13-BLK/availability").await);
    assert_eq!(avail["total"]["available"], 2);
    let active = ok(app.get("/api/v1/reservations?status=active&location_code=WH-S").await);
    assert_eq!(active["items"].as_array().unwrap().len(), 3);

    let id = |r: &Value| r["reservation"]["reservation_id"].as_str().unwrap().to_owned();
    let committed = ok(app.post(&format!("/api/v1/reservations/{}/commit", id(&a)), json!({"reference": "ORDER-1"})).await);
    assert_eq!(committed["balances"][0]["on_hand"], 7);
    let (s, p) = app.post(&format!("/api/v1/reservations/{}/commit", id(&a)), json!({})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("reservation_not_active")));
    ok(app.post(&format!("/api/v1/reservations/{}/release", id(&b)), json!({})).await);

    let later = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(5)).unwrap();
    assert_eq!(tongjia_server::sweep_expired(&app.db, &Default::default(), later).await.unwrap(), 1);
    assert_eq!(ok(app.get(&format!("/api/v1/reservations/{}", id(&c))).await)["status"], "expired");
    let balance = &ok(app.get("/api/v1/stock?location_code=WH-S").await)["items"][0];
    assert_eq!((balance["on_hand"].as_i64(), balance["reserved"].as_i64()), (Some(7), Some(0)));
    let (s, _) = app.get("/api/v1/reservations/not-a-uuid").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(app.db.audit_ledger().await.unwrap().is_empty());
}

async fn two_hundred_buyers_for_the_last_fifty_units_exactly_fifty_win(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "WH-S", "sku_code": "NOTE13-BLK", "quantity": 50})).await);
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let client = app.client.clone();
            let url = app.url("/api/v1/reservations");
            async move {
                client
                    .post(url)
                    .header("Idempotency-Key", format!("buyer-{i}"))
                    .json(&json!({"location_code": "WH-S", "sku_code": "NOTE13-BLK", "quantity": 1}))
                    .send()
                    .await
                    .expect("request")
                    .status()
            }
        })
        .collect();
    let statuses = futures_join(tasks).await;
    let won = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let refused = statuses.iter().filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY).count();
    assert_eq!((won, refused), (50, 150), "{statuses:?}");
    let balance = &ok(app.get("/api/v1/stock?location_code=WH-S").await)["items"][0];
    assert_eq!((balance["on_hand"].as_i64(), balance["reserved"].as_i64()), (Some(50), Some(50)));
    assert!(app.db.audit_ledger().await.unwrap().is_empty());
}

async fn consignment_transfers_and_counts_keep_owners_apart(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    ok(app
        .post(
            "/api/v1/stock/receipts",
            json!({"location_code": "T-1", "sku_code": "NOTE13-BLK", "owner": "brand", "quantity": 4, "reference": "consignment"}),
        )
        .await);
    ok(app
        .post("/api/v1/stock/receipts", json!({"location_code": "T-1", "sku_code": "NOTE13-BLK", "owner": "partner:P-ZJ", "quantity": 2}))
        .await);
    let (s, p) = app
        .post("/api/v1/stock/sales", json!({"location_code": "T-1", "sku_code": "NOTE13-BLK", "owner": "partner:P-ZJ", "quantity": 3}))
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_stock")));
    let (s, p) = app
        .post("/api/v1/stock/receipts", json!({"location_code": "T-1", "sku_code": "NOTE13-BLK", "owner": "partner:NOBODY", "quantity": 2}))
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_partner")));
    let (s, p) = app
        .post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "owner": "partner:P-ZJ", "quantity": 2}))
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("owner_not_at_location")),
        "a partner's stock arrives at its own stores"
    );

    let t = ok(app
        .post(
            "/api/v1/stock/transfers",
            json!({"from_location_code": "T-1", "to_location_code": "A-1", "sku_code": "NOTE13-BLK", "quantity": 3}),
        )
        .await);
    let tid = t["transfer"]["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(ok(app.get(&format!("/api/v1/stock/transfers/{tid}")).await)["status"], "in_transit");
    let on_the_road = ok(app.get("/api/v1/stock/transfers?status=in_transit&location_code=A-1").await);
    assert_eq!(on_the_road["items"][0]["transfer_id"].as_str(), Some(tid.as_str()));
    ok(app.post(&format!("/api/v1/stock/transfers/{tid}/receipt"), json!({})).await);
    let (s, p) = app.post(&format!("/api/v1/stock/transfers/{tid}/receipt"), json!({})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("transfer_already_received")));

    let counted = ok(app.post("/api/v1/stock/counts", json!({"location_code": "A-1", "sku_code": "NOTE13-BLK", "counted": 2})).await);
    assert_eq!(counted["entries"][0]["on_hand_delta"], -1);
    let brand = ok(app.get("/api/v1/stock?sku_code=NOTE13-BLK&owner=brand").await);
    let by_location: Vec<(String, i64)> = brand["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["location_code"].as_str().unwrap().to_owned(), i["on_hand"].as_i64().unwrap()))
        .collect();
    assert_eq!(by_location, vec![("A-1".to_owned(), 2), ("T-1".to_owned(), 1)]);
    assert!(app.db.audit_ledger().await.unwrap().is_empty());
}

async fn lists_page_with_an_opaque_cursor_and_filter(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let mut seen = vec![];
    let mut path = "/api/v1/stores?limit=2".to_owned();
    loop {
        let page = ok(app.get(&path).await);
        seen.extend(page["items"].as_array().unwrap().iter().map(|s| s["location_code"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/stores?limit=2&after={c}"),
            None => break,
        }
    }
    assert_eq!(seen, vec!["A-1", "D-1", "T-1"]);

    // Balances page in (location, SKU, owner) order, even when one code prefixes another.
    let store =
        json!({"store_code": "D-1X", "name": "Prefix", "kind": "direct", "county_code": "330106", "longitude": 120.1, "latitude": 30.2});
    ok(app.post("/api/v1/stores", store).await);
    for (l, o) in [("D-1X", "brand"), ("D-1", "brand"), ("T-1", "partner:P-ZJ"), ("T-1", "brand")] {
        ok(app.post("/api/v1/stock/receipts", json!({"location_code": l, "sku_code": "NOTE13-BLK", "owner": o, "quantity": 1})).await);
    }
    let mut balances = vec![];
    let mut path = "/api/v1/stock?limit=1".to_owned();
    loop {
        let page = ok(app.get(&path).await);
        balances.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| format!("{}/{}", b["location_code"].as_str().unwrap(), b["owner"].as_str().unwrap())),
        );
        match page["next_cursor"].as_str() {
            Some(c) => path = format!("/api/v1/stock?limit=1&after={c}"),
            None => break,
        }
    }
    assert_eq!(balances, vec!["D-1/brand", "D-1X/brand", "T-1/brand", "T-1/partner:P-ZJ"]);

    let zj = ok(app.get("/api/v1/stores?division=33&kind=township_authorized").await);
    assert_eq!(zj["items"].as_array().unwrap().len(), 1);
    let counts = ok(app.get("/api/v1/stores/counts?division=330782").await);
    assert_eq!(counts["total"], 2);
    let (s, p) = app.get("/api/v1/stores?after=zz").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_cursor")));
    let res = app.client.patch(app.url("/api/v1/skus/NOTE13-BLK")).json(&json!({"active": false})).send().await.unwrap();
    let patched = ok(read(res).await);
    assert_eq!(patched["active"], false);
    assert_eq!(ok(app.get("/api/v1/skus?active=true").await)["items"].as_array().unwrap().len(), 0);
}

/// Reads a server-sent event stream until `needle` appears.
async fn read_stream_until(res: &mut reqwest::Response, needle: &str) -> String {
    common::read_stream_while(res, &format!("{needle:?}"), |text| text.contains(needle)).await
}

async fn price_changes_stream_to_subscribers_and_resume_after_last_event_id(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let mut res = app.client.get(app.url("/api/v1/events/stream?event_type=price.scheduled")).send().await.unwrap();
    assert_eq!(res.headers().get("content-type").unwrap(), "text/event-stream");
    let text = read_stream_until(&mut res, "\"price_version\":1").await;
    assert!(text.starts_with("retry: 1000\n: open\n\n"), "the opening frame first: {text}");
    let first = text.split("\n\n").find(|block| block.contains("event: price.scheduled")).unwrap().to_owned();
    assert!(first.contains("event: price.scheduled") && first.contains("\"price_version\":1"), "{first}");
    let seq: i64 = first.lines().find_map(|l| l.strip_prefix("id: ")).unwrap().trim().parse().unwrap();

    let mut res = app
        .client
        .get(app.url("/api/v1/events/stream?event_type=price.scheduled"))
        .header("Last-Event-ID", seq.to_string())
        .send()
        .await
        .unwrap();
    ok(app.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129900})).await);
    let next = read_stream_until(&mut res, "\"price_version\":2").await;
    // A subscriber that is already caught up gets its response head at once, not with the
    // first keep-alive 15 s later.
    let caught_up = tokio::time::timeout(
        std::time::Duration::from_secs(3),
        app.client.get(app.url("/api/v1/events/stream")).header("Last-Event-ID", "999999").send(),
    )
    .await
    .expect("response head at once")
    .unwrap();
    assert_eq!(caught_up.status(), StatusCode::OK);
    assert!(!next.contains("\"price_version\":1"), "resumed after the last event seen: {next}");

    let res = app.client.get(app.url("/api/v1/events/stream")).header("Last-Event-ID", "abc").send().await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}

async fn a_tills_stream_carries_its_stores_events_and_every_price_change(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let stores = vec![tongjia_domain::codes::LocationCode::parse("T-1").unwrap()];
    let binding = tongjia_domain::access::Binding::new(tongjia_domain::access::Role::StoreStaff, stores, None).unwrap();
    let till = tongjia_server::auth::bootstrap_token(&app.db, "till-t1", binding, "t").await.unwrap();
    let mut res = reqwest::Client::new().get(app.url("/api/v1/events/stream")).bearer_auth(&till).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 3})).await);
    ok(app.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129900})).await);
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "T-1", "sku_code": "NOTE13-BLK", "quantity": 2})).await);
    let text = read_stream_until(&mut res, "\"subject\":\"T-1/NOTE13-BLK\"").await;
    assert!(text.contains("\"price_version\":2"), "every price change: {text}");
    assert!(!text.contains("D-1/NOTE13-BLK"), "not another store's stock: {text}");
    let no_one = reqwest::Client::new().get(app.url("/api/v1/events/stream")).send().await.unwrap();
    assert_eq!(no_one.status(), StatusCode::UNAUTHORIZED, "a stream needs a token");
    // Disabled (or revoked), the open stream sends nothing more and ends.
    let disabled = app.client.patch(app.url("/api/v1/accounts/till-t1")).json(&json!({"disabled": true})).send().await.unwrap();
    assert!(disabled.status().is_success(), "{}", disabled.status());
    tokio::time::sleep(std::time::Duration::from_millis(5_200)).await;
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "T-1", "sku_code": "NOTE13-BLK", "quantity": 7})).await);
    let mut after = String::new();
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Ok(Some(chunk)) = res.chunk().await {
            after.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(ended.is_ok(), "the stream ends");
    assert!(!after.contains("\"on_hand_delta\":7"), "nothing after the account was disabled: {after}");
}

async fn one_caller_holds_only_so_many_event_streams(backend: Backend) {
    let settings =
        tongjia_server::Settings { sweep_interval: std::time::Duration::from_secs(3600), streams_per_principal: 2, ..Default::default() };
    let app = spawn_app_with(backend, settings).await;
    let open = |app: &common::TestApp| app.client.get(app.url("/api/v1/events/stream")).send();
    let (a, b) = (open(&app).await.unwrap(), open(&app).await.unwrap());
    assert_eq!((a.status(), b.status()), (StatusCode::OK, StatusCode::OK));
    let (s, p) = read(open(&app).await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_streams")));
}

async fn metrics_can_be_served_on_an_address_of_their_own(backend: Backend) {
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let settings =
        tongjia_server::Settings { sweep_interval: std::time::Duration::from_secs(3600), metrics_listen: Some(free), ..Default::default() };
    let app = spawn_app_with(backend, settings).await;
    assert_eq!(app.get("/metrics").await.0, StatusCode::NOT_FOUND, "not on the API's address");
    let mut scraped = None;
    for _ in 0..50 {
        if let Ok(res) = reqwest::get(format!("http://{free}/metrics")).await {
            scraped = Some(res);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let res = scraped.expect("the metrics address answers");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("tongjia_http_requests_total"));
    assert_eq!(reqwest::get(format!("http://{free}/api/v1/skus")).await.unwrap().status(), StatusCode::NOT_FOUND, "only /metrics there");
}

async fn metrics_count_requests_by_route_and_report_holds_streams_and_outbox(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 5})).await);
    let held =
        app.post_with_key("/api/v1/reservations", "m-1", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 2})).await;
    assert_eq!(held.status(), StatusCode::CREATED);
    assert_eq!(app.get("/api/v1/nope").await.0, StatusCode::NOT_FOUND);
    let odd = reqwest::Method::from_bytes(b"BREW").unwrap();
    assert!(app.client.request(odd, app.url("/health")).send().await.unwrap().status().is_client_error());
    let mut stream = app.client.get(app.url("/api/v1/events/stream?event_type=stock.reserved")).send().await.unwrap();
    read_stream_until(&mut stream, "stock.reserved").await;

    let res = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/openmetrics-text"));
    let text = res.text().await.unwrap();
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("no {series} in\n{text}"))
            .parse()
            .unwrap()
    };
    assert_eq!(value(r#"tongjia_http_requests_total{method="POST",route="/api/v1/reservations",status="201"}"#), 1.0);
    assert_eq!(value(r#"tongjia_http_requests_total{method="GET",route="unmatched",status="404"}"#), 1.0);
    assert!(!text.contains("BREW"), "invented methods are counted as other");
    assert_eq!(value(r#"tongjia_http_request_duration_seconds_count{method="POST",route="/api/v1/stores"}"#), 3.0);
    assert_eq!(value("tongjia_reservations_active"), 1.0);
    assert_eq!(value("tongjia_reserved_units"), 2.0);
    let head = app.db.outbox_head().await.unwrap();
    assert!(head > 5);
    assert_eq!(value("tongjia_outbox_head_seq"), head as f64);
    // The stream has read everything (it waits for more): one stream open, no lag.
    assert_eq!(value("tongjia_event_streams_open"), 1.0);
    assert_eq!(value("tongjia_outbox_lag_events"), 0.0);
    assert!(value("tongjia_db_connections") >= 1.0);
    // Every write so far was committed by this server's writer, in one group or more.
    let done = app.db.group_commits();
    assert!(done.writes >= 5 && done.groups >= 1 && done.groups <= done.writes, "{done:?}");
    assert_eq!(value("tongjia_db_writes_total"), done.writes as f64);
    assert_eq!(value("tongjia_db_write_groups_total"), done.groups as f64);
}

async fn nul_and_control_characters_are_refused_everywhere_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let (status, body) = app.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129900, "note": "x\u{0}y"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_text")), "{body}");
    let (status, body) = app.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129900, "note": "tab\there"})).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_text")), "{body}");
    let (status, body) = app.post("/api/v1/partners", json!({"partner_code": "P-X", "name": "ok", "extra\u{0}": 1})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for path in ["/api/v1/skus?q=%00", "/api/v1/stock?location_code=D-1%00", "/api/v1/orders?status=%07"] {
        let (status, body) = app.get(path).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_query")), "{path}: {body}");
    }
    assert_eq!(app.get("/api/v1/skus/NOTE13-BLK/prices").await.1["items"].as_array().unwrap().len(), 1, "nothing written");
}

tongjia_storage::backend_tests!(
    health_openapi_and_docs_are_served,
    quote_is_the_same_for_every_channel_and_store,
    a_scheduled_price_reaches_every_channel_at_its_effective_time,
    a_channel_or_store_price_is_refused,
    bad_input_gets_problem_json_and_writes_nothing,
    an_idempotency_key_applies_once_and_refuses_another_body,
    a_repeat_of_a_running_request_waits_for_it_or_is_told_it_is_in_flight,
    reservations_commit_release_and_expire,
    two_hundred_buyers_for_the_last_fifty_units_exactly_fifty_win,
    consignment_transfers_and_counts_keep_owners_apart,
    lists_page_with_an_opaque_cursor_and_filter,
    price_changes_stream_to_subscribers_and_resume_after_last_event_id,
    metrics_count_requests_by_route_and_report_holds_streams_and_outbox,
    a_tills_stream_carries_its_stores_events_and_every_price_change,
    metrics_can_be_served_on_an_address_of_their_own,
    one_caller_holds_only_so_many_event_streams,
    nul_and_control_characters_are_refused_everywhere_alike,
);
