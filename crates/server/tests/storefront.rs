//! The storefront's checkout and the till's counter work over HTTP, as the pages drive them:
//! a guest orders for pickup, pays at the demo provider's checkout and sees the pickup code;
//! the till marks the pickup ready and hands it over against that code; a township store
//! takes the online order back. (tests/browser.rs runs the journey in headless Chromium.)

mod common;

use common::{CLERK_PASSWORD, TestApp, ok, spawn_app};
use reqwest::{Client, StatusCode, header};
use serde_json::json;
use tongjia_storage::Backend;

const MOBILE: &str = "13800138000";

fn no_redirects() -> Client {
    Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A signed-in clerk: a client with the session cookie, and the page's CSRF token.
async fn clerk(app: &TestApp, username: &str, store: &str) -> (Client, String) {
    let res = no_redirects().post(app.url("/login")).form(&[("username", username), ("password", CLERK_PASSWORD)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut headers = header::HeaderMap::new();
    headers.insert(header::COOKIE, cookie.parse().unwrap());
    let client = Client::builder().default_headers(headers).redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = client.get(app.url(&format!("/till/{store}"))).send().await.unwrap().text().await.unwrap();
    let csrf = regex::Regex::new(r#"X-CSRF-Token&quot;:&quot;([0-9a-f]+)&quot;"#).unwrap().captures(&page).expect(&page)[1].to_owned();
    (client, csrf)
}

async fn post(client: &Client, csrf: &str, url: String, form: &[(&str, &str)]) -> (StatusCode, String) {
    let res = client.post(url).header("x-csrf-token", csrf).header("hx-request", "true").form(form).send().await.unwrap();
    (res.status(), res.text().await.unwrap())
}

fn attr(html: &str, name: &str) -> String {
    regex::Regex::new(&format!(r#"{name}="([^"]+)""#)).unwrap().captures(html).unwrap_or_else(|| panic!("no {name} in {html}"))[1]
        .to_owned()
}

async fn a_guest_orders_for_pickup_pays_and_the_till_hands_it_over_by_code(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let guest = no_redirects();
    let page = guest.get(app.url("/buy/NOTE13-BLK?division_code=330106")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("¥1,399.00") && page.contains("pickup:D-1") && page.contains(r#"value="delivery""#), "{page}");
    let form = [("quantity", "1"), ("fulfilment", "pickup:D-1"), ("mobile", MOBILE), ("idempotency_key", "guest-1")];
    let res = guest.post(app.url("/buy/NOTE13-BLK")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let order_page = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(order_page.starts_with("/order?order_id="), "{order_page}");
    // The same form again: the same order.
    let again = guest.post(app.url("/buy/NOTE13-BLK")).form(&form).send().await.unwrap();
    assert_eq!(again.headers()[header::LOCATION].to_str().unwrap(), order_page);
    let page = guest.get(app.url(&order_page)).send().await.unwrap().text().await.unwrap();
    let id = attr(&page, "data-order");
    assert!(page.contains(r#"data-status="reserved""#) && page.contains("id=\"pay\"") && !page.contains("pickup-code"), "{page}");
    // Another mobile: no such order.
    let res = guest.get(app.url(&format!("/order?order_id={id}&mobile=13900139000"))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    // Paid at the demo provider's checkout: its signed notification, verified.
    let res = guest.post(app.url(&format!("/order/{id}/payment"))).form(&[("mobile", MOBILE)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let page = guest.get(app.url(&order_page)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"data-status="paid""#) && page.contains("pickup-code"), "{page}");
    // A second click on pay: back to the paid order, nothing paid twice.
    let res = guest.post(app.url(&format!("/order/{id}/payment"))).form(&[("mobile", MOBILE)]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // A field given twice is refused, not read one way or the other.
    let twice = [("quantity", "1"), ("quantity", "5"), ("fulfilment", "pickup:D-1"), ("mobile", MOBILE), ("idempotency_key", "guest-2")];
    let res = guest.post(app.url("/buy/NOTE13-BLK")).form(&twice).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains(r#"data-code="field_repeated""#));
    let code = regex::Regex::new(r#"<strong class="price">(\d+)</strong>"#).unwrap().captures(&page).expect(&page)[1].to_owned();
    let (_, order) = app.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!((order["channel"].as_str(), order["payments"][0]["method"].as_str()), (Some("online"), Some("simulator")));
    // At the till: the pickup is listed, marked ready, and handed over against the code.
    let (till, csrf) = clerk(&app, "clerk", "D-1").await;
    let listed = till.get(app.url("/till/D-1/pickups")).send().await.unwrap().text().await.unwrap();
    assert!(listed.contains(&id), "{listed}");
    let (s, ready) = post(&till, &csrf, app.url(&format!("/till/D-1/pickups/{id}")), &[("idempotency_key", "ready-1")]).await;
    assert!(s.is_success() && ready.contains(r#"data-status="ready_for_pickup""#), "{s} {ready}");
    let (s, wrong) =
        post(&till, &csrf, app.url(&format!("/till/D-1/pickups/{id}")), &[("code", "000000"), ("idempotency_key", "h-1")]).await;
    assert!(s.is_client_error() && wrong.contains("data-code"), "{s} {wrong}");
    let (s, done) = post(&till, &csrf, app.url(&format!("/till/D-1/pickups/{id}")), &[("code", &code), ("idempotency_key", "h-2")]).await;
    assert!(s.is_success() && done.contains(r#"data-status="completed""#), "{s} {done}");
}

async fn a_township_store_takes_back_an_online_order(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    ok(app
        .post("/api/v1/accounts", json!({"username": "township", "password": CLERK_PASSWORD, "role": "store_staff", "stores": ["T-1"]}))
        .await);
    // Delivered from the warehouse.
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "WH-S", "sku_code": "CASE-1", "quantity": 3})).await);
    let guest = no_redirects();
    let form = [("quantity", "1"), ("fulfilment", "delivery"), ("county_code", "330106"), ("mobile", MOBILE), ("idempotency_key", "g-2")];
    let res = guest.post(app.url("/buy/CASE-1")).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    let order_page = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let page = guest.get(app.url(&order_page)).send().await.unwrap().text().await.unwrap();
    let id = attr(&page, "data-order");
    guest.post(app.url(&format!("/order/{id}/payment"))).form(&[("mobile", MOBILE)]).send().await.unwrap();
    for step in ["fulfilment", "shipment", "delivery"] {
        ok(app.post(&format!("/api/v1/orders/{id}/{step}"), json!({})).await);
    }
    let (till, csrf) = clerk(&app, "township", "T-1").await;
    let shown = till.get(app.url(&format!("/till/T-1/returns?order_id={id}"))).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("return_1") && !shown.contains(MOBILE), "the lines, not the shopper's mobile: {shown}");
    let (s, back) = post(&till, &csrf, app.url(&format!("/till/T-1/returns/{id}")), &[("return_1", "1"), ("idempotency_key", "r-1")]).await;
    assert!(s.is_success() && back.contains("id=\"refund\"") && back.contains("¥99.00"), "{s} {back}");
    let (s, _) = post(
        &till,
        &csrf,
        app.url(&format!("/till/T-1/returns/{id}")),
        &[("return_1", "1"), ("return_1", "1"), ("idempotency_key", "r-3")],
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a line given twice");
    let (_, order) = app.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(order["refunded_fen"], 9900);
    let (_, stock) = app.get("/api/v1/stock?location_code=T-1&sku_code=CASE-1").await;
    assert_eq!(stock["items"][0]["on_hand"], 1, "back on the township store's shelf");
    // A field the form does not have is refused.
    let (s, _) =
        post(&till, &csrf, app.url(&format!("/till/T-1/returns/{id}")), &[("refund_price", "1"), ("idempotency_key", "r-2")]).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
}

/// The basket cookie a response sets (`name=value`).
fn basket_cookie(res: &reqwest::Response) -> String {
    res.headers()[header::SET_COOKIE].to_str().unwrap().split(';').next().unwrap().to_owned()
}

async fn a_basket_of_two_skus_is_one_order_priced_by_the_book(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    for sku in ["NOTE13-BLK", "CASE-1"] {
        ok(app.post("/api/v1/stock/receipts", json!({"location_code": "WH-S", "sku_code": sku, "quantity": 2})).await);
    }
    let guest = no_redirects();
    let add = |cookie: String, form: Vec<(&'static str, &'static str)>| {
        let req = guest.post(app.url("/basket")).form(&form);
        if cookie.is_empty() { req } else { req.header(header::COOKIE, cookie) }
    };
    let res = add(String::new(), vec![("add", "NOTE13-BLK")]).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()[header::LOCATION], "/basket");
    let cookie = basket_cookie(&res);
    assert_eq!(cookie, "tongjia_basket=NOTE13-BLK*1");
    let cookie = basket_cookie(&add(cookie, vec![("add", "CASE-1"), ("quantity", "2")]).send().await.unwrap());
    let cookie = basket_cookie(&add(cookie, vec![("add", "NOTE13-BLK")]).send().await.unwrap());
    assert_eq!(cookie, "tongjia_basket=NOTE13-BLK*2~CASE-1*2");
    // What is not on sale, a price, or past the most one checkout buys: refused, the basket kept.
    for (form, code) in [
        (vec![("add", "NOPE-1")], "sku_not_found"),
        (vec![("add", "CASE-1"), ("unit_price", "1")], "client_price_refused"),
        (vec![("add", "CASE-1"), ("quantity", "19")], "invalid_quantity"),
        (vec![("set", "PHONE-X"), ("quantity", "1")], "not_in_basket"),
    ] {
        let res = add(cookie.clone(), form).send().await.unwrap();
        assert!(res.status().is_client_error() && !res.headers().contains_key(header::SET_COOKIE));
        assert!(res.text().await.unwrap().contains(&format!(r#"data-code="{code}""#)), "{code}");
    }
    let page =
        guest.get(app.url("/basket?division_code=330106")).header(header::COOKIE, &cookie).send().await.unwrap().text().await.unwrap();
    // 2 × ¥1,329.00 (the member price: an online order gives a mobile) + 2 × ¥99.00.
    assert!(page.contains("¥2,658.00") && page.contains("¥198.00") && page.contains("¥2,856.00"), "{page}");
    assert!(page.contains(r#"value="NOTE13-BLK*2""#) && page.contains(r#"value="CASE-1*2""#), "{page}");
    // A cookie this server did not write reads as an empty basket, not an error.
    let forged = guest.get(app.url("/basket")).header(header::COOKIE, "tongjia_basket=CASE-1*500").send().await.unwrap();
    assert!(forged.status().is_success() && forged.text().await.unwrap().contains("购物车是空的"));
    // Taking one out.
    let fewer = basket_cookie(&add(cookie.clone(), vec![("set", "CASE-1"), ("quantity", "0")]).send().await.unwrap());
    assert_eq!(fewer, "tongjia_basket=NOTE13-BLK*2");
    // The order is the lines the page showed, placed as one order and priced again.
    let form = [
        ("line", "NOTE13-BLK*2"),
        ("line", "CASE-1*2"),
        ("fulfilment", "delivery"),
        ("county_code", "330106"),
        ("mobile", MOBILE),
        ("idempotency_key", "basket-1"),
    ];
    let res = guest.post(app.url("/basket/order")).header(header::COOKIE, &cookie).form(&form).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "{}", res.text().await.unwrap());
    assert!(res.headers()[header::SET_COOKIE].to_str().unwrap().contains("Max-Age=0"), "the basket is emptied");
    let order_page = res.headers()[header::LOCATION].to_str().unwrap().to_owned();
    let page = guest.get(app.url(&order_page)).send().await.unwrap().text().await.unwrap();
    let id = attr(&page, "data-order");
    let (_, order) = app.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!((order["lines"].as_array().unwrap().len(), order["total_fen"].as_i64()), (2, Some(285_600)), "{order}");
    // A line twice, or a price among the fields: refused.
    for (extra, code) in [(("line", "CASE-1*1"), "field_repeated"), (("unit_price_fen", "1"), "client_price_refused")] {
        let mut forged = form.to_vec();
        forged.push(extra);
        forged[5] = ("idempotency_key", "basket-2");
        let res = guest.post(app.url("/basket/order")).form(&forged).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains(&format!(r#"data-code="{code}""#)), "{code}");
    }
}

async fn wrong_codes_tried_at_once_all_count_and_the_till_cancels_the_locked_pickup(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let guest = no_redirects();
    let form = [("quantity", "1"), ("fulfilment", "pickup:D-1"), ("mobile", MOBILE), ("idempotency_key", "lock-1")];
    let res = guest.post(app.url("/buy/CASE-1")).form(&form).send().await.unwrap();
    let page = guest.get(app.url(res.headers()[header::LOCATION].to_str().unwrap())).send().await.unwrap().text().await.unwrap();
    let id = attr(&page, "data-order");
    // Pay clicked six times at once: one payment, and every click lands on the order page.
    let mut clicks = tokio::task::JoinSet::new();
    for _ in 0..6 {
        clicks.spawn(no_redirects().post(app.url(&format!("/order/{id}/payment"))).form(&[("mobile", MOBILE)]).send());
    }
    while let Some(res) = clicks.join_next().await {
        assert_eq!(res.unwrap().unwrap().status(), StatusCode::SEE_OTHER);
    }
    let (_, paid) = app.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(paid["payments"].as_array().unwrap().len(), 1, "{paid}");
    let (till, csrf) = clerk(&app, "clerk", "D-1").await;
    let (s, _) = post(&till, &csrf, app.url(&format!("/till/D-1/pickups/{id}")), &[("idempotency_key", "lock-ready")]).await;
    assert!(s.is_success());
    // Five wrong codes at once: each counts, so the handover is locked.
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..5 {
        let (till, csrf, url) = (till.clone(), csrf.clone(), app.url(&format!("/till/D-1/pickups/{id}")));
        tries.spawn(async move { post(&till, &csrf, url, &[("code", "000000"), ("idempotency_key", &format!("wrong-{i}"))]).await });
    }
    while let Some(done) = tries.join_next().await {
        let (s, body) = done.unwrap();
        assert!(s.is_client_error() && body.contains(r#"data-code="wrong_pickup_code""#), "{s} {body}");
    }
    let listed = till.get(app.url("/till/D-1/pickups")).send().await.unwrap().text().await.unwrap();
    assert!(listed.contains(r#"name="cancel""#), "locked after five: {listed}");
    let (s, body) =
        post(&till, &csrf, app.url(&format!("/till/D-1/pickups/{id}")), &[("code", "123456"), ("idempotency_key", "late")]).await;
    assert!(s.is_client_error() && body.contains(r#"data-code="pickup_code_locked""#), "{s} {body}");
    // The clerk cancels it: refunded, the goods back on sale.
    let (s, body) =
        post(&till, &csrf, app.url(&format!("/till/D-1/pickups/{id}")), &[("cancel", "refund"), ("idempotency_key", "cancel-1")]).await;
    assert!(s.is_success() && body.contains(r#"data-status="cancelled""#), "{s} {body}");
    let (_, order) = app.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(order["refunded_fen"], 9900, "{order}");
}

async fn one_address_places_at_most_twenty_guest_orders_in_the_window_even_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": "CASE-1", "quantity": 30})).await);
    let order = |key: String| {
        let form = [
            ("quantity", "1".to_owned()),
            ("fulfilment", "pickup:D-1".to_owned()),
            ("mobile", MOBILE.to_owned()),
            ("idempotency_key", key),
        ];
        no_redirects().post(app.url("/buy/CASE-1")).form(&form).send()
    };
    // One order sent five times is one order, and counts once; a refused one does not count.
    for _ in 0..5 {
        assert_eq!(order("once".into()).await.unwrap().status(), StatusCode::SEE_OTHER);
    }
    let refused = [("quantity", "1"), ("fulfilment", "pickup:NOPE-1"), ("mobile", MOBILE), ("idempotency_key", "refused")];
    assert!(no_redirects().post(app.url("/buy/CASE-1")).form(&refused).send().await.unwrap().status().is_client_error());
    // Then 25 at once: exactly 19 more are placed.
    let mut at_once = tokio::task::JoinSet::new();
    for i in 0..25 {
        at_once.spawn(order(format!("many-{i}")));
    }
    let mut placed = 0;
    while let Some(res) = at_once.join_next().await {
        let res = res.unwrap().unwrap();
        match res.status() {
            StatusCode::SEE_OTHER => placed += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(res.headers().contains_key("retry-after"));
                assert!(res.text().await.unwrap().contains(r#"data-code="too_many_orders""#));
            }
            other => panic!("{other}"),
        }
    }
    assert_eq!(placed, 19);
    let (_, stock) = app.get("/api/v1/stock?location_code=D-1&sku_code=CASE-1").await;
    assert_eq!(stock["items"][0]["reserved"], 20, "{stock}");
}

async fn an_order_looked_up_with_wrong_mobiles_is_shown_to_no_one_for_the_window(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let form = [("quantity", "1"), ("fulfilment", "pickup:D-1"), ("mobile", MOBILE), ("idempotency_key", "lookup-1")];
    let res = no_redirects().post(app.url("/buy/CASE-1")).form(&form).send().await.unwrap();
    let page = reqwest::get(app.url(res.headers()[header::LOCATION].to_str().unwrap())).await.unwrap().text().await.unwrap();
    let id = attr(&page, "data-order");
    // The right mobile, again and again: always shown.
    for _ in 0..6 {
        assert!(reqwest::get(app.url(&format!("/order?order_id={id}&mobile={MOBILE}"))).await.unwrap().status().is_success());
    }
    // Five wrong ones at once (as if completing a masked 138****8000), then not even the right one.
    let mut tries = tokio::task::JoinSet::new();
    for i in 0..8 {
        tries.spawn(reqwest::get(app.url(&format!("/order?order_id={id}&mobile=1380013{i:04}"))));
    }
    let mut statuses = vec![];
    while let Some(res) = tries.join_next().await {
        statuses.push(res.unwrap().unwrap().status().as_u16());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [404, 404, 404, 404, 404, 429, 429, 429]);
    let res = reqwest::get(app.url(&format!("/order?order_id={id}&mobile={MOBILE}"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(res.text().await.unwrap().contains(r#"data-code="too_many_lookups""#));
}

async fn a_pages_form_posted_from_another_site_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let post = |headers: &[(&'static str, &'static str)]| {
        let mut req = no_redirects().post(app.url("/basket")).form(&[("add", "CASE-1")]);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send()
    };
    for forged in [vec![("origin", "http://evil.example")], vec![("sec-fetch-site", "cross-site")], vec![("origin", "null")]] {
        let res = post(&forged).await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{forged:?}");
        assert!(!res.headers().contains_key(header::SET_COOKIE));
        assert!(res.text().await.unwrap().contains(r#"data-code="cross_site_refused""#));
    }
    let host = app.url("/").trim_end_matches('/').to_owned();
    let origin: &'static str = Box::leak(host.into_boxed_str());
    for own in [vec![("sec-fetch-site", "same-origin")], vec![("origin", origin)], vec![]] {
        assert_eq!(post(&own).await.unwrap().status(), StatusCode::SEE_OTHER, "{own:?}");
    }
    // Sign-in is a page's form too.
    let res = no_redirects()
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "clerk"), ("password", CLERK_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

async fn a_signed_in_member_orders_from_the_basket_for_their_own_mobile(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    let member = app.member(MOBILE).await;
    let form = [("line", "NOTE13-BLK*1"), ("fulfilment", "pickup:D-1"), ("idempotency_key", "member-1")];
    let res = member.post(app.url("/basket/order")).header("hx-request", "true").form(&form).send().await.unwrap();
    assert!(res.status().is_success(), "{}", res.status());
    let target = res.headers()["hx-redirect"].to_str().unwrap().to_owned();
    assert!(target.contains(&format!("mobile={MOBILE}")), "{target}");
    let page = member.get(app.url(&target)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("¥1,329.00"), "the member price: {page}");
}

tongjia_storage::backend_tests!(
    a_guest_orders_for_pickup_pays_and_the_till_hands_it_over_by_code,
    a_township_store_takes_back_an_online_order,
    a_basket_of_two_skus_is_one_order_priced_by_the_book,
    wrong_codes_tried_at_once_all_count_and_the_till_cancels_the_locked_pickup,
    one_address_places_at_most_twenty_guest_orders_in_the_window_even_at_once,
    an_order_looked_up_with_wrong_mobiles_is_shown_to_no_one_for_the_window,
    a_pages_form_posted_from_another_site_is_refused,
    a_signed_in_member_orders_from_the_basket_for_their_own_mobile,
);
