//! End-to-end order flows over HTTP: every channel, one inventory, one customer.

mod common;

use common::{TestApp, ok, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tongjia_storage::Backend;

const MEMBER: &str = "13800138000";

/// Two warehouses, a direct store that ships, a partner store and a township store; two SKUs.
async fn network(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    ok(app.post("/api/v1/products", json!({"product_code": "NOTE13", "name": "Lumen Note 13", "category": "phone"})).await);
    ok(app.post("/api/v1/products", json!({"product_code": "BAND9", "name": "Pulse Band 9", "category": "wearable"})).await);
    for (sku, product, gtin, price, member) in
        [("NOTE13-BLK", "NOTE13", "6901234567892", 139_900, 132_900), ("BAND9-BLK", "BAND9", "6901234567809", 24_900, 23_600)]
    {
        ok(app.post("/api/v1/skus", json!({"sku_code": sku, "product_code": product, "name": sku, "gtin": gtin})).await);
        ok(app.post(&format!("/api/v1/skus/{sku}/prices"), json!({"list_price_fen": price, "member_price_fen": member})).await);
    }
    ok(app.post("/api/v1/partners", json!({"partner_code": "P-ZJ", "name": "Zhejiang Xinghe"})).await);
    for (code, county, lon, lat) in [("WH-S", "440112", 113.46, 23.10), ("WH-N", "110112", 116.66, 39.91)] {
        ok(app
            .post(
                "/api/v1/warehouses",
                json!({"warehouse_code": code, "name": code, "county_code": county, "longitude": lon, "latitude": lat}),
            )
            .await);
    }
    for (code, kind, county, township, lon, lat, ships, partner) in [
        ("D-HZ", "direct", "330106", None, 120.13, 30.26, true, None),
        ("A-YW", "authorized", "330782", None, 120.08, 29.31, false, Some("P-ZJ")),
        ("T-FT", "township_authorized", "330782", Some("330782101"), 120.10, 29.20, false, Some("P-ZJ")),
    ] {
        ok(app
            .post(
                "/api/v1/stores",
                json!({"store_code": code, "name": code, "kind": kind, "county_code": county, "township_code": township,
                       "longitude": lon, "latitude": lat, "status": "open", "opened_on": "2025-01-01", "pickup": true,
                       "ship_from_store": ships, "partner_code": partner}),
            )
            .await);
    }
    for (location, sku, owner, q) in [
        ("WH-S", "NOTE13-BLK", "brand", 100),
        ("WH-N", "NOTE13-BLK", "brand", 100),
        ("WH-N", "BAND9-BLK", "brand", 10),
        ("D-HZ", "NOTE13-BLK", "brand", 5),
        ("D-HZ", "BAND9-BLK", "brand", 2),
        ("A-YW", "NOTE13-BLK", "partner:P-ZJ", 3),
    ] {
        ok(app.post("/api/v1/stock/receipts", json!({"location_code": location, "sku_code": sku, "owner": owner, "quantity": q})).await);
    }
    app
}

async fn on_hand(app: &TestApp, location: &str, sku: &str) -> (i64, i64, i64) {
    let page = ok(app.get(&format!("/api/v1/stock?location_code={location}&sku_code={sku}")).await);
    page["items"].as_array().unwrap().iter().fold((0, 0, 0), |(o, r, d), b| {
        (o + b["on_hand"].as_i64().unwrap(), r + b["reserved"].as_i64().unwrap(), d + b["damaged"].as_i64().unwrap())
    })
}

fn id(order: &Value) -> String {
    order["order_id"].as_str().unwrap().to_owned()
}

async fn pay(app: &TestApp, order: &Value) -> Value {
    ok(app.pay_online(order, &format!("wx-{}", id(order))).await)
}

async fn act(app: &TestApp, order: &Value, action: &str) -> Value {
    ok(app.post(&format!("/api/v1/orders/{}/{action}", id(order)), json!({})).await)
}

async fn online_delivery_is_sourced_nearest_whole_and_explained(backend: Backend) {
    let app = network(backend).await;
    // To Yiwu: the direct Hangzhou store ships from store; the Yiwu partner store does not.
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "delivery", "customer_mobile": MEMBER, "destination": {"county_code": "330782"},
                                       "lines": [{"sku_code": "NOTE13-BLK", "quantity": 2}]}),
        )
        .await);
    assert_eq!(order["status"], "reserved");
    assert_eq!(order["channel"], "online");
    assert_eq!(order["lines"][0]["unit_price_fen"], 132_900, "members pay the member price");
    assert_eq!(order["lines"][0]["price_version"], 1);
    assert_eq!(order["allocations"][0]["location_code"], "D-HZ");
    assert!(order["sourcing"]["reason"].as_str().unwrap().contains("D-HZ"), "{}", order["sourcing"]);
    assert!(order["sourcing"]["considered"].as_array().unwrap().iter().all(|c| c["location_code"] != "A-YW"));
    assert_eq!(on_hand(&app, "D-HZ", "NOTE13-BLK").await, (5, 2, 0));

    let paid = pay(&app, &order).await;
    assert_eq!(paid["status"], "paid");
    assert_eq!(act(&app, &order, "shipment").await["status"], "shipped");
    assert_eq!(on_hand(&app, "D-HZ", "NOTE13-BLK").await, (3, 0, 0));
    let done = act(&app, &order, "delivery").await;
    assert_eq!((done["status"].as_str(), done["points_earned"].as_i64()), (Some("completed"), Some(2_658)));

    // Two SKUs to Guangzhou: the southern warehouse lacks the band, so the northern one ships all.
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "delivery", "destination": {"longitude": 113.3, "latitude": 23.1},
                                       "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}, {"sku_code": "BAND9-BLK", "quantity": 3}]}),
        )
        .await);
    let locations: Vec<&str> = order["allocations"].as_array().unwrap().iter().map(|a| a["location_code"].as_str().unwrap()).collect();
    assert_eq!(locations, vec!["WH-N", "WH-N"]);
    assert_eq!(order["sourcing"]["considered"][0]["location_code"], "WH-S");
    assert_eq!(order["sourcing"]["considered"][0]["ships_whole_order"], false);

    // More than any single location holds: split over the fewest.
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "delivery", "destination": {"longitude": 113.3, "latitude": 23.1},
                                       "lines": [{"sku_code": "NOTE13-BLK", "quantity": 150}]}),
        )
        .await);
    assert_eq!(order["allocations"].as_array().unwrap().len(), 2);
    assert!(order["sourcing"]["reason"].as_str().unwrap().contains("split"));
}

async fn pickup_in_a_store_that_lacked_stock_moves_goods_and_needs_the_code(backend: Backend) {
    let app = network(backend).await;
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "pickup", "pickup_store_code": "T-FT", "customer_mobile": MEMBER,
                                       "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
        )
        .await);
    let code = order["pickup_code"].as_str().unwrap().to_owned();
    assert_eq!(code.len(), 6);
    assert_eq!(order["allocations"][0]["location_code"], "A-YW", "the nearest location holding it");
    assert!(ok(app.get(&format!("/api/v1/orders/{}", id(&order))).await)["pickup_code"].is_null(), "the code is not shown again");

    let paid = pay(&app, &order).await;
    let transfer = paid["allocations"][0]["transfer_id"].as_str().unwrap().to_owned();
    assert_eq!(ok(app.get(&format!("/api/v1/stock/transfers/{transfer}")).await)["status"], "in_transit");
    assert_eq!(on_hand(&app, "A-YW", "NOTE13-BLK").await, (2, 0, 0));

    let waiting = ok(app.get("/api/v1/orders?pickup_store_code=T-FT&status=fulfilling").await);
    assert_eq!(waiting["items"].as_array().unwrap().len(), 0);
    let waiting = ok(app.get("/api/v1/orders?pickup_store_code=T-FT&status=paid").await);
    assert_eq!(waiting["items"][0]["order_id"], order["order_id"], "the store sees the pickup it is waiting for");
    let ready = act(&app, &order, "ready").await;
    assert_eq!(ready["status"], "ready_for_pickup");
    assert_eq!(on_hand(&app, "T-FT", "NOTE13-BLK").await, (1, 1, 0));

    let (s, p) = app.post(&format!("/api/v1/orders/{}/handover", id(&order)), json!({"pickup_code": "000000x"})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_pickup_code")));
    let done = ok(app.post(&format!("/api/v1/orders/{}/handover", id(&order)), json!({"pickup_code": code})).await);
    assert_eq!(done["status"], "completed");

    // Guessing locks the handover after five wrong codes.
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "pickup", "pickup_store_code": "D-HZ", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
        )
        .await);
    let code = order["pickup_code"].as_str().unwrap().to_owned();
    pay(&app, &order).await;
    act(&app, &order, "ready").await;
    for _ in 0..4 {
        let (s, p) = app.post(&format!("/api/v1/orders/{}/handover", id(&order)), json!({"pickup_code": "x"})).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_pickup_code")));
    }
    let (s, p) = app.post(&format!("/api/v1/orders/{}/handover", id(&order)), json!({"pickup_code": "y"})).await;
    assert_eq!(p["code"], "wrong_pickup_code", "{s}");
    let (s, p) = app.post(&format!("/api/v1/orders/{}/handover", id(&order)), json!({"pickup_code": code})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("pickup_code_locked")));
    assert_eq!(done["status"], "completed");
    assert_eq!(on_hand(&app, "T-FT", "NOTE13-BLK").await, (0, 0, 0));
    assert!(app.db.audit_ledger().await.unwrap().is_empty());
}

async fn till_sales_and_endless_aisle_orders(backend: Backend) {
    let app = network(backend).await;
    let sale = ok(app
        .post(
            "/api/v1/orders",
            json!({"store_code": "D-HZ", "fulfilment": "carry_out", "lines": [{"sku_code": "BAND9-BLK", "quantity": 1}]}),
        )
        .await);
    assert_eq!((sale["channel"].as_str(), sale["lines"][0]["unit_price_fen"].as_i64()), (Some("store:D-HZ"), Some(24_900)));
    let done = pay(&app, &sale).await;
    assert_eq!(done["status"], "completed", "a till sale completes at payment");
    assert_eq!(on_hand(&app, "D-HZ", "BAND9-BLK").await, (1, 0, 0));
    let (s, p) = app
        .post(
            "/api/v1/orders",
            json!({"store_code": "T-FT", "fulfilment": "carry_out", "lines": [{"sku_code": "BAND9-BLK", "quantity": 1}]}),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_stock")));

    let aisle = ok(app
        .post(
            "/api/v1/orders",
            json!({"store_code": "T-FT", "fulfilment": "endless_aisle", "destination": {"longitude": 120.1, "latitude": 29.2},
                                       "lines": [{"sku_code": "BAND9-BLK", "quantity": 5}]}),
        )
        .await);
    assert_eq!(aisle["channel"], "store:T-FT");
    assert_eq!(aisle["allocations"][0]["location_code"], "WH-N");
    pay(&app, &aisle).await;
    assert_eq!(act(&app, &aisle, "shipment").await["status"], "shipped");

    let (s, p) = app.post("/api/v1/orders", json!({"fulfilment": "carry_out", "lines": [{"sku_code": "BAND9-BLK", "quantity": 1}]})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("fulfilment_needs_store")));
}

async fn returns_anywhere_refund_the_price_paid_and_never_more_than_bought(backend: Backend) {
    let app = network(backend).await;
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "delivery", "customer_mobile": MEMBER, "destination": {"county_code": "330106"},
                                       "lines": [{"sku_code": "NOTE13-BLK", "quantity": 2}]}),
        )
        .await);
    pay(&app, &order).await;
    act(&app, &order, "shipment").await;
    act(&app, &order, "delivery").await;
    let before = ok(app.get(&format!("/api/v1/customers/{MEMBER}")).await)["points_balance"].as_i64().unwrap();

    let returned = ok(app
        .post(&format!("/api/v1/orders/{}/returns", id(&order)), json!({"store_code": "T-FT", "lines": [{"line_no": 1, "quantity": 1}]}))
        .await);
    assert_eq!(returned["returns"][0]["refund_fen"], 132_900);
    assert_eq!(returned["refunded_fen"], 132_900);
    assert_eq!(on_hand(&app, "T-FT", "NOTE13-BLK").await, (1, 0, 0), "back on sale in the township store");
    let after = ok(app.get(&format!("/api/v1/customers/{MEMBER}")).await)["points_balance"].as_i64().unwrap();
    assert_eq!(before - after, 1_329, "the points the refund had earned are taken back");

    let (s, p) = app
        .post(&format!("/api/v1/orders/{}/returns", id(&order)), json!({"store_code": "A-YW", "lines": [{"line_no": 1, "quantity": 2}]}))
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("return_exceeds_purchase")));
    let damaged = ok(app
        .post(
            &format!("/api/v1/orders/{}/returns", id(&order)),
            json!({"store_code": "A-YW", "lines": [{"line_no": 1, "quantity": 1, "damaged": true}]}),
        )
        .await);
    assert_eq!(damaged["lines"][0]["returned_quantity"], 2);
    assert_eq!(on_hand(&app, "A-YW", "NOTE13-BLK").await, (3, 0, 1), "damaged units are held apart");
    assert!(app.db.audit_ledger().await.unwrap().is_empty());
}

async fn unpaid_orders_expire_and_cancelled_orders_cannot_be_paid(backend: Backend) {
    let app = network(backend).await;
    let order = ok(app.post("/api/v1/orders", json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 4}]})).await);
    assert_eq!(on_hand(&app, "D-HZ", "NOTE13-BLK").await, (5, 4, 0));
    let later = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_mins(16)).unwrap();
    assert!(tongjia_server::sweep_expired(&app.db, &Default::default(), later).await.unwrap() >= 1);
    let expired = ok(app.get(&format!("/api/v1/orders/{}", id(&order))).await);
    assert_eq!(expired["status"], "cancelled");
    assert_eq!(on_hand(&app, "D-HZ", "NOTE13-BLK").await, (5, 0, 0));

    let (s, p) = app.pay_online(&order, "x").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("illegal_transition")));

    let order = ok(app.post("/api/v1/orders", json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]})).await);
    let (s, p) = app.notify(&json!({"transaction_id": "x1", "order_id": order["order_id"], "amount_fen": 1})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("payment_amount_mismatch")));
    assert_eq!(act(&app, &order, "cancellation").await["status"], "cancelled");
    let (s, _) = app.post(&format!("/api/v1/orders/{}/cancellation", id(&order)), json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

async fn bad_orders_are_refused_with_problems(backend: Backend) {
    let app = network(backend).await;
    let cases = [
        (
            json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1, "unit_price_fen": 1}]}),
            "client_price_refused",
        ),
        (
            json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NOPE", "quantity": 1}]}),
            "sku_not_found",
        ),
        (
            json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 0}]}),
            "quantity_not_positive",
        ),
        (
            json!({"fulfilment": "delivery", "customer_mobile": "12345", "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
            "invalid_mobile",
        ),
        (json!({"fulfilment": "delivery", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}), "destination_required"),
        (json!({"fulfilment": "teleport", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}), "invalid_fulfilment"),
        (
            json!({"fulfilment": "pickup", "pickup_store_code": "WH-S", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
            "store_not_found",
        ),
        (
            json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "redeem_points": 5, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
            "outside_scope",
        ),
        (
            // Only the member spends their points (their session, or their code at a till).
            json!({"fulfilment": "delivery", "customer_mobile": MEMBER, "destination": {"county_code": "330106"}, "redeem_points": 5, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
            "outside_scope",
        ),
        (json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "lines": []}), "no_lines"),
    ];
    for (body, code) in cases {
        let (s, p) = app.post("/api/v1/orders", body.clone()).await;
        assert!(s.is_client_error(), "{body}: {s}");
        assert_eq!(p["code"].as_str(), Some(code), "{body}: {p}");
    }
    let member = app.member(MEMBER).await;
    let res = member
        .post(app.url("/api/v1/orders"))
        .json(&json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "redeem_points": 5, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}))
        .send()
        .await
        .unwrap();
    let (s, p) = common::read(res).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_points")), "{p}");
    let (s, p) = app.get("/api/v1/orders/not-an-id").await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("order_not_found")));
    assert_eq!(on_hand(&app, "D-HZ", "NOTE13-BLK").await, (5, 0, 0), "refused orders hold nothing");
}

async fn one_customer_across_channels_keeps_one_history_and_one_balance(backend: Backend) {
    let app = network(backend).await;
    // A till sale in Hangzhou and an online order, each returned in the other channel's place.
    let till = ok(app
        .post(
            "/api/v1/orders",
            json!({"store_code": "D-HZ", "fulfilment": "carry_out", "customer_mobile": "+86 138-0013-8000",
                                                    "lines": [{"sku_code": "BAND9-BLK", "quantity": 2}]}),
        )
        .await);
    pay(&app, &till).await;
    let online = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "delivery", "customer_mobile": MEMBER, "destination": {"county_code": "110112"},
                                                      "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
        )
        .await);
    pay(&app, &online).await;
    act(&app, &online, "shipment").await;
    act(&app, &online, "delivery").await;
    let customer = ok(app.get(&format!("/api/v1/customers/{MEMBER}")).await);
    assert_eq!(customer["order_count"], 2);
    assert_eq!(customer["points_balance"], 472 + 1_329);

    // Spend some points on a third order in a township store: the member reads out the code
    // texted to them, and the clerk sends it with the order.
    assert_eq!(app.post("/api/v1/member-codes", json!({"customer_mobile": MEMBER})).await.0, StatusCode::ACCEPTED);
    let code = app.last_code(MEMBER);
    let body = json!({"store_code": "T-FT", "fulfilment": "endless_aisle", "customer_mobile": MEMBER,
                      "destination": {"longitude": 120.1, "latitude": 29.2}, "redeem_points": 1_000,
                      "member_code": code, "lines": [{"sku_code": "BAND9-BLK", "quantity": 1}]});
    let first = app.post_with_key("/api/v1/orders", "redeem-1", body.clone()).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let redeem: serde_json::Value = first.json().await.unwrap();
    assert_eq!(redeem["total_fen"], 23_600 - 1_000);
    // The till retries (its answer was lost): the same order comes back, though the code is spent.
    let again = app.post_with_key("/api/v1/orders", "redeem-1", body).await;
    assert_eq!(again.status(), StatusCode::CREATED, "a replay is answered from its stored response, not refused for the spent code");
    let replayed: serde_json::Value = again.json().await.unwrap();
    assert_eq!(replayed["order_id"], redeem["order_id"]);
    ok(app.post(&format!("/api/v1/orders/{}/cancellation", id(&redeem)), json!({})).await);

    ok(app
        .post(&format!("/api/v1/orders/{}/returns", id(&till)), json!({"store_code": "T-FT", "lines": [{"line_no": 1, "quantity": 2}]}))
        .await);
    ok(app
        .post(&format!("/api/v1/orders/{}/returns", id(&online)), json!({"store_code": "D-HZ", "lines": [{"line_no": 1, "quantity": 1}]}))
        .await);
    let customer = ok(app.get(&format!("/api/v1/customers/{MEMBER}")).await);
    assert_eq!(customer["points_balance"], 0, "every point earned was taken back with its refund; redeemed ones came back on cancel");
    let history = ok(app.get(&format!("/api/v1/customers/{MEMBER}/orders")).await);
    let channels: Vec<&str> = history["items"].as_array().unwrap().iter().map(|o| o["channel"].as_str().unwrap()).collect();
    assert_eq!(channels, vec!["store:T-FT", "online", "store:D-HZ"]);
    let points = ok(app.get(&format!("/api/v1/customers/{MEMBER}/points")).await);
    let sum: i64 = points["items"].as_array().unwrap().iter().map(|p| p["delta"].as_i64().unwrap()).sum();
    assert_eq!(sum, 0, "the points history adds up to the balance");
    assert!(app.db.audit_ledger().await.unwrap().is_empty());
}

async fn an_orders_hold_moves_only_with_the_order(backend: Backend) {
    let app = network(backend).await;
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"store_code": "D-HZ", "fulfilment": "carry_out", "lines": [{"sku_code": "BAND9-BLK", "quantity": 2}]}),
        )
        .await);
    let r = order["allocations"][0]["reservation_id"].as_str().unwrap().to_owned();
    for action in ["release", "commit"] {
        let (s, p) = app.post(&format!("/api/v1/reservations/{r}/{action}"), json!({})).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("reservation_belongs_to_order")), "{action}");
    }
    let (s, p) = app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "pickup", "pickup_store_code": "NOPE", "lines": [{"sku_code": "BAND9-BLK", "quantity": 1}]}),
        )
        .await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::NOT_FOUND, Some("store_not_found")));
}

async fn closed_stores_neither_sell_nor_promise(backend: Backend) {
    let app = network(backend).await;
    let res = app
        .client
        .patch(app.url("/api/v1/stores/D-HZ"))
        .json(&json!({"status": "closed", "closed_on": "2026-01-01"}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    let (s, p) = app.post("/api/v1/stock/sales", json!({"location_code": "D-HZ", "sku_code": "BAND9-BLK", "quantity": 1})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("location_not_open")));
    let (s, p) = app.post("/api/v1/stock/receipts", json!({"location_code": "D-HZ", "sku_code": "BAND9-BLK", "quantity": 1})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("location_closed")));
    let avail = ok(app.get("/api/v1/skus/BAND9-BLK/availability").await);
    assert_eq!(avail["total"]["available"], 10, "only the open warehouse's 10 are promised");
    // Emptying a closed store still works.
    ok(app
        .post(
            "/api/v1/stock/transfers",
            json!({"from_location_code": "D-HZ", "to_location_code": "WH-N", "sku_code": "BAND9-BLK", "quantity": 2}),
        )
        .await);
}

/// Placements that arrive at once are written together (one batch per turn): every unit of
/// a scarce SKU sold exactly once, a repeat answered with its own order, every answer the
/// order as stored, one audit record per order, the ledger consistent.
async fn orders_placed_at_once_are_written_together_exactly(backend: Backend) {
    let app = network(backend).await;
    let body =
        json!({"fulfilment": "delivery", "destination": {"county_code": "110105"}, "lines": [{"sku_code": "BAND9-BLK", "quantity": 1}]});
    let place = |key: String| {
        let (app, body) = (&app, body.clone());
        async move { common::read(app.post_with_key("/api/v1/orders", &key, body).await).await }
    };
    // 40 buyers for 12 units (10 at WH-N, 2 at D-HZ), and 10 of them sending twice at once.
    let keys: Vec<String> = (0..40).map(|i| format!("burst-{i}")).chain((0..10).map(|i| format!("burst-{i}"))).collect();
    let before = app.db.group_commits();
    let answers = futures_util::future::join_all(keys.iter().cloned().map(place)).await;
    let done = app.db.group_commits();
    let (turns, writes) = (done.turns - before.turns, done.writes - before.writes);
    assert!(writes > turns, "some placements were written together: {writes} writes in {turns} turns");
    let mut placed: std::collections::HashMap<&str, String> = std::collections::HashMap::new();
    for (key, (status, answer)) in keys.iter().zip(&answers) {
        match status.as_u16() {
            201 => {
                let id = id(answer);
                assert_eq!(placed.insert(key, id.clone()).unwrap_or(id.clone()), id, "one key, one order");
                assert_eq!(&ok(app.get(&format!("/api/v1/orders/{id}")).await), answer, "the answer is the order as stored");
            }
            422 => assert_eq!(answer["code"], "insufficient_stock", "{answer}"),
            409 => assert_eq!(answer["code"], "idempotency_key_in_flight", "{answer}"),
            other => panic!("{other}: {answer}"),
        }
    }
    assert_eq!(placed.len(), 12, "every unit sold once: {placed:?}");
    let reserved = on_hand(&app, "WH-N", "BAND9-BLK").await.1 + on_hand(&app, "D-HZ", "BAND9-BLK").await.1;
    assert_eq!(reserved, 12);
    // A repeat afterwards answers the same order.
    for (key, id) in &placed {
        let (status, again) = place(key.to_string()).await;
        assert_eq!((status.as_u16(), self::id(&again)), (201, id.clone()));
    }
    // Paid at once, each payment written together with others: every order paid once,
    // its hold kept for fulfilment, every answer the order as stored.
    let mut orders = Vec::new();
    for id in placed.values() {
        orders.push(ok(app.get(&format!("/api/v1/orders/{id}")).await));
    }
    let before = app.db.group_commits();
    let paid = futures_util::future::join_all(orders.iter().map(|o| pay(&app, o))).await;
    let done = app.db.group_commits();
    let (turns, writes) = (done.turns - before.turns, done.writes - before.writes);
    assert!(writes > turns, "some payments were written together: {writes} writes in {turns} turns");
    for p in &paid {
        assert_eq!(p["status"], "paid", "{p}");
        let stored = ok(app.get(&format!("/api/v1/orders/{}", id(p))).await);
        assert_eq!(stored["status"], "paid");
        assert_eq!(stored["paid_fen"], p["paid_fen"]);
    }
    assert_eq!(on_hand(&app, "WH-N", "BAND9-BLK").await.1 + on_hand(&app, "D-HZ", "BAND9-BLK").await.1, 12, "held until fulfilment");
    let audit = ok(app.get("/api/v1/audit?resource=/api/v1/orders&limit=200").await);
    let recorded = audit["items"].as_array().unwrap().iter().filter(|r| r["action"] == "POST /api/v1/orders").count();
    assert_eq!(recorded, 12, "one audit record per order placed");
    assert_eq!(app.db.audit_ledger().await.unwrap(), Vec::<String>::new());
}

tongjia_storage::backend_tests!(
    online_delivery_is_sourced_nearest_whole_and_explained,
    pickup_in_a_store_that_lacked_stock_moves_goods_and_needs_the_code,
    till_sales_and_endless_aisle_orders,
    returns_anywhere_refund_the_price_paid_and_never_more_than_bought,
    unpaid_orders_expire_and_cancelled_orders_cannot_be_paid,
    bad_orders_are_refused_with_problems,
    one_customer_across_channels_keeps_one_history_and_one_balance,
    an_orders_hold_moves_only_with_the_order,
    closed_stores_neither_sell_nor_promise,
    orders_placed_at_once_are_written_together_exactly,
);
