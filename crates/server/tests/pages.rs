//! The pages people use, over HTTP as a browser fetches them: the storefront and the
//! public price check show the price book's price and the ledger's stock, in Chinese or
//! English, and a refusal as a readable page.

mod common;

use common::{ok, spawn_app};
use reqwest::StatusCode;
use serde_json::json;
use tongjia_storage::Backend;

async fn fetch(app: &common::TestApp, path: &str) -> (StatusCode, String, String) {
    // As a shopper: no credentials.
    let res = reqwest::get(app.url(path)).await.unwrap();
    let kind = res.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (res.status(), kind, res.text().await.unwrap())
}

async fn the_storefront_lists_the_catalogue_at_the_price_books_prices(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let (s, kind, html) = fetch(&app, "/").await;
    assert_eq!(s, StatusCode::OK);
    assert!(kind.starts_with("text/html"), "{kind}");
    assert!(html.contains("Lumen Note 13 Black 8+256") && html.contains("¥1,399.00"), "{html}");
    assert!(html.contains("/p/NOTE13-BLK") && html.contains("lang=\"zh-CN\""), "Chinese by default, linking the price check");
    let (_, _, english) = fetch(&app, "/?lang=en").await;
    assert!(english.contains("All products") && english.contains("/p/NOTE13-BLK?lang=en"));
    let (_, _, none) = fetch(&app, "/?q=nothing-like-it").await;
    assert!(none.contains("没有找到商品"));
    let (s, kind, refused) = fetch(&app, "/?category=Not%20A%20Category!").await;
    assert!(s.is_client_error() && kind.starts_with("text/html") && !refused.contains("\"code\""), "{s} {refused}");
}

async fn the_price_check_shows_the_one_price_its_version_the_next_change_and_stock_near_you(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "T-1", "sku_code": "NOTE13-BLK", "quantity": 4})).await);
    ok(app
        .post(
            "/api/v1/skus/NOTE13-BLK/prices",
            json!({"list_price_fen": 129_900, "effective_at": "2027-12-12T00:00:00Z", "note": "Double 12"}),
        )
        .await);
    let (s, _, html) = fetch(&app, "/p/NOTE13-BLK").await;
    assert_eq!(s, StatusCode::OK);
    assert!(html.contains("¥1,399.00") && html.contains("¥1,329.00") && html.contains("v1"), "price, member price, version: {html}");
    assert!(html.contains("¥1,299.00") && html.contains("2027-12-12 08:00") && html.contains("Double 12"), "the next change: {html}");
    assert!(html.contains("浙江省"), "the province picker");
    let (_, _, near) = fetch(&app, "/p/NOTE13-BLK?division_code=330782&lang=en").await;
    assert!(near.contains("Store T-1") && near.contains("<td>4</td>"), "stock at the nearest store: {near}");
    assert!(near.contains("义乌市"), "the place chosen stays chosen: {near}");
    let (s, kind, missing) = fetch(&app, "/p/NO-SUCH-SKU").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(kind.starts_with("text/html") && missing.contains("no SKU NO-SUCH-SKU") && !missing.contains("\"status\""), "{missing}");
    let (s, _, _) = fetch(&app, "/p/NOTE13-BLK?division_code=999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn refusals_on_page_addresses_are_pages_and_pages_are_not_framed(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    for (path, status, code) in
        [("/no-such-page", 404, "route_not_found"), ("/logout", 405, "method_not_allowed"), ("/p/", 404, "route_not_found")]
    {
        let res = reqwest::get(app.url(path)).await.unwrap();
        assert_eq!(res.status().as_u16(), status, "{path}");
        assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert_eq!(res.headers()["x-frame-options"], "DENY");
        assert!(res.text().await.unwrap().contains(&format!(r#"data-code="{code}""#)), "{path}");
    }
    let res = reqwest::get(app.url("/")).await.unwrap();
    assert_eq!(
        (res.headers()["x-content-type-options"].to_str().unwrap(), res.headers()["referrer-policy"].to_str().unwrap()),
        ("nosniff", "same-origin")
    );
    let policy = res.headers()["content-security-policy"].to_str().unwrap().to_owned();
    assert!(policy.contains("script-src 'self';") && policy.contains("frame-ancestors 'none'"), "{policy}");
    let page = res.text().await.unwrap();
    assert!(!page.contains("onclick=") && !page.contains("hx-on"), "no inline script on a page");
    // The API stays JSON.
    let res = reqwest::get(app.url("/api/v1/no-such")).await.unwrap();
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    // A wrong password is a page; a next place that is not this server's path is not followed.
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    ok(app.post("/api/v1/accounts", json!({"username": "pricer", "password": "pricing-password-1", "role": "pricing"})).await);
    let res = bare
        .post(app.url("/login"))
        .form(&[("username", "pricer"), ("password", "pricing-password-1"), ("next", "/\t/evil.com")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["location"], "/till");
}

async fn the_next_change_announced_is_the_one_that_will_hold(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    for price in [119_900, 109_900] {
        ok(app.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": price, "effective_at": "2027-11-11T00:00:00Z"})).await);
    }
    let (_, _, html) = fetch(&app, "/p/NOTE13-BLK").await;
    assert!(html.contains("¥1,099.00") && !html.contains("¥1,199.00"), "the later of two for the same moment: {html}");
}

tongjia_storage::backend_tests!(
    refusals_on_page_addresses_are_pages_and_pages_are_not_framed,
    the_next_change_announced_is_the_one_that_will_hold,
    the_storefront_lists_the_catalogue_at_the_price_books_prices,
    the_price_check_shows_the_one_price_its_version_the_next_change_and_stock_near_you,
);
