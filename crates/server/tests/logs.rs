//! Nothing secret reaches a log line: a sign-in, a token, a member's code and session, and
//! orders and lookups by mobile, all logged at debug level, and the log read back.

mod common;

use common::{ok, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use tongjia_storage::Backend;

/// Every log line written, kept for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_password_token_session_code_or_full_mobile_is_logged() {
    let log = Captured::default();
    let writer = log.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .without_time()
        .init();
    let app = spawn_app(Backend::Sqlite).await;
    app.seed_basics().await;
    let mobile = "13800138000";
    let password = "staff password 42";
    let hash = tongjia_server::auth::secrets::hash_password(password).await;
    let binding = tongjia_domain::access::Binding::new(tongjia_domain::access::Role::HqAdmin, vec![], None).unwrap();
    app.db.create_account("boss", binding, hash, None).await.unwrap();
    let bare = reqwest::Client::new();
    let res = bare.post(app.url("/api/v1/sessions")).json(&json!({"username": "boss", "password": password})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let session = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().split('=').nth(1).unwrap().to_owned();
    let csrf = res.json::<Value>().await.unwrap()["csrf_token"].as_str().unwrap().to_owned();
    let res = bare.post(app.url("/api/v1/sessions")).json(&json!({"username": "boss", "password": "not it at all"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let token = ok(app.post("/api/v1/tokens", json!({"name": "till"})).await)["token"].as_str().unwrap().to_owned();
    let member = app.member(mobile).await;
    let code = app.last_code(mobile);
    let order = json!({"store_code": "D-1", "fulfilment": "carry_out", "customer_mobile": mobile, "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]});
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 3})).await);
    ok(app.post("/api/v1/orders", order).await);
    let _ = app.get(&format!("/api/v1/customers/{mobile}")).await;
    let _ = member.get(app.url(&format!("/api/v1/customers/{mobile}/orders"))).send().await.unwrap();
    let _ = bare.get(app.url("/api/v1/stock")).bearer_auth(&token).send().await.unwrap();
    let _ = bare.get(app.url("/api/v1/stock")).bearer_auth("tjt_forged").send().await.unwrap();

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    assert!(text.contains("signed in") && text.contains("sign-in failed"), "the run was logged:\n{text}");
    for (what, secret) in [
        ("password", password),
        ("token", &token),
        ("admin token", &app.token),
        ("session", &session),
        ("csrf token", &csrf),
        ("member code", &code),
        ("mobile", mobile),
        ("wrong password", "not it at all"),
    ] {
        // As a whole word: six digits may stand inside an id by chance.
        let whole = |at: usize| {
            let before = text[..at].chars().next_back().is_none_or(|c| !c.is_ascii_alphanumeric());
            let after = text[at + secret.len()..].chars().next().is_none_or(|c| !c.is_ascii_alphanumeric());
            before && after
        };
        assert!(
            !text.match_indices(secret).any(|(at, _)| whole(at)),
            "the {what} is in the log:\n{}",
            text.lines().filter(|l| l.contains(secret)).collect::<Vec<_>>().join("\n")
        );
    }
    assert!(text.contains("138****8000"), "mobiles are logged masked");
}
