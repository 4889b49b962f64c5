//! The headquarters console over HTTP: the dashboard after a sale, scheduling a price and
//! its history, the coverage map, an order with its ledger entries, the audit trail, and a
//! sheet of shelf labels. (tests/browser.rs opens them in headless Chromium.)

mod common;

use common::{TestApp, spawn_app};
use reqwest::{StatusCode, header};
use serde_json::json;
use tongjia_storage::Backend;

async fn page(app: &TestApp, path: &str) -> (StatusCode, String) {
    let res = app.client.get(app.url(path)).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

/// A carry-out sale at D-1 through the API, paid in cash by the clerk's token.
async fn sale(app: &TestApp) -> String {
    let clerk = tongjia_server::auth::bootstrap_token(
        &app.db,
        "counter",
        tongjia_domain::access::Binding::new(
            tongjia_domain::access::Role::StoreStaff,
            vec![tongjia_domain::codes::LocationCode::parse("D-1").unwrap()],
            None,
        )
        .unwrap(),
        "tests",
    )
    .await
    .unwrap();
    let c = reqwest::Client::new();
    let body = json!({"store_code": "D-1", "fulfilment": "carry_out", "lines": [{"sku_code": "CASE-1", "quantity": 2}]});
    let order: serde_json::Value =
        c.post(app.url("/api/v1/orders")).bearer_auth(&clerk).json(&body).send().await.unwrap().json().await.unwrap();
    let id = order["order_id"].as_str().unwrap().to_owned();
    let pay = json!({"amount_fen": order["total_fen"], "external_reference": "r-1", "method": "cash"});
    let res = c.post(app.url(&format!("/api/v1/orders/{id}/payments"))).bearer_auth(&clerk).json(&pay).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    id
}

async fn the_dashboard_shows_todays_sale_and_the_stock_value(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    sale(&app).await;
    let (s, html) = page(&app, "/console").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(html.contains(r#"data-key="store""#) && html.contains("¥198.00"), "today's sale in store: {html}");
    assert!(html.contains(r#"data-key="direct""#), "by store kind");
    // 5 phones at ¥1,399 and 8 cases at ¥99 left on hand.
    assert!(html.contains(r#"<div class="price" id="stock-value">¥7,787.00</div>"#), "{html}");
    assert!(html.contains(r#"id="sales-chart""#) && html.contains("<rect"), "the 30-day chart");
}

async fn a_price_scheduled_in_the_console_is_in_its_history(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let form = [
        ("sku_code", "NOTE13-BLK"),
        ("list_price", "1,299.00"),
        ("effective_at", "2027-12-12T00:00"),
        ("note", "Double 12"),
        ("idempotency_key", "p-1"),
    ];
    let res = app.client.post(app.url("/console/prices")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK, "(reqwest follows the redirect)");
    let (_, history) = page(&app, "/console/prices/NOTE13-BLK").await;
    assert!(history.contains(r#"data-version="2""#) && history.contains("¥1,299.00") && history.contains("2027-12-12 00:00"), "{history}");
    let (_, versions) = app.get("/api/v1/skus/NOTE13-BLK/prices").await;
    assert_eq!(versions["items"][1]["effective_at"], "2027-12-11T16:00:00Z", "China's midnight");
    // Refusals show on the page: a price with three decimals, a forged field.
    let res =
        app.client.post(app.url("/console/prices")).form(&[("sku_code", "NOTE13-BLK"), ("list_price", "1.234")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("an amount in yuan"));
    let res = app
        .client
        .post(app.url("/console/prices"))
        .form(&[("sku_code", "NOTE13-BLK"), ("list_price", "1"), ("store_code", "D-1")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn the_coverage_map_draws_every_county_and_the_province_outlines(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let (s, html) = page(&app, "/console/map").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains(r#"id="coverage-map""#), "{}", &html[..500]);
    let provinces = html.split(r#"<g id="provinces""#).nth(1).unwrap().split("</g>").next().unwrap().matches("<path").count();
    assert!(provinces >= 34, "{provinces} outlines");
    let counties = html.matches(r#"r="1.7""#).count();
    assert!(counties > 2_800, "every county-level division: {counties}");
    assert!(html.contains(r#"id="gap-list""#) && html.contains(r#"id="plan""#) && html.matches("<title>").count() > 20);
}

async fn an_order_shows_its_ledger_entries_and_every_change_is_in_the_audit_page(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let id = sale(&app).await;
    let (_, list) = page(&app, "/console/orders?status=completed").await;
    assert!(list.contains(&format!("/console/orders/{id}")), "{list}");
    let (_, order) = page(&app, &format!("/console/orders/{id}")).await;
    let entries = order.split(r#"id="entries""#).nth(1).unwrap();
    assert!(entries.contains("reservation") && entries.contains("commit"), "the hold and the sale: {entries}");
    let (s, audit) = page(&app, "/console/audit").await;
    assert_eq!(s, StatusCode::OK);
    assert!(audit.contains("account:counter") && audit.contains("POST /api/v1/orders"), "{audit}");
    let (s, _) = page(&app, "/console/orders/not-an-order").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn shelf_labels_carry_the_price_and_a_qr_code_and_only_headquarters_sees_the_console(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let (_, sheet) = page(&app, "/console/labels?sku_code=NOTE13-BLK&sku_code=CASE-1").await;
    assert_eq!(sheet.matches(r#"class="label""#).count(), 2, "{sheet}");
    assert!(sheet.contains(r#"width="210mm""#) && sheet.contains("¥1,399.00") && sheet.contains("¥99.00") && sheet.contains("v1 ·"));
    let (s, _) = page(&app, "/console/labels?sku_code=NO-SUCH").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A clerk signed in is refused the console, with a page.
    let res = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(app.url("/login"))
        .form(&[("username", "clerk"), ("password", common::CLERK_PASSWORD)])
        .send()
        .await
        .unwrap();
    let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let res = reqwest::Client::new().get(app.url("/console")).header(header::COOKIE, cookie).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains(r#"data-code="forbidden""#));
}

async fn stores_stock_and_a_csv_of_prices(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let (_, stores) = page(&app, "/console/stores?province=33&kind=township_authorized").await;
    assert!(stores.contains("/console/stores/T-1") && !stores.contains("/console/stores/D-1"), "{stores}");
    let (_, store) = page(&app, "/console/stores/D-1").await;
    assert!(store.contains("CASE-1") && store.contains("<li>clerk</li>"), "stock and staff: {store}");
    let (_, across) = page(&app, "/console/stock?sku_code=CASE-1").await;
    assert!(across.contains(r#"id="across""#) && across.contains("/console/stores/D-1"), "{across}");
    let (_, at) = page(&app, "/console/stock?location_code=D-1").await;
    assert!(at.contains(r#"id="receipts""#) && at.contains("NOTE13-BLK"), "{at}");
    // Two lines: both scheduled, in one change; a bad line refuses all (and names its line).
    let csv = "NOTE13-BLK,1299,,2027-12-12T00:00,Double 12\nCASE-1,89";
    let res = app.client.post(app.url("/console/prices/batch")).form(&[("csv", csv), ("idempotency_key", "b-1")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains("CASE-1"));
    let (_, versions) = app.get("/api/v1/skus/CASE-1/prices").await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2);
    let res = app.client.post(app.url("/console/prices/batch")).form(&[("csv", "CASE-1,79\nNO-SUCH,1")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = app.client.post(app.url("/console/prices/batch")).form(&[("csv", "CASE-1,79\nCASE-1,1.234")]).send().await.unwrap();
    assert!(res.text().await.unwrap().contains("line 2"));
    let (_, versions) = app.get("/api/v1/skus/CASE-1/prices").await;
    assert_eq!(versions["items"].as_array().unwrap().len(), 2, "nothing of a refused batch");
}

tongjia_storage::backend_tests!(
    stores_stock_and_a_csv_of_prices,
    the_dashboard_shows_todays_sale_and_the_stock_value,
    a_price_scheduled_in_the_console_is_in_its_history,
    the_coverage_map_draws_every_county_and_the_province_outlines,
    an_order_shows_its_ledger_entries_and_every_change_is_in_the_audit_page,
    shelf_labels_carry_the_price_and_a_qr_code_and_only_headquarters_sees_the_console,
);
