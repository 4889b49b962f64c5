//! Who may do what, from outside: every route of the access table with every role and with
//! no one; sessions with their CSRF token; tokens revoked, expired and read-only; sign-in
//! limits; idempotency keys that belong to their caller.

mod common;

use common::{TestApp, ok, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tongjia_domain::access::{Binding, Gate, LOGIN_FAILURES_PER_ACCOUNT, Role, TokenScope};
use tongjia_domain::codes::{LocationCode, PartnerCode};
use tongjia_server::auth::rules::{RULES, markdown_table, rule_for};
use tongjia_server::auth::{bootstrap_token, issue_token, secrets};
use tongjia_storage::Backend;

/// How a test principal proves who it is.
#[derive(Clone)]
enum Cred {
    None,
    Token(String),
    /// A session cookie and its CSRF token.
    Session(String, String),
}

impl Cred {
    fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Cred::None => req,
            Cred::Token(t) => req.bearer_auth(t),
            Cred::Session(cookie, csrf) => req.header("cookie", format!("tongjia_session={cookie}")).header("x-csrf-token", csrf),
        }
    }
}

/// A client that sends nothing but what it is told (no default admin token), and shows
/// redirects rather than following them.
fn bare() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A page's refusal carries its problem's code too (`data-code`).
fn page_code(answer: &Value) -> Option<String> {
    let html = answer.as_str()?;
    let at = html.find("data-code=\"")? + "data-code=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

async fn send(app: &TestApp, cred: &Cred, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = cred.apply(bare().request(method, app.url(path)));
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status();
    if status == StatusCode::SEE_OTHER {
        let to = res.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("");
        return (status, Value::String(to.to_owned()));
    }
    // An event stream stays open: its status is enough.
    if res.headers().get("content-type").is_some_and(|v| v.to_str().unwrap_or("").starts_with("text/event-stream")) {
        return (status, Value::Null);
    }
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn binding(role: Role, stores: &[&str], partner: Option<&str>) -> Binding {
    let stores = stores.iter().map(|s| LocationCode::parse(s).unwrap()).collect();
    Binding::new(role, stores, partner.map(|p| PartnerCode::parse(p).unwrap())).unwrap()
}

/// A member's session, made as the sign-in with a code would make it.
async fn member_session(app: &TestApp, mobile: &str) -> Cred {
    let (secret, csrf) = (secrets::random_secret("tjs_"), secrets::random_secret(""));
    let until = app.db.now().checked_add(jiff::SignedDuration::from_hours(1)).unwrap();
    app.db.start_session(&secrets::digest(&secret), &format!("member:{mobile}"), &csrf, until, None).await.unwrap();
    Cred::Session(secret, csrf)
}

/// One principal of every role (store staff at D-1, the partner P-ZJ), and no one.
async fn principals(app: &TestApp) -> Vec<(Option<Role>, Cred)> {
    let mut out = vec![(None, Cred::None), (Some(Role::HqAdmin), Cred::Token(app.token.clone()))];
    for (name, role, stores, partner) in [
        ("pricing", Role::Pricing, &[][..], None),
        ("merch", Role::Merchandiser, &[][..], None),
        ("clerk", Role::StoreStaff, &["D-1"][..], None),
        ("partner", Role::Partner, &[][..], Some("P-ZJ")),
    ] {
        let token = bootstrap_token(&app.db, name, binding(role, stores, partner), "tests").await.unwrap();
        out.push((Some(role), Cred::Token(token)));
    }
    out.push((Some(Role::Customer), member_session(app, "13800138000").await));
    out
}

/// A path of the table with sample values for its parameters.
fn sample(path: &str) -> String {
    let uuid = "0190a2b4-0000-7000-8000-000000000000";
    [
        ("{sku_code}", "NOTE13-BLK"),
        ("{product_code}", "NOTE13"),
        ("{store_code}", "D-1"),
        ("{warehouse_code}", "WH-S"),
        ("{order_id}", uuid),
        ("{reservation_id}", uuid),
        ("{transfer_id}", uuid),
        ("{token_id}", uuid),
        ("{username}", "pricing"),
        ("{customer_mobile}", "13800138000"),
        ("{code}", "330782"),
    ]
    .iter()
    .fold(path.to_owned(), |p, (k, v)| p.replace(k, v))
}

async fn every_route_answers_each_role_as_the_table_says(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let who = principals(&app).await;
    // Signing out ends the member's session: those rows go last.
    let mut rules: Vec<_> = RULES.iter().collect();
    rules.sort_by_key(|r| r.method == "DELETE");
    let mut wrong = vec![];
    for rule in rules {
        let method = Method::from_bytes(rule.method.as_bytes()).unwrap();
        let body = (method != Method::GET).then(|| json!({}));
        for (role, cred) in &who {
            let (status, answer) = send(&app, cred, method.clone(), &sample(rule.path), body.clone()).await;
            let code = answer["code"].as_str().map(str::to_owned).or_else(|| page_code(&answer)).unwrap_or_default();
            let code = code.as_str();
            let expected = match (rule.gate, role) {
                (Gate::Public, _) => "passes",
                (Gate::Roles(_), None) => "401",
                (Gate::Roles(roles), Some(r)) if roles.contains(r) => "passes",
                (Gate::Roles(_), Some(_)) => "403",
            };
            let got = match (status.as_u16(), code) {
                (401, _) => "401",
                // A page sends someone not signed in to the sign-in page.
                (303, _) if answer.as_str().is_some_and(|to| to.starts_with("/login?")) => "401",
                (403, "forbidden") => "403",
                _ => "passes",
            };
            if got != expected {
                wrong.push(format!("{} {} as {role:?}: expected {expected}, got {status} {answer}", rule.method, rule.path));
            }
        }
    }
    assert!(wrong.is_empty(), "cells that do not answer as documented:\n{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_route_has_a_rule_and_the_docs_hold_the_table() {
    let app = spawn_app(Backend::Sqlite).await;
    let (_, doc) = app.get("/api/v1/openapi.json").await;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
            assert!(rule_for(&m, path).is_some(), "{method} {path} has no access rule");
        }
    }
    for rule in RULES {
        let documented = doc["paths"][rule.path][rule.method.to_ascii_lowercase()].is_object();
        // Pages, metrics and the API's own documents are not in the API's document.
        let outside = !rule.path.starts_with("/api/") || matches!(rule.path, "/api/v1/openapi.json" | "/api/v1/docs");
        assert!(documented || outside, "{} {} is ruled but not served", rule.method, rule.path);
    }
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/access.md")).unwrap();
    assert!(docs.contains(&markdown_table()), "docs/access.md does not hold the access table; it should read:\n{}", markdown_table());
}

async fn a_session_needs_its_csrf_token_for_every_change_and_ends_at_sign_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let hash = secrets::hash_password("pricing password").await;
    app.db.create_account("pricer", binding(Role::Pricing, &[], None), hash, None).await.unwrap();
    app.seed_basics().await;
    let (s, p) =
        send(&app, &Cred::None, Method::POST, "/api/v1/sessions", Some(json!({"username": "pricer", "password": "wrong password"}))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_credentials")));
    let res =
        bare().post(app.url("/api/v1/sessions")).json(&json!({"username": "pricer", "password": "pricing password"})).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let secret = cookie.split(';').next().unwrap().strip_prefix("tongjia_session=").unwrap().to_owned();
    let me: Value = res.json().await.unwrap();
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(me["role"], "pricing");
    let price = json!({"list_price_fen": 129900});
    let path = "/api/v1/skus/NOTE13-BLK/prices";
    let res =
        bare().delete(app.url("/api/v1/sessions/current")).header("cookie", format!("tongjia_session={secret}")).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "signing out needs the CSRF token too");
    for forged in ["", "0000", &csrf[..csrf.len() - 1]] {
        let (s, p) = send(&app, &Cred::Session(secret.clone(), forged.to_owned()), Method::POST, path, Some(price.clone())).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("csrf_token_invalid")), "CSRF token {forged:?}");
    }
    let session = Cred::Session(secret.clone(), csrf.clone());
    assert_eq!(send(&app, &session, Method::POST, path, Some(price.clone())).await.0, StatusCode::CREATED);
    // Another session's CSRF token does not do.
    let other = member_session(&app, "13900139000").await;
    let Cred::Session(_, other_csrf) = other else { unreachable!() };
    let (s, _) = send(&app, &Cred::Session(secret.clone(), other_csrf), Method::POST, path, Some(price.clone())).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // A forged cookie is no one.
    let forged = Cred::Session(secrets::random_secret("tjs_"), csrf.clone());
    assert_eq!(send(&app, &forged, Method::POST, path, Some(price.clone())).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(send(&app, &session, Method::GET, "/api/v1/sessions/current", None).await.1["name"], "pricer");
    assert_eq!(send(&app, &session, Method::DELETE, "/api/v1/sessions/current", None).await.0, StatusCode::NO_CONTENT);
    let (s, res) = send(&app, &session, Method::POST, path, Some(price)).await;
    assert_eq!((s, res["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("unauthenticated")), "a session signed out is over");
    let res = bare().get(app.url("/api/v1/sessions/current")).send().await.unwrap();
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
}

async fn repeated_failed_sign_ins_are_refused_for_a_while(backend: Backend) {
    let app = spawn_app(backend).await;
    let hash = secrets::hash_password("the right password").await;
    app.db.create_account("target", binding(Role::HqAdmin, &[], None), hash, None).await.unwrap();
    for _ in 0..LOGIN_FAILURES_PER_ACCOUNT {
        let (s, _) =
            send(&app, &Cred::None, Method::POST, "/api/v1/sessions", Some(json!({"username": "target", "password": "guess guess"}))).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let res = bare()
        .post(app.url("/api/v1/sessions"))
        .json(&json!({"username": "target", "password": "the right password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "locked, even with the right password");
    assert!(res.headers().contains_key("retry-after"));
    // An unknown account counts as well, and answers exactly like a wrong password.
    let (s, p) =
        send(&app, &Cred::None, Method::POST, "/api/v1/sessions", Some(json!({"username": "nobody", "password": "guess guess"}))).await;
    assert_eq!((s, p["detail"].as_str()), (StatusCode::UNAUTHORIZED, Some("the username or password is wrong")));
}

async fn tokens_are_shown_once_and_stop_working_when_revoked_expired_or_read_only(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let admin = Cred::Token(app.token.clone());
    let (s, made) =
        send(&app, &admin, Method::POST, "/api/v1/tokens", Some(json!({"name": "till D-1", "scope": "read", "expires_in_days": 30}))).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let secret = made["token"].as_str().unwrap().to_owned();
    let reader = Cred::Token(secret.clone());
    assert_eq!(send(&app, &reader, Method::GET, "/api/v1/stock", None).await.0, StatusCode::OK);
    let (s, p) =
        send(&app, &reader, Method::POST, "/api/v1/products", Some(json!({"product_code": "X1", "name": "X", "category": "phone"}))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "a read-only token changes nothing");
    let (_, listed) = send(&app, &admin, Method::GET, "/api/v1/tokens", None).await;
    assert!(listed.to_string().contains("till D-1") && !listed.to_string().contains(&secret), "listed without its secret");
    let id = made["token_id"].as_str().unwrap();
    assert_eq!(send(&app, &admin, Method::POST, &format!("/api/v1/tokens/{id}/revocation"), None).await.0, StatusCode::OK);
    let (s, p) = send(&app, &reader, Method::GET, "/api/v1/stock", None).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_token")), "revoked at once");
    // An expired token: made valid for a day, read a day and a second later.
    let (_, secret) = issue_token(&app.db, "admin", "short", TokenScope::Full, 1, "account:admin", None).await.unwrap();
    let clock = tongjia_storage::Clock::simulated(jiff::Timestamp::now());
    clock.advance(jiff::SignedDuration::from_secs(86_401));
    let later = app.db.clone().with_clock(clock);
    assert!(later.live_token(&secrets::digest(&secret)).await.unwrap().is_none(), "expired");
    assert!(app.db.live_token(&secrets::digest(&secret)).await.unwrap().is_some());
    // A clerk cannot make tokens for someone else, nor revoke another's.
    let clerk = Cred::Token(bootstrap_token(&app.db, "clerk", binding(Role::StoreStaff, &["D-1"], None), "t").await.unwrap());
    let (s, _) = send(&app, &clerk, Method::POST, "/api/v1/tokens", Some(json!({"name": "x", "username": "admin"}))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, own) = send(&app, &admin, Method::GET, "/api/v1/tokens?username=admin", None).await;
    let admins = own["items"][0]["token_id"].as_str().unwrap();
    assert_eq!(send(&app, &clerk, Method::POST, &format!("/api/v1/tokens/{admins}/revocation"), None).await.0, StatusCode::NOT_FOUND);
    // Signing out is for sessions: a token is revoked instead.
    let (s, p) = send(&app, &clerk, Method::DELETE, "/api/v1/sessions/current", None).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::CONFLICT, Some("no_session")));
    // Disabling an account revokes its tokens: enabling it again does not bring them back.
    assert!(
        app.client.patch(app.url("/api/v1/accounts/clerk")).json(&json!({"disabled": true})).send().await.unwrap().status().is_success()
    );
    assert!(
        app.client.patch(app.url("/api/v1/accounts/clerk")).json(&json!({"disabled": false})).send().await.unwrap().status().is_success()
    );
    assert_eq!(send(&app, &clerk, Method::GET, "/api/v1/stock?location_code=D-1", None).await.0, StatusCode::UNAUTHORIZED);
    let (s, p) = send(&app, &Cred::Token("tjt_not-a-token".into()), Method::GET, "/api/v1/skus", None).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_token")),
        "a bad token is refused even where no one is needed"
    );
}

async fn an_idempotency_key_belongs_to_its_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    let merch = Cred::Token(bootstrap_token(&app.db, "merch", binding(Role::Merchandiser, &[], None), "t").await.unwrap());
    let admin = Cred::Token(app.token.clone());
    let body = json!({"product_code": "K1", "name": "Keyed", "category": "phone"});
    let post = async |cred: &Cred| {
        cred.apply(bare().post(app.url("/api/v1/products"))).header("Idempotency-Key", "k-1").json(&body).send().await.unwrap()
    };
    let first = post(&merch).await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let replay = post(&merch).await;
    assert!(replay.headers().contains_key("idempotent-replayed"), "the same caller replays");
    let other = post(&admin).await;
    assert!(!other.headers().contains_key("idempotent-replayed"), "another caller's key is not replayed to them");
    assert_eq!(other.status(), StatusCode::CONFLICT, "it is decided afresh: the product exists");
    let _ = ok(app.get("/api/v1/products/K1").await);
}

async fn clerks_partners_and_members_act_only_within_their_own(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    ok(app.post("/api/v1/partners", json!({"partner_code": "P-GD", "name": "Guangdong"})).await);
    for (code, partner) in [("D-1", "brand"), ("T-1", "partner:P-ZJ")] {
        ok(app
            .post("/api/v1/stock/receipts", json!({"location_code": code, "sku_code": "NOTE13-BLK", "quantity": 10, "owner": partner}))
            .await);
        ok(app.post("/api/v1/stock/receipts", json!({"location_code": code, "sku_code": "NOTE13-BLK", "quantity": 10})).await);
    }
    let clerk = Cred::Token(bootstrap_token(&app.db, "clerk", binding(Role::StoreStaff, &["D-1"], None), "t").await.unwrap());
    let zj = Cred::Token(bootstrap_token(&app.db, "partner-zj", binding(Role::Partner, &[], Some("P-ZJ")), "t").await.unwrap());
    let gd = Cred::Token(bootstrap_token(&app.db, "partner-gd", binding(Role::Partner, &[], Some("P-GD")), "t").await.unwrap());
    let sale = |at: &str| json!({"location_code": at, "sku_code": "NOTE13-BLK", "quantity": 1});
    // A clerk sells, receives and counts at their store, and nowhere else.
    assert_eq!(send(&app, &clerk, Method::POST, "/api/v1/stock/sales", Some(sale("D-1"))).await.0, StatusCode::CREATED);
    for path in ["/api/v1/stock/sales", "/api/v1/stock/receipts", "/api/v1/reservations"] {
        let (s, p) = send(&app, &clerk, Method::POST, path, Some(sale("T-1"))).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("outside_scope")), "{path} at another store: {p}");
    }
    let till = json!({"store_code": "T-1", "fulfilment": "carry_out", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]});
    let (s, p) = send(&app, &clerk, Method::POST, "/api/v1/orders", Some(till)).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("outside_scope")), "a till sale at another store");
    // An order at T-1 is hidden from the clerk of D-1, readable by T-1's partner only.
    let order = ok(app
        .post(
            "/api/v1/orders",
            json!({"store_code": "T-1", "fulfilment": "carry_out", "customer_mobile": "13800138000", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
        )
        .await);
    let path = format!("/api/v1/orders/{}", order["order_id"].as_str().unwrap());
    assert_eq!(send(&app, &clerk, Method::GET, &path, None).await.0, StatusCode::NOT_FOUND);
    let pay = json!({"amount_fen": order["total_fen"], "external_reference": "cash-1", "method": "cash"});
    assert_eq!(send(&app, &clerk, Method::POST, &format!("{path}/payments"), Some(pay)).await.0, StatusCode::NOT_FOUND);
    let (s, seen) = send(&app, &zj, Method::GET, &path, None).await;
    assert_eq!((s, seen["customer_mobile"].as_str()), (StatusCode::OK, Some("138****8000")), "a partner sees its stores' sales, masked");
    assert!(seen["sourcing"].is_null(), "no distances from the destination either: {seen}");
    let oracle = send(&app, &zj, Method::GET, "/api/v1/orders?store_code=T-1&customer_mobile=13800138000", None).await;
    assert_eq!(
        (oracle.0, oracle.1["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("outside_scope")),
        "no yes-or-no per mobile for a partner"
    );
    let (s, p) =
        app.client.patch(app.url("/api/v1/accounts/admin")).json(&json!({"disabled": true})).send().await.map(|r| (r.status(), r)).unwrap();
    assert_eq!(s, StatusCode::CONFLICT, "the last hq_admin stays: {:?}", p.text().await);
    assert_eq!(app.get(&path).await.1["customer_mobile"], "13800138000", "headquarters sees the member");
    assert_eq!(send(&app, &gd, Method::GET, &path, None).await.0, StatusCode::NOT_FOUND);
    // Stock: a partner reads its own store, not another's, and must say which.
    assert_eq!(send(&app, &zj, Method::GET, "/api/v1/stock?location_code=T-1", None).await.0, StatusCode::OK);
    // Outside headquarters, events are the price feed and one's own locations'.
    let events = |v: &Value| v["items"].as_array().unwrap().clone();
    let (s, feed) = send(&app, &clerk, Method::GET, "/api/v1/events?limit=500", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(events(&feed).iter().any(|e| e["event_type"] == "price.scheduled"), "a till follows every price change");
    assert!(events(&feed).iter().any(|e| e["subject"] == "D-1/NOTE13-BLK"), "and its own store's stock");
    let theirs: Vec<Value> = events(&feed)
        .into_iter()
        .filter(|e| e["event_type"].as_str().is_some_and(|t| t.starts_with("stock.") || t.starts_with("order.")))
        .filter(|e| e.to_string().contains("T-1"))
        .collect();
    assert!(theirs.is_empty(), "no stock or order of T-1's: {theirs:?}");
    let (_, partner_feed) = send(&app, &zj, Method::GET, "/api/v1/events?limit=500", None).await;
    let its_sale: Vec<Value> = events(&partner_feed)
        .into_iter()
        .filter(|e| e["payload"]["order_id"] == order["order_id"] || e["subject"] == order["order_id"])
        .collect();
    assert!(its_sale.iter().any(|e| e["event_type"] == "order.placed"), "P-ZJ sees its store's sale: {partner_feed}");
    let text = serde_json::to_string(&partner_feed).unwrap();
    assert!(!text.contains("13800138000") && text.contains("138****8000"), "masked: {text}");
    let (_, gd_feed) = send(&app, &gd, Method::GET, "/api/v1/events?limit=500", None).await;
    assert!(!serde_json::to_string(&gd_feed).unwrap().contains(order["order_id"].as_str().unwrap()), "P-GD sees none of it");
    for (who, path) in [(&gd, "/api/v1/stock?location_code=T-1"), (&zj, "/api/v1/stock?location_code=D-1"), (&zj, "/api/v1/stock")] {
        let (s, p) = send(&app, who, Method::GET, path, None).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("outside_scope")), "{path}");
    }
    let (s, p) = send(&app, &zj, Method::POST, "/api/v1/stock/receipts", Some(sale("T-1"))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("forbidden")), "a partner changes nothing");
    // Taken back at D-1, the T-1 sale is answered without what the clerk may not see.
    ok(app.pay_online(&order, "wx-t1-sale").await);
    let back = json!({"store_code": "D-1", "lines": [{"line_no": 1, "quantity": 1}]});
    let (s, returned) = send(&app, &clerk, Method::POST, &format!("{path}/returns"), Some(back)).await;
    assert_eq!((s, returned["customer_mobile"].as_str()), (StatusCode::CREATED, Some("138****8000")), "{returned}");
    assert_eq!(returned["payments"][0]["external_reference"], "***");
    // A pickup at D-1 is paid at its counter in cash or by card, never as a claimed online payment.
    let pickup = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "pickup", "pickup_store_code": "D-1", "lines": [{"sku_code": "NOTE13-BLK", "quantity": 1}]}),
        )
        .await);
    let pickup_path = format!("/api/v1/orders/{}", pickup["order_id"].as_str().unwrap());
    let claim = json!({"amount_fen": pickup["total_fen"], "external_reference": "wx-fake", "method": "wechat_pay"});
    let (s, p) = send(&app, &clerk, Method::POST, &format!("{pickup_path}/payments"), Some(claim)).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::FORBIDDEN, Some("outside_scope")), "{p}");
    let cash = json!({"amount_fen": pickup["total_fen"], "external_reference": "till-1", "method": "cash"});
    assert_eq!(send(&app, &clerk, Method::POST, &format!("{pickup_path}/payments"), Some(cash)).await.0, StatusCode::CREATED);
    // A clerk's own orders list is its store's.
    let (s, listed) = send(&app, &clerk, Method::GET, "/api/v1/orders", None).await;
    assert_eq!(s, StatusCode::OK);
    assert!(listed["items"].as_array().unwrap().is_empty(), "D-1 has no orders: {listed}");
    assert_eq!(send(&app, &clerk, Method::GET, "/api/v1/orders?store_code=T-1", None).await.0, StatusCode::FORBIDDEN);
}

async fn members_sign_in_with_a_texted_code_and_only_they_spend_their_points(backend: Backend) {
    let app = spawn_app(backend).await;
    let (member, other) = ("13800138000", "13900139000");
    // Another member (or anyone) asking about a number gets the same answer, member or not.
    let me = app.member(member).await;
    let customer = |m: &str| format!("/api/v1/customers/{m}");
    let res = me.get(app.url(&customer(member))).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND, "not a member yet (no orders): the member may know that");
    for path in [customer(other), format!("{}/orders", customer(other)), format!("{}/points", customer(other))] {
        let res = me.get(app.url(&path)).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{path}");
        assert_eq!(send(&app, &Cred::None, Method::GET, &path, None).await.0, StatusCode::UNAUTHORIZED);
    }
    // A code once used is gone; a second request within the minute is refused.
    let (s, _) = send(&app, &Cred::None, Method::POST, "/api/v1/member-codes", Some(json!({"customer_mobile": other}))).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = send(&app, &Cred::None, Method::POST, "/api/v1/member-codes", Some(json!({"customer_mobile": other}))).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let code = app.last_code(other);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for _ in 0..tongjia_domain::access::MEMBER_CODE_TRIES {
        let (s, p) =
            send(&app, &Cred::None, Method::POST, "/api/v1/member-sessions", Some(json!({"customer_mobile": other, "code": wrong}))).await;
        assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_code")));
    }
    let (s, p) =
        send(&app, &Cred::None, Method::POST, "/api/v1/member-sessions", Some(json!({"customer_mobile": other, "code": code}))).await;
    assert_eq!((s, p["code"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("code_expired")), "five wrong tries end a code");
    let texts = std::fs::read_to_string(&app.sms).unwrap();
    assert!(texts.contains(other) && texts.contains("验证码"), "{texts}");
}

async fn every_change_is_in_the_audit_trail_with_who_when_and_from_where(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_basics().await;
    let pricer = Cred::Token(bootstrap_token(&app.db, "pricing", binding(Role::Pricing, &[], None), "t").await.unwrap());
    let res = pricer
        .apply(bare().post(app.url("/api/v1/skus/NOTE13-BLK/prices")))
        .header("user-agent", "till-app/2.1")
        .header("Idempotency-Key", "drop-1")
        .json(&json!({"list_price_fen": 129900}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    // A refused change leaves no record: it is written in the change's own transaction.
    let (s, _) = send(&app, &pricer, Method::POST, "/api/v1/skus/NOPE/prices", Some(json!({"list_price_fen": 1}))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let hash = secrets::hash_password("a fine password").await;
    app.db.create_account("signer", binding(Role::Merchandiser, &[], None), hash, None).await.unwrap();
    let (s, _) =
        send(&app, &Cred::None, Method::POST, "/api/v1/sessions", Some(json!({"username": "signer", "password": "a fine password"}))).await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, trail) = app.get("/api/v1/audit?principal=account:pricing").await;
    assert_eq!(s, StatusCode::OK, "{trail}");
    let items = trail["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the price, not the refusal: {trail}");
    let r = &items[0];
    assert_eq!(
        (r["role"].as_str(), r["address"].as_str(), r["user_agent"].as_str()),
        (Some("pricing"), Some("127.0.0.1"), Some("till-app/2.1"))
    );
    assert_eq!(
        (r["action"].as_str(), r["idempotency_key"].as_str(), r["status"].as_u64()),
        (Some("POST /api/v1/skus/NOTE13-BLK/prices"), Some("drop-1"), Some(201))
    );
    assert!(r["request"].as_str().unwrap().contains("129900") && r["response"].as_str().unwrap().contains("\"price_version\":2"), "{r}");
    let (_, signed) = app.get("/api/v1/audit?principal=account:signer").await;
    let request = signed["items"][0]["request"].as_str().unwrap();
    assert!(request.contains("***") && !request.contains("a fine password"), "no password in the trail: {request}");
    let (_, by_resource) = app.get("/api/v1/audit?resource=/api/v1/skus/NOTE13-BLK").await;
    assert_eq!(by_resource["items"].as_array().unwrap().len(), 2, "the seed's price and the new one: {by_resource}");
    let (_, none) = app.get("/api/v1/audit?principal=account:pricing&to=2020-01-01T00:00:00Z").await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let res = app.client.get(app.url("/api/v1/audit.csv?principal=account:pricing")).send().await.unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = res.text().await.unwrap();
    let lines: Vec<_> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("audit_id,at,principal,role") && lines[1].contains("account:pricing"), "{csv}");
}

tongjia_storage::backend_tests!(
    every_change_is_in_the_audit_trail_with_who_when_and_from_where,
    every_route_answers_each_role_as_the_table_says,
    a_session_needs_its_csrf_token_for_every_change_and_ends_at_sign_out,
    repeated_failed_sign_ins_are_refused_for_a_while,
    tokens_are_shown_once_and_stop_working_when_revoked_expired_or_read_only,
    an_idempotency_key_belongs_to_its_caller,
    clerks_partners_and_members_act_only_within_their_own,
    members_sign_in_with_a_texted_code_and_only_they_spend_their_points,
);
