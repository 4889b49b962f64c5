//! The pages in a real browser: headless Chromium driven over WebDriver (fantoccini and
//! chromedriver, Debian's `chromium` and `chromium-driver`), the journeys a person makes —
//! a clerk signs in, scans three items and sells them; a price change scheduled at
//! headquarters reaches an open till without a reload; a shopper checks a price. Each page
//! is photographed at 1366×768 and at 375 px wide into `target/screenshots/`.
//!
//! Without chromedriver on the machine these tests say so and pass, unless
//! `TONGJIA_BROWSER_TESTS=require` (as `.ci/run` sets), when they fail.

mod common;

use common::{CLERK_PASSWORD, TestApp, ok, spawn_app};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::os::unix::process::CommandExt;
use std::time::Duration;
use tongjia_storage::Backend;

/// One browser at a time: the machine has two cores.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A headless Chromium with its chromedriver, ended with the test.
struct Chromium {
    client: Client,
    /// chromedriver's own address.
    driver_url: String,
    _turn: Option<tokio::sync::MutexGuard<'static, ()>>,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Drop for Chromium {
    /// Ends chromedriver and every browser process it started: they share its process group
    /// (killing chromedriver alone leaves Chromium running, test after test).
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{}", self.driver.id())]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn chromedriver() -> Option<&'static str> {
    ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].into_iter().find(|p| std::path::Path::new(p).exists())
}

/// Starts Chromium (the test's turn), or None (with a note) where the machine has none and
/// none is required.
async fn chromium() -> Option<Chromium> {
    let turn = ONE_AT_A_TIME.lock().await;
    launch(Some(turn)).await
}

/// A second browser in the same test (another person at another screen).
async fn second() -> Chromium {
    launch(None).await.expect("chromedriver, as for the first")
}

async fn launch(turn: Option<tokio::sync::MutexGuard<'static, ()>>) -> Option<Chromium> {
    let Some(driver_bin) = chromedriver() else {
        assert!(
            std::env::var("TONGJIA_BROWSER_TESTS").as_deref() != Ok("require"),
            "TONGJIA_BROWSER_TESTS=require but chromedriver is not installed (apt-get install chromium chromium-driver fonts-noto-cjk)"
        );
        eprintln!("skipped: no chromedriver (apt-get install chromium chromium-driver fonts-noto-cjk)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let driver = std::process::Command::new(driver_bin)
        .process_group(0)
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let profile = tempfile::tempdir().unwrap();
    let args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,768",
        "--lang=zh-CN",
    ];
    let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    args.push(format!("--user-data-dir={}", profile.path().display()));
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), json!({"args": args, "binary": "/usr/bin/chromium"}));
    let url = format!("http://127.0.0.1:{port}");
    let mut last = None;
    for _ in 0..50 {
        match ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new()).capabilities(caps.clone()).connect(&url).await {
            Ok(client) => return Some(Chromium { client, driver_url: url, _turn: turn, driver, _profile: profile }),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer: {last:?}");
}

impl Chromium {
    async fn goto(&self, app: &TestApp, path: &str) {
        self.client.goto(&app.url(path)).await.expect("the page loads");
    }

    async fn text(&self, css: &str) -> String {
        self.client.wait().at_most(Duration::from_secs(10)).for_element(Locator::Css(css)).await.expect(css).text().await.unwrap()
    }

    /// Waits until the element `css` shows `want`.
    async fn wait_for_text(&self, css: &str, want: &str) -> String {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            let got = match self.client.find(Locator::Css(css)).await {
                Ok(e) => e.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if got.contains(want) {
                return got;
            }
            assert!(std::time::Instant::now() < deadline, "{css} never showed {want:?}; it shows {got:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Types into the field `css` and presses Enter, as a keyboard-wedge scanner does.
    async fn scan(&self, css: &str, code: &str) {
        let field = self.client.wait().for_element(Locator::Css(css)).await.unwrap();
        field.send_keys(&format!("{code}\u{E007}")).await.unwrap();
    }

    /// Photographs the page at desktop and phone width into `target/screenshots/{name}-*.png`.
    async fn photograph(&self, name: &str) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        for (width, height, label) in [(1366, 768, "desktop"), (375, 812, "phone")] {
            self.viewport(width, height).await;
            tokio::time::sleep(Duration::from_millis(100)).await;
            let wide: i64 = self.client.execute("return document.documentElement.scrollWidth", vec![]).await.unwrap().as_i64().unwrap();
            let view: i64 = self.client.execute("return window.innerWidth", vec![]).await.unwrap().as_i64().unwrap();
            assert!(wide <= view + 1, "{name} at {label}: the page is {wide} px wide in a {view} px window (it scrolls sideways)");
            std::fs::write(dir.join(format!("{name}-{label}.png")), self.client.screenshot().await.unwrap()).unwrap();
        }
        self.viewport(1366, 768).await;
    }

    /// Makes the page itself (the viewport) `width` × `height` CSS pixels, as a phone of that
    /// size would (Chrome's device metrics, set over chromedriver's DevTools endpoint: a
    /// headless window is never narrower than 500 px).
    async fn viewport(&self, width: u32, height: u32) {
        let session = self.client.session_id().await.unwrap().expect("a session");
        let body = json!({"cmd": "Emulation.setDeviceMetricsOverride",
            "params": {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}});
        let url = format!("{}/session/{session}/goog/cdp/execute", self.driver_url);
        let res = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap_or_default());
    }

    async fn sign_in(&self, app: &TestApp, username: &str, next: &str) {
        self.goto(app, &format!("/login?next={next}")).await;
        self.client.find(Locator::Css("input[name=username]")).await.unwrap().send_keys(username).await.unwrap();
        self.client.find(Locator::Css("input[name=password]")).await.unwrap().send_keys(CLERK_PASSWORD).await.unwrap();
        self.client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    }
}

async fn a_clerk_scans_three_items_and_sells_them_at_the_price_books_prices(backend: Backend) {
    let Some(browser) = chromium().await else { return };
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    browser.goto(&app, "/till/D-1").await;
    browser.wait_for_text("h1", "登录").await;
    browser.photograph("login").await;
    browser.sign_in(&app, "clerk", "/till/D-1").await;
    browser.wait_for_text("#till h1", "Store D-1").await;
    browser.client.wait().for_element(Locator::Css("#till[data-live=true]")).await.expect("the till hears price changes");
    browser.photograph("till-empty").await;
    for code in ["6901234567892", "6901234567823", "6901234567823"] {
        let before = browser.client.execute("return document.querySelectorAll('#sale input[name=line]').length", vec![]).await.unwrap();
        browser.scan("#scan-input", code).await;
        // Each scan swaps the cart in; wait for it before the next.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while browser.client.execute("return document.querySelector('#scan-input').value", vec![]).await.unwrap() != "" {
            assert!(std::time::Instant::now() < deadline, "the scan field was not cleared");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = before;
    }
    browser.wait_for_text("#cart-total", "¥1,597.00").await;
    assert!(browser.client.find(Locator::Css("input[name*=price]")).await.is_err(), "no field for a price");
    // A forged post from the page itself, with its CSRF token: refused, nothing sold.
    let forged = browser
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1];
               const token = JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRF-Token'];
               fetch('/till/D-1/sale', {method: 'POST', headers: {'X-CSRF-Token': token, 'Content-Type': 'application/x-www-form-urlencoded'},
                 body: 'line=NOTE13-BLK*1&unit_price_fen=1&method=cash'}).then(r => done(r.status));"#,
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(forged, json!(422));
    browser.photograph("till-cart").await;
    browser.client.find(Locator::Css("button[name=method][value=cash]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#receipt-total", "¥1,597.00").await;
    let receipt = browser.text("#receipt").await;
    assert!(receipt.contains("价格版本 v1") && receipt.contains("Lumen Note 13 Case"), "{receipt}");
    browser.photograph("till-receipt").await;
    let (_, orders) = app.get("/api/v1/orders?store_code=D-1").await;
    assert_eq!(orders["items"][0]["status"], "completed");
    assert_eq!(orders["items"][0]["total_fen"], 159_700);
}

async fn a_price_change_at_headquarters_appears_in_an_open_till_without_a_reload(backend: Backend) {
    let Some(browser) = chromium().await else { return };
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    browser.sign_in(&app, "clerk", "/till/D-1").await;
    browser.client.wait().for_element(Locator::Css("#till[data-live=true]")).await.expect("the till hears price changes");
    browser.scan("#scan-input", "6901234567892").await;
    browser.wait_for_text("#cart-total", "¥1,399.00").await;
    // A mark the page keeps until it is reloaded.
    browser.client.execute("window.tongjiaMark = 'open'", vec![]).await.unwrap();
    let at = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(2)).unwrap();
    ok(app
        .post("/api/v1/skus/NOTE13-BLK/prices", json!({"list_price_fen": 129_900, "effective_at": at.to_string(), "note": "Double 12"}))
        .await);
    browser.wait_for_text("#cart-total", "¥1,299.00").await;
    let shown = jiff::Timestamp::now();
    assert!(shown >= at && shown.duration_since(at) < jiff::SignedDuration::from_millis(1500), "shown {}", shown.duration_since(at));
    let mark = browser.client.execute("return window.tongjiaMark || null", vec![]).await.unwrap();
    assert_eq!(mark, json!("open"), "the till was not reloaded");
    assert!(browser.text("#price-news").await.contains("NOTE13-BLK"));
    browser.photograph("till-price-change").await;
}

async fn a_shopper_checks_the_price_and_browses_the_storefront(backend: Backend) {
    let Some(browser) = chromium().await else { return };
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    browser.goto(&app, "/").await;
    browser.wait_for_text("main", "¥1,399.00").await;
    browser.photograph("storefront").await;
    browser.goto(&app, "/p/NOTE13-BLK?division_code=330106").await;
    browser.wait_for_text(".price", "¥1,399.00").await;
    assert!(browser.text("main").await.contains("Store D-1"));
    browser.photograph("price-check").await;
    // Into the basket from the price check and from the catalogue, then one order of both.
    browser.client.find(Locator::Css("form.add button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#basket", "¥1,329.00").await;
    browser.goto(&app, "/?q=Case").await;
    browser.client.wait().for_element(Locator::Css("form.add button")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#basket-total", "¥1,428.00").await;
    browser.goto(&app, "/basket?division_code=330106").await;
    browser.client.wait().for_element(Locator::Css("input[value='pickup:D-1']")).await.unwrap().click().await.unwrap();
    browser.client.find(Locator::Css("input[name=mobile]")).await.unwrap().send_keys("13800138000").await.unwrap();
    browser.client.execute("document.activeElement.blur(); window.scrollTo(0, 0)", vec![]).await.unwrap();
    browser.photograph("basket").await;
    browser.client.find(Locator::Css("#checkout button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#order-status", "待支付").await;
    assert_eq!(browser.client.find_all(Locator::Css("#order tr")).await.unwrap().len(), 2, "one order of both lines");
    browser.goto(&app, "/basket").await;
    browser.wait_for_text("#basket", "购物车是空的").await;
    browser.goto(&app, "/p/NO-SUCH-SKU").await;
    assert!(browser.text("main").await.contains("no SKU NO-SUCH-SKU"));
}

/// An `hq_admin` who signs in with a password (the tests' own `admin` has only a token).
async fn headquarters(app: &TestApp) {
    ok(app.post("/api/v1/accounts", json!({"username": "hqadmin", "password": CLERK_PASSWORD, "role": "hq_admin"})).await);
}

async fn a_shopper_orders_for_pickup_the_till_hands_it_over_and_the_dashboard_shows_it(backend: Backend) {
    let Some(browser) = chromium().await else { return };
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    headquarters(&app).await;
    browser.goto(&app, "/").await;
    browser.client.find(Locator::Css("a.buy")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("main", "省份").await;
    browser.goto(&app, "/buy/NOTE13-BLK?division_code=330106").await;
    browser.client.wait().for_element(Locator::Css("input[value='pickup:D-1']")).await.unwrap().click().await.unwrap();
    browser.client.find(Locator::Css("input[name=mobile]")).await.unwrap().send_keys("13800138000").await.unwrap();
    browser.photograph("checkout").await;
    browser.client.find(Locator::Css("#checkout button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#order-status", "待支付").await;
    browser.client.find(Locator::Css("#pay")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#order-status", "已支付").await;
    let code = browser.text("#pickup-code strong").await;
    assert_eq!(code.len(), 6, "{code}");
    browser.photograph("order-paid").await;
    // At the store: the clerk marks it ready and hands it over against the code.
    browser.sign_in(&app, "clerk", "/till/D-1").await;
    browser.client.wait().for_element(Locator::Css("#till[data-live=true]")).await.unwrap();
    browser.client.find(Locator::XPath("//button[contains(., '查看待自提订单')]")).await.unwrap().click().await.unwrap();
    browser.client.wait().for_element(Locator::Css("#pickups .pickup button")).await.unwrap().click().await.unwrap();
    browser.scan("#pickups input[name=code]", &code).await;
    browser.client.wait().for_element(Locator::Css("#handed[data-status=completed]")).await.expect("handed over");
    browser.photograph("till-pickup").await;
    // Headquarters sees the sale on the dashboard.
    browser.sign_in(&app, "hqadmin", "/console").await;
    // A shopper who gives a mobile is a member, and pays the member price.
    browser.wait_for_text("#by-channel", "¥1,329.00").await;
    assert!(browser.text("#by-channel").await.contains("线上"));
    browser.photograph("console-dashboard").await;
}

async fn a_price_change_scheduled_in_the_console_reaches_an_open_till(backend: Backend) {
    let Some(till) = chromium().await else { return };
    let hq = second().await;
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    headquarters(&app).await;
    till.sign_in(&app, "clerk", "/till/D-1").await;
    till.client.wait().for_element(Locator::Css("#till[data-live=true]")).await.unwrap();
    till.scan("#scan-input", "6901234567892").await;
    till.wait_for_text("#cart-total", "¥1,399.00").await;
    till.client.execute("window.tongjiaMark = 'open'", vec![]).await.unwrap();
    hq.sign_in(&app, "hqadmin", "/console/prices?sku_code=NOTE13-BLK").await;
    hq.client.wait().for_element(Locator::Css("input[name=list_price]")).await.unwrap().send_keys("1299").await.unwrap();
    // Three seconds from now, in China's time, as the form's clock field takes it.
    let at = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_secs(3)).unwrap();
    let local = at.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).strftime("%Y-%m-%dT%H:%M:%S").to_string();
    hq.client.execute("document.querySelector('input[name=effective_at]').value = arguments[0]", vec![json!(local)]).await.unwrap();
    hq.photograph("console-price-form").await;
    hq.client.find(Locator::Css("#schedule button[type=submit]")).await.unwrap().click().await.unwrap();
    hq.client.wait().for_element(Locator::Css("#history tr[data-version='2']")).await.expect("the history");
    till.wait_for_text("#cart-total", "¥1,299.00").await;
    let shown = jiff::Timestamp::now();
    let at = jiff::Timestamp::from_second(at.as_second()).unwrap();
    assert!(shown >= at && shown.duration_since(at) < jiff::SignedDuration::from_millis(1500), "shown {}", shown.duration_since(at));
    assert_eq!(till.client.execute("return window.tongjiaMark || null", vec![]).await.unwrap(), json!("open"), "no reload");
    // The console counts the till told, without a reload either.
    hq.wait_for_text("#history tr[data-version='2'] .reach", "1").await;
    hq.photograph("console-prices").await;
}

async fn a_township_store_takes_back_an_online_order_at_its_till(backend: Backend) {
    let Some(browser) = chromium().await else { return };
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    ok(app
        .post("/api/v1/accounts", json!({"username": "township", "password": CLERK_PASSWORD, "role": "store_staff", "stores": ["T-1"]}))
        .await);
    ok(app.post("/api/v1/stock/receipts", json!({"location_code": "WH-S", "sku_code": "CASE-1", "quantity": 3})).await);
    let order: serde_json::Value = ok(app
        .post(
            "/api/v1/orders",
            json!({"fulfilment": "delivery", "customer_mobile": "13800138000", "destination": {"county_code": "330106"},
            "lines": [{"sku_code": "CASE-1", "quantity": 1}]}),
        )
        .await);
    let id = order["order_id"].as_str().unwrap().to_owned();
    ok(app.pay_online(&order, "tx-return-1").await);
    for step in ["fulfilment", "shipment", "delivery"] {
        ok(app.post(&format!("/api/v1/orders/{id}/{step}"), json!({})).await);
    }
    browser.sign_in(&app, "township", "/till/T-1").await;
    browser.scan("input[name=order_id]", &id).await;
    browser.client.wait().for_element(Locator::Css("#returns input[name=return_1]")).await.unwrap();
    browser.client.execute("document.querySelector('#returns input[name=return_1]').value = '1'", vec![]).await.unwrap();
    browser.client.find(Locator::Css("#returns button[type=submit]")).await.unwrap().click().await.unwrap();
    browser.wait_for_text("#refund", "¥99.00").await;
    browser.photograph("till-return").await;
    let (_, after) = app.get(&format!("/api/v1/orders/{id}")).await;
    assert_eq!(after["refunded_fen"], 9900);
}

async fn the_console_draws_the_coverage_map_and_a_sheet_of_shelf_labels(backend: Backend) {
    let Some(browser) = chromium().await else { return };
    let app = spawn_app(backend).await;
    app.seed_till("clerk", &["D-1"]).await;
    headquarters(&app).await;
    browser.sign_in(&app, "hqadmin", "/console/map").await;
    browser.client.wait().for_element(Locator::Css("#coverage-map #provinces path")).await.expect("the map");
    let drawn: i64 =
        browser.client.execute("return document.querySelectorAll('#coverage-map circle').length", vec![]).await.unwrap().as_i64().unwrap();
    assert!(drawn > 2_800, "{drawn}");
    browser.photograph("console-map").await;
    browser.goto(&app, "/console/labels").await;
    browser.client.wait().for_element(Locator::Css("#label-sheet .label")).await.expect("labels");
    browser.photograph("shelf-labels").await;
    browser.goto(&app, "/console/orders").await;
    browser.photograph("console-orders").await;
    browser.goto(&app, "/console/audit").await;
    browser.photograph("console-audit").await;
    browser.goto(&app, "/console/prices/NOTE13-BLK").await;
    browser.photograph("console-price-history").await;
}

tongjia_storage::backend_tests!(
    a_shopper_orders_for_pickup_the_till_hands_it_over_and_the_dashboard_shows_it,
    a_price_change_scheduled_in_the_console_reaches_an_open_till,
    a_township_store_takes_back_an_online_order_at_its_till,
    the_console_draws_the_coverage_map_and_a_sheet_of_shelf_labels,
    a_clerk_scans_three_items_and_sells_them_at_the_price_books_prices,
    a_price_change_at_headquarters_appears_in_an_open_till_without_a_reload,
    a_shopper_checks_the_price_and_browses_the_storefront,
);
