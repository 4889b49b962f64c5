//! Spawns the real server on an ephemeral port over a fresh database of either engine.

#![allow(dead_code)]

use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use tongjia_storage::testing::TestDb;
use tongjia_storage::{Backend, Db};

pub struct TestApp {
    pub base: String,
    pub client: Client,
    pub db: Db,
    /// The `admin` (hq_admin) token the client sends.
    pub token: String,
    /// The file members' one-time codes are "sent" to.
    pub sms: std::path::PathBuf,
    /// The file the payment simulator's refunds go to.
    pub refunds: std::path::PathBuf,
    _sms_dir: tempfile::TempDir,
    _store: TestDb,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    let settings = tongjia_server::Settings { sweep_interval: std::time::Duration::from_secs(3600), ..Default::default() };
    spawn_app_with(backend, settings).await
}

pub async fn spawn_app_with(backend: Backend, mut settings: tongjia_server::Settings) -> TestApp {
    // `RUST_LOG=error cargo test` shows the server's own log of a failure.
    let _ = tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).with_test_writer().try_init();
    let store = TestDb::fresh(backend).await.expect("a test database");
    let db = store.db.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let sms_dir = tempfile::tempdir().expect("a directory for texts");
    let sms = sms_dir.path().join("sms.log");
    settings.code_sender = std::sync::Arc::new(tongjia_server::auth::codes::LogFileSender::new(&sms));
    let refunds = sms_dir.path().join("refunds.log");
    let simulator = tongjia_server::payments::simulator::Simulator::new(SIMULATOR_SECRET, &refunds);
    settings.payment_providers = settings.payment_providers.with("simulator", std::sync::Arc::new(simulator));
    tokio::spawn(tongjia_server::serve(listener, db.clone(), settings, async move {
        let _ = stopped.await;
    }));
    let token = admin_token(&db).await;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().expect("a header"));
    let client = Client::builder().pool_max_idle_per_host(64).default_headers(headers).build().expect("client");
    TestApp { base, client, db, token, sms, refunds, _sms_dir: sms_dir, _store: store, _stop: stop }
}

/// The secret the test servers' payment simulator signs with.
pub const SIMULATOR_SECRET: &str = "tongjia-test-simulator";

/// Makes the `admin` account (hq_admin) and a token for it: the tests act as headquarters
/// unless they sign in as someone else.
pub async fn admin_token(db: &Db) -> String {
    let binding = tongjia_domain::access::Binding::new(tongjia_domain::access::Role::HqAdmin, vec![], None).unwrap();
    tongjia_server::auth::bootstrap_token(db, "admin", binding, "tests").await.expect("an admin token")
}

impl TestApp {
    /// The URL of the app's database (for a second connection of the test's own).
    pub fn db_url(&self) -> &str {
        self._store.url()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
    /// The last code texted to `mobile` (11 digits).
    pub fn last_code(&self, mobile: &str) -> String {
        let texts = std::fs::read_to_string(&self.sms).unwrap_or_default();
        let line = texts.lines().rev().find(|l| l.split('\t').nth(1) == Some(mobile)).expect("a code was texted");
        let digits: String = line.split('\t').nth(2).unwrap().chars().filter(char::is_ascii_digit).collect();
        digits[..6].to_owned()
    }

    /// Signs the member `mobile` in with a texted code, as a phone would; returns a client
    /// sending their session cookie and CSRF token.
    pub async fn member(&self, mobile: &str) -> Client {
        let bare = Client::new();
        let res = bare.post(self.url("/api/v1/member-codes")).json(&json!({"customer_mobile": mobile})).send().await.expect("code");
        assert_eq!(res.status(), StatusCode::ACCEPTED, "{}", res.text().await.unwrap_or_default());
        let body = json!({"customer_mobile": mobile, "code": self.last_code(mobile)});
        let res = bare.post(self.url("/api/v1/member-sessions")).json(&body).send().await.expect("sign in");
        assert_eq!(res.status(), StatusCode::CREATED);
        let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let me: Value = res.json().await.unwrap();
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
        headers.insert("x-csrf-token", me["csrf_token"].as_str().unwrap().parse().unwrap());
        Client::builder().default_headers(headers).build().unwrap()
    }

    /// Sends the payment simulator's signed notification `body` (as the provider would).
    pub async fn notify(&self, body: &Value) -> (StatusCode, Value) {
        notify_at(&Client::new(), &self.base, body).await
    }

    /// Pays `order` online: the simulator notifies its whole total under transaction `tx`.
    pub async fn pay_online(&self, order: &Value, tx: &str) -> (StatusCode, Value) {
        let body = json!({"transaction_id": tx, "order_id": order["order_id"], "amount_fen": order["total_fen"]});
        let answer = self.notify(&body).await;
        if !answer.0.is_success() {
            return answer;
        }
        self.get(&format!("/api/v1/orders/{}", order["order_id"].as_str().unwrap())).await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        read(self.client.get(self.url(path)).send().await.expect("GET")).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        read(self.client.post(self.url(path)).json(&body).send().await.expect("POST")).await
    }
    pub async fn post_with_key(&self, path: &str, key: &str, body: Value) -> Response {
        self.client.post(self.url(path)).header("Idempotency-Key", key).json(&body).send().await.expect("POST")
    }

    /// A product, a SKU with a price, a warehouse, and stores of each kind.
    pub async fn seed_basics(&self) {
        ok(self.post("/api/v1/products", json!({"product_code": "NOTE13", "name": "Lumen Note 13", "category": "phone"})).await);
        ok(self
            .post(
                "/api/v1/skus",
                json!({"sku_code": "NOTE13-BLK", "product_code": "NOTE13", "name": "Lumen Note 13 Black 8+256",
                   "attributes": {"colour": "Black", "memory": "8GB+256GB"}, "gtin": "6901234567892"}),
            )
            .await);
        ok(self.post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 139900, "member_price_fen": 132900})).await);
        ok(self.post("/api/v1/partners", json!({"partner_code": "P-ZJ", "name": "Zhejiang Xinghe"})).await);
        ok(self
            .post(
                "/api/v1/warehouses",
                json!({"warehouse_code": "WH-S", "name": "South DC", "county_code": "440112", "longitude": 113.46, "latitude": 23.10}),
            )
            .await);
        for (code, kind, county, township, partner) in [
            ("D-1", "direct", "330106", None, None),
            ("A-1", "authorized", "330782", None, Some("P-ZJ")),
            ("T-1", "township_authorized", "330782", Some("330782101"), Some("P-ZJ")),
        ] {
            ok(self
                .post(
                    "/api/v1/stores",
                    json!({"store_code": code, "name": format!("Store {code}"), "kind": kind, "county_code": county,
                       "township_code": township, "longitude": 120.1, "latitude": 29.3, "status": "open",
                       "opened_on": "2025-06-01", "pickup": true, "partner_code": partner}),
                )
                .await);
        }
    }
}

impl TestApp {
    /// [`TestApp::seed_basics`], a second SKU (a case, ¥99.00), stock of both at D-1, and
    /// the store_staff account `username` (password [`CLERK_PASSWORD`]) at `stores`.
    pub async fn seed_till(&self, username: &str, stores: &[&str]) {
        self.seed_basics().await;
        ok(self.post("/api/v1/products", json!({"product_code": "CASE", "name": "Case", "category": "accessory"})).await);
        ok(self
            .post(
                "/api/v1/skus",
                json!({"sku_code": "CASE-1", "product_code": "CASE", "name": "Lumen Note 13 Case", "gtin": "6901234567823"}),
            )
            .await);
        ok(self.post("/api/v1/skus/CASE-1/prices", json!({"list_price_fen": 9900})).await);
        for (sku, n) in [("NOTE13-BLK", 5), ("CASE-1", 10)] {
            ok(self.post("/api/v1/stock/receipts", json!({"location_code": "D-1", "sku_code": sku, "quantity": n})).await);
        }
        let account = json!({"username": username, "password": CLERK_PASSWORD, "role": "store_staff", "stores": stores});
        ok(self.post("/api/v1/accounts", account).await);
    }
}

/// The password of the clerks [`TestApp::seed_till`] makes.
pub const CLERK_PASSWORD: &str = "till-password-1";

/// Sends the payment simulator's signed notification `body` to the server at `base`.
pub async fn notify_at(client: &Client, base: &str, body: &Value) -> (StatusCode, Value) {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut req = client.post(format!("{base}/api/v1/payment-notifications/simulator")).header("content-type", "application/json");
    for (name, value) in tongjia_server::payments::simulator::signed_headers(SIMULATOR_SECRET, &bytes) {
        req = req.header(name, value);
    }
    read(req.body(bytes).send().await.expect("notify")).await
}

pub async fn read(res: Response) -> (StatusCode, Value) {
    let status = res.status();
    let text = res.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Asserts a 2xx and returns the body.
pub fn ok((status, body): (StatusCode, Value)) -> Value {
    assert!(status.is_success(), "expected success, got {status}: {body}");
    body
}

/// Reads a server-sent event stream until `done` says the text so far is enough (or 15 s
/// pass, which fails the test with what was read).
pub async fn read_stream_while(res: &mut Response, what: &str, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(15);
    while !done(&text) {
        match tokio::time::timeout_at(deadline, res.chunk()).await {
            Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
            _ => panic!("the stream ended or timed out before {what}; got {text}"),
        }
    }
    text
}
