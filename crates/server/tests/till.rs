//! The store till over HTTP, as the browser's page drives it: sign in at `/login`, scan
//! barcodes into a cart priced by the price book, sell in one request, and hear price changes
//! as they take effect. (tests/browser.rs runs the same in headless Chromium.)

mod common;

use common::{CLERK_PASSWORD, TestApp, ok, spawn_app};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tongjia_storage::Backend;

/// A signed-in browser: its cookie, and the CSRF token its pages carry.
struct Browser {
    client: Client,
    csrf: String,
}

/// Signs the store staff `username` (made by `seed_till`) in through the sign-in page.
async fn clerk(app: &TestApp, username: &str, stores: &[&str]) -> Browser {
    let bare = Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = bare
        .post(app.url("/login"))
        .form(&[("username", username), ("password", CLERK_PASSWORD), ("next", &format!("/till/{}", stores[0]))])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    assert_eq!(res.headers()[header::LOCATION], format!("/till/{}", stores[0]));
    let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut headers = header::HeaderMap::new();
    headers.insert(header::COOKIE, cookie.parse().unwrap());
    let client = Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(app.url(&format!("/till/{}", stores[0]))).send().await.unwrap().text().await.unwrap();
    let csrf = regex::Regex::new(r#"X-CSRF-Token&quot;:&quot;([0-9a-f]+)&quot;"#).unwrap().captures(&page).expect(&page)[1].to_owned();
    Browser { client, csrf }
}

impl Browser {
    async fn get(&self, app: &TestApp, path: &str) -> (StatusCode, String) {
        let res = self.client.get(app.url(path)).send().await.unwrap();
        (res.status(), res.text().await.unwrap())
    }
    async fn post(&self, app: &TestApp, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let res = self
            .client
            .post(app.url(path))
            .header("x-csrf-token", &self.csrf)
            .header("hx-request", "true")
            .form(form)
            .send()
            .await
            .unwrap();
        (res.status(), res.text().await.unwrap())
    }
}

/// The cart's hidden lines and sale key, as the page would post them back.
fn sale_form(cart: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    for c in regex::Regex::new(r#"name="(line|idempotency_key)" value="([^"]+)""#).unwrap().captures_iter(cart) {
        out.push((c[1].to_owned(), c[2].to_owned()));
    }
    out
}

async fn a_clerk_scans_three_items_and_sells_them_in_one_more_request(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let b = clerk(&app, "clerk", &["D-1"]).await;
    // The API finds a SKU by its barcode.
    let (_, found) = app.get("/api/v1/skus?gtin=6901234567892").await;
    assert_eq!(found["items"][0]["sku_code"], "NOTE13-BLK");
    let (s, bad) = app.get("/api/v1/skus?gtin=6901234567890").await;
    assert_eq!((s, bad["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_gtin_check_digit")));
    // Three scans: each returns the whole cart, priced by the price book.
    let (s, cart) = b.get(&app, "/till/D-1/cart?add=6901234567892").await;
    assert_eq!(s, StatusCode::OK, "{cart}");
    assert!(cart.contains("¥1,399.00") && cart.contains("v1") && cart.contains(r#"value="NOTE13-BLK*1""#), "{cart}");
    let (_, cart) = b.get(&app, "/till/D-1/cart?line=NOTE13-BLK*1&add=6901234567823").await;
    let (_, cart) =
        b.get(&app, &format!("/till/D-1/cart?{}", serde_urlencoded::to_string(sale_form(&cart)).unwrap() + "&add=6901234567823")).await;
    assert!(cart.contains(r#"value="CASE-1*2""#) && cart.contains("¥1,597.00"), "two cases and a phone: {cart}");
    assert!(!cart.contains("name=\"price") && !cart.contains("unit_price"), "no field for a price");
    // The sale: one request, placing and paying the order; the receipt comes back.
    let mut form = sale_form(&cart);
    form.push(("method".into(), "cash".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, receipt) = b.post(&app, "/till/D-1/sale", &form).await;
    assert_eq!(s, StatusCode::OK, "{receipt}");
    assert!(receipt.contains("id=\"receipt\"") && receipt.contains("¥1,597.00") && receipt.contains("<svg"), "{receipt}");
    assert!(receipt.contains("/p/NOTE13-BLK") || receipt.contains("<svg"), "a QR code per line");
    let order_id = regex::Regex::new(r#"data-order="([0-9a-f-]+)""#).unwrap().captures(&receipt).unwrap()[1].to_owned();
    let (_, order) = app.get(&format!("/api/v1/orders/{order_id}")).await;
    assert_eq!(
        (order["status"].as_str(), order["fulfilment"].as_str(), order["total_fen"].as_i64()),
        (Some("completed"), Some("carry_out"), Some(159_700))
    );
    assert_eq!(order["payments"][0]["method"], "cash");
    // The same form again (a double click): the same receipt, no second order.
    let (s, again) = b.post(&app, "/till/D-1/sale", &form).await;
    assert_eq!(s, StatusCode::OK);
    assert!(again.contains(&order_id));
    let (_, orders) = app.get("/api/v1/orders?store_code=D-1").await;
    assert_eq!(orders["items"].as_array().unwrap().len(), 1);
    let (_, stock) = app.get("/api/v1/stock?location_code=D-1&sku_code=CASE-1").await;
    assert_eq!(stock["items"][0]["on_hand"], 8);
}

async fn a_forged_sale_cannot_set_a_price_and_a_sale_needs_the_pages_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let b = clerk(&app, "clerk", &["D-1"]).await;
    let (s, refused) = b.post(&app, "/till/D-1/sale", &[("line", "NOTE13-BLK*1"), ("unit_price_fen", "1"), ("method", "cash")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused.contains("prices come from the price book") && !refused.contains("\"code\""), "{refused}");
    let (s, _) = b.post(&app, "/till/D-1/sale", &[("line", "NOTE13-BLK*1"), ("price", "1")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = b.post(&app, "/till/D-1/sale", &[("line", "NOTE13-BLK*999"), ("line", "NOTE13-BLK*999"), ("method", "cash")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "lines adding up past a line's most");
    let (s, _) = b.post(&app, "/till/D-1/sale", &[("line", "NOTE13-BLK*1"), ("method", "cash"), ("method", "card")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a field given twice");
    // More than the store has: refused, and the cart comes back as it was, to fix.
    let (s, kept) = b.post(&app, "/till/D-1/sale", &[("line", "NOTE13-BLK*50"), ("line", "CASE-1*1"), ("method", "cash")]).await;
    assert!(s.is_client_error(), "{s}");
    assert!(kept.contains("insufficient_stock") && kept.contains("NOTE13-BLK*50") && kept.contains("CASE-1*1"), "{kept}");
    // A payment the till may not take: refused before anything is placed.
    let (s, _) = b.post(&app, "/till/D-1/sale", &[("line", "NOTE13-BLK*1"), ("method", "online")]).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Without the token (a post from another site): refused before anything happens.
    let res = b.client.post(app.url("/till/D-1/sale")).form(&[("line", "NOTE13-BLK*1"), ("method", "cash")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, orders) = app.get("/api/v1/orders?store_code=D-1").await;
    assert!(orders["items"].as_array().unwrap().is_empty(), "nothing was sold");
    // The till of another store, and the till without signing in.
    let (s, page) = b.get(&app, "/till/A-1").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(page.contains("<html") && !page.contains("\"status\""), "a page: {page}");
    let res =
        Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().get(app.url("/till/D-1")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/login?next=%2Ftill%2FD-1");
    // A scan of nothing known, and a wrong password, say so in the page.
    let (s, cart) = b.get(&app, "/till/D-1/cart?add=no-such-thing").await;
    assert!(s.is_success() && cart.contains("nothing matches no-such-thing"), "{cart}");
    let res = Client::new().post(app.url("/login")).form(&[("username", "clerk"), ("password", "wrong-password")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(res.text().await.unwrap().contains("the username or password is wrong"));
}

/// Reads the till's price stream until `done` holds of what came.
async fn read_until(res: &mut reqwest::Response, done: impl Fn(&str) -> bool) -> String {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done(&seen) {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(chunk))) => seen.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("the stream ended or stalled: {seen}"),
        }
    }
    seen
}

async fn an_open_till_hears_a_price_change_the_moment_it_takes_effect(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let b = clerk(&app, "clerk", &["D-1"]).await;
    let mut stream = b.client.get(app.url("/till/D-1/prices")).send().await.unwrap();
    assert_eq!(stream.status(), StatusCode::OK);
    read_until(&mut stream, |s| s.contains("event: ready")).await;
    let at = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_millis(1500)).unwrap();
    let v: Value = ok(app.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129_900, "effective_at": at.to_string()})).await);
    assert_eq!(v["price_version"], 2);
    // (Versions that took effect as the test seeded may come first.)
    let seen = read_until(&mut stream, |s| s.contains("\"price_version\":2")).await;
    let heard = jiff::Timestamp::now();
    assert!(seen.contains("\"sku_code\":\"NOTE13-BLK\"") && seen.contains("\"price_version\":2"), "{seen}");
    assert!(heard >= at, "not before it takes effect");
    assert!(heard.duration_since(at) < jiff::SignedDuration::from_secs(1), "within a second: {}", heard.duration_since(at));
    // The cart asked for again is priced at the new version.
    let (_, cart) = b.get(&app, "/till/D-1/cart?line=NOTE13-BLK*1").await;
    assert!(cart.contains("¥1,299.00") && cart.contains("v2"), "{cart}");
}

async fn the_till_orders_from_the_endless_aisle_and_shows_where_else_an_item_is(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "A-1", "sku_code": "NOTE13-BLK", "quantity": 2})).await);
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "WH-S", "sku_code": "NOTE13-BLK", "quantity": 9})).await);
    let b = clerk(&app, "clerk", &["D-1"]).await;
    let (s, near) = b.get(&app, "/till/D-1/elsewhere?sku_code=NOTE13-BLK").await;
    assert!(s.is_success() && near.contains("Store A-1") && !near.contains("Store D-1"), "{near}");
    let (_, cart) = b.get(&app, "/till/D-1/cart?add=6901234567892").await;
    let mut form = sale_form(&cart);
    form.push(("fulfilment".into(), "endless_aisle".into()));
    form.push(("county_code".into(), "440112".into()));
    form.push(("method".into(), "cash".into()));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (s, receipt) = b.post(&app, "/till/D-1/sale", &form).await;
    assert_eq!(s, StatusCode::OK, "{receipt}");
    let id = regex::Regex::new(r#"data-order="([0-9a-f-]+)""#).unwrap().captures(&receipt).unwrap()[1].to_owned();
    let (_, order) = app.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!((order["fulfilment"].as_str(), order["status"].as_str()), (Some("endless_aisle"), Some("paid")), "{order}");
    assert_eq!(order["allocations"][0]["location_code"], "WH-S", "sourced by the engine: {}", order["sourcing"]);
}

tongjia_storage::backend_tests!(
    the_till_orders_from_the_endless_aisle_and_shows_where_else_an_item_is,
    a_clerk_scans_three_items_and_sells_them_in_one_more_request,
    a_forged_sale_cannot_set_a_price_and_a_sale_needs_the_pages_csrf_token,
    an_open_till_hears_a_price_change_the_moment_it_takes_effect,
);
