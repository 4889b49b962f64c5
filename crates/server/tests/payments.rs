//! Payments are confirmed, not claimed: an online payment arrives only as its provider's
//! signed notification (forged, altered, stale or replayed ones change nothing), a till
//! records cash or card at its own counter, and refunds go back through the provider that
//! took the payment.

mod common;

use common::{SIMULATOR_SECRET, TestApp, ok, read, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tongjia_domain::access::{Binding, Role};
use tongjia_domain::codes::LocationCode;
use tongjia_server::payments::simulator::{NONCE_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use tongjia_storage::Backend;

async fn shop(backend: Backend) -> TestApp {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    for at in ["D-1", "WH-S"] {
        ok(app.post("/api/v1/stock/receipts", json!({"location_code": at, "sku_code": "NOTE13-BLK", "quantity": 10})).await);
    }
    app
}

async fn delivery(app: &TestApp) -> Value {
    ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "delivery", "destination": {"county_code": "330106"}, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
        )
        .await)
}

/// A notification signed by hand: `secret`, signed `age` seconds ago.
async fn notify_signed(app: &TestApp, body: &Value, secret: &str, age: i64) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let at = jiff::Timestamp::now().as_second() - age;
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/payment-notifications/simulator"))
        .header(TIMESTAMP_HEADER, at.to_string())
        .header(NONCE_HEADER, "n-1")
        .header(SIGNATURE_HEADER, sign(secret, at, "n-1", &bytes))
        .body(bytes)
        .send()
        .await
        .unwrap();
    read(res).await
}

fn claim(order: &Value, tx: &str) -> Value {
    json!({"transaction_id": tx, "order_id": order["order_id"], "amount_fen": order["total_fen"]})
}

async fn status_of(app: &TestApp, order: &Value) -> Value {
    ok(app.get(&format!("/api/v1/orders/{}", order["order_id"].as_str().unwrap())).await)
}

async fn only_a_signed_fresh_notification_of_the_exact_total_pays_an_order(backend: Backend) {
    let app = shop(backend).await;
    let order = delivery(&app).await;
    let body = claim(&order, "4200-0001");
    for (secret, age, code) in [("guessed", 0, "invalid_signature"), (SIMULATOR_SECRET, 301, "notification_stale")] {
        let (s, p) = notify_signed(&app, &body, secret, age).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::UNAUTHORIZED, Some(code)), "{p}");
    }
    // Signed for one amount, sent with another.
    let bytes = serde_json::to_vec(&body).unwrap();
    let at = jiff::Timestamp::now().as_second();
    let altered = serde_json::to_vec(&json!({"transaction_id": "4200-0001", "order_id": order["order_id"], "amount_fen": 1})).unwrap();
    let res = reqwest::Client::new()
        .post(app.url("/api/v1/payment-notifications/simulator"))
        .header(TIMESTAMP_HEADER, at.to_string())
        .header(NONCE_HEADER, "n")
        .header(SIGNATURE_HEADER, sign(SIMULATOR_SECRET, at, "n", &bytes))
        .body(altered)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let (s, p) = app.notify(&json!({"transaction_id": "4200-0002", "order_id": order["order_id"], "amount_fen": 100})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("payment_amount_mismatch")));
    let (s, _) = read(reqwest::Client::new().post(app.url("/api/v1/payment-notifications/nobody")).body("{}").send().await.unwrap()).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&app, &order).await["status"], "reserved", "nothing above paid it");

    let (s, first) = app.notify(&body).await;
    assert_eq!((s, first["status"].as_str()), (StatusCode::OK, Some("paid")), "{first}");
    // Providers retry: the same transaction, re-signed, has one effect and the same answer.
    let (s, again) = app.notify(&body).await;
    assert_eq!((s, &again), (StatusCode::OK, &first));
    let paid = status_of(&app, &order).await;
    assert_eq!(paid["payments"].as_array().unwrap().len(), 1, "{paid}");
    assert_eq!(
        (paid["payments"][0]["method"].as_str(), paid["payments"][0]["external_reference"].as_str()),
        (Some("simulator"), Some("4200-0001"))
    );
    // The same transaction id cannot pay anything else; another transaction cannot pay twice.
    let other = delivery(&app).await;
    let (s, p) = app.notify(&json!({"transaction_id": "4200-0001", "order_id": other["order_id"], "amount_fen": other["total_fen"]})).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("idempotency_key_reused")), "{p}");
    let (s, _) = app.notify(&claim(&order, "4200-0003")).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // Who confirmed it is in the audit trail.
    let trail = ok(app.get("/api/v1/audit?principal=provider:simulator").await);
    assert_eq!(trail["items"].as_array().unwrap().len(), 1, "{trail}");
    assert_eq!(trail["items"][0]["idempotency_key"], "4200-0001");
}

async fn no_one_claims_an_online_payment_and_tills_take_cash_only_at_home(backend: Backend) {
    let app = shop(backend).await;
    let clerk = tongjia_server::auth::bootstrap_token(
        &app.db,
        "clerk",
        Binding::new(Role::StoreStaff, vec![LocationCode::parse("D-1").unwrap()], None).unwrap(),
        "t",
    )
    .await
    .unwrap();
    let till = common_client(&clerk);
    let sale = json!({"store_code": "D-1", "fulfilment": "carry_out", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]});
    let order: Value = till.post(app.url("/api/v1/orders")).json(&sale).send().await.unwrap().json().await.unwrap();
    let pay = |method: &str| json!({"amount_fen": order["total_fen"], "external_reference": "r-1", "method": method});
    let path = app.url(&format!("/api/v1/orders/{}/payments", order["order_id"].as_str().unwrap()));
    let (s, p) = app.post(&format!("/api/v1/orders/{}/payments", order["order_id"].as_str().unwrap()), pay("wechat_pay")).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "headquarters claims nothing: {p}");
    let (s, p) = read(till.post(&path).json(&pay("wechat_pay")).send().await.unwrap()).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("outside_scope")), "a till claims no online payment: {p}");
    let (s, done) = read(till.post(&path).json(&pay("cash")).send().await.unwrap()).await;
    assert_eq!((s, done["status"].as_str()), (StatusCode::CREATED, Some("completed")), "{done}");
}

fn common_client(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

async fn refunds_go_back_through_the_provider_that_took_the_payment(backend: Backend) {
    let app = shop(backend).await;
    let order = delivery(&app).await;
    ok(app.pay_online(&order, "4200-0009").await);
    let cancelled = ok(app.post(&format!("/api/v1/orders/{}/cancellation", order["order_id"].as_str().unwrap()), json!({})).await);
    let refund = &cancelled["payments"][1];
    assert_eq!((refund["kind"].as_str(), refund["method"].as_str()), (Some("refund"), Some("simulator")), "{cancelled}");
    assert_eq!(refund["external_reference"], "4200-0009", "the refund names the payment it returns");
    // The refund job hands it to the simulator, which accepts it once.
    let mut settled = Value::Null;
    for _ in 0..50 {
        settled = status_of(&app, &order).await;
        if settled["payments"][1]["state"] == "settled" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(settled["payments"][1]["state"], "settled", "{settled}");
    let sent = std::fs::read_to_string(&app.refunds).unwrap();
    let lines: Vec<Value> = sent.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "{sent}");
    assert_eq!((lines[0]["transaction_id"].as_str(), &lines[0]["amount_fen"]), (Some("4200-0009"), &order["total_fen"]));
    assert_eq!(lines[0]["refund_id"], refund["payment_id"]);
}

tongjia_storage::backend_tests!(
    only_a_signed_fresh_notification_of_the_exact_total_pays_an_order,
    no_one_claims_an_online_payment_and_tills_take_cash_only_at_home,
    refunds_go_back_through_the_provider_that_took_the_payment,
);
