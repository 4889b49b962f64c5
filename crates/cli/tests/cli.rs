//! End-to-end tests of the `tongjia` binary: imports, demo seeding, graceful shutdown.

mod common;

use common::{CATALOG_HEADER, get_json, serve, stop, tongjia, write};
use tongjia_storage::testing::TestDb;
use tongjia_storage::{Backend, Db, PageRequest, SkuFilter, StockFilter};

async fn sku_count(db: &str) -> usize {
    let db = Db::connect(db).await.unwrap();
    let n = db.skus(&SkuFilter::default(), &PageRequest { limit: Some(500), after: None }).await.unwrap().items.len();
    db.close().await;
    n
}

async fn a_bad_catalog_row_is_reported_by_line_and_nothing_is_imported(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();
    let bad = write(
        dir.path(),
        "bad.csv",
        &format!(
            "{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,colour=Black;memory=256GB,6901234567892,true,139900\n\
             NOTE13,Lumen Note 13,phone,NOTE13-BLU,Blue,colour=Blue,6901234567893,true,139900\n\
             NOTE13,Lumen Note 13,phone,NOTE13-RED,Red,colour=Red,6901234567809,true,-5\n"
        ),
    );
    let (ok, out) = tongjia(&db, &["import", "catalog", &bad]);
    assert!(!ok, "{out}");
    assert!(out.contains("line 3: gtin"), "{out}");
    assert!(out.contains("line 4: list_price_fen"), "{out}");
    assert_eq!(sku_count(&db).await, 0, "a failed import writes nothing");

    let good = write(
        dir.path(),
        "good.csv",
        &format!(
            "{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,colour=Black;memory=256GB,6901234567892,true,139900\n\
             NOTE13,Lumen Note 13,phone,NOTE13-BLU,Blue,colour=Blue,6901234567809,true,139900\n"
        ),
    );
    for _ in 0..2 {
        let (ok, out) = tongjia(&db, &["import", "catalog", &good]);
        assert!(ok, "{out}");
        assert!(out.contains("imported 2 SKUs"), "{out}");
    }
    assert_eq!(sku_count(&db).await, 2);
    let db = Db::connect(&db).await.unwrap();
    let versions = db.price_versions(&tongjia_domain::codes::SkuCode::parse("NOTE13-BLK").unwrap()).await.unwrap();
    assert_eq!(versions.len(), 1, "re-importing the same price schedules no new version");
}

async fn stores_and_stock_import_all_or_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();
    let catalog =
        write(dir.path(), "c.csv", &format!("{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567892,true,139900\n"));
    assert!(tongjia(&db, &["import", "catalog", &catalog]).0);
    let stores = write(
        dir.path(),
        "s.csv",
        "store_code,name,kind,county_code,township_code,longitude,latitude,status,opened_on,closed_on,pickup,ship_from_store,delivery_radius_km,partner_code,partner_name\n\
         D-1,West Lake,direct,330106,,120.13,30.26,open,2025-03-01,,true,true,10,,\n\
         T-1,Fotang town,township_authorized,330782,330782101,120.1,29.2,open,2025-05-01,,false,false,0,P-ZJ,Zhejiang Xinghe\n\
         T-2,Bad town,township_authorized,330782,330781101,120.1,29.2,open,2025-05-01,,false,false,0,P-ZJ,Zhejiang Xinghe\n",
    );
    let (ok, out) = tongjia(&db, &["import", "stores", &stores]);
    assert!(!ok && out.contains("line 4: township_code"), "{out}");
    let fixed = std::fs::read_to_string(&stores).unwrap().replace("330781101", "330782102");
    std::fs::write(&stores, fixed).unwrap();
    let (ok, out) = tongjia(&db, &["import", "stores", &stores]);
    assert!(ok && out.contains("imported 3 stores and 1 partners"), "{out}");

    let stock = write(
        dir.path(),
        "k.csv",
        "location_code,sku_code,owner,quantity,reference\nD-1,NOTE13-BLK,brand,10,\nT-1,NOTE13-BLK,partner:P-ZJ,3,\nT-1,NOPE,brand,3,\n",
    );
    let (ok, out) = tongjia(&db, &["import", "stock", &stock]);
    assert!(!ok && out.contains("line 4") && out.contains("sku_not_found"), "{out}");
    let open = Db::connect(&db).await.unwrap();
    assert!(open.positions(&StockFilter::default(), &PageRequest::default()).await.unwrap().items.is_empty(), "nothing received");
    open.close().await;
    let fixed = std::fs::read_to_string(&stock).unwrap().replace("NOPE", "NOTE13-BLK");
    std::fs::write(&stock, fixed).unwrap();
    let (ok, out) = tongjia(&db, &["import", "stock", &stock]);
    assert!(ok && out.contains("received 3 stock rows"), "{out}");
}

async fn demo_seeds_a_network_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();
    let (ok, out) = tongjia(&db, &["demo"]);
    assert!(ok, "{out}");
    assert!(out.contains("41 SKUs, 3 warehouses, 4716 stores, 31 partners"), "{out}");
    let (ok, out) = tongjia(&db, &["demo"]);
    assert!(!ok && out.contains("not empty"), "{out}");
    let open = Db::connect(&db).await.unwrap();
    assert!(open.audit_ledger().await.unwrap().is_empty());
    // The network is on the real map and reproducible: about 60% of counties covered now,
    // fewer two years ago.
    let sites = open.store_sites().await.unwrap();
    let divisions = tongjia_storage::reference::divisions();
    let now = tongjia_domain::network::coverage(divisions, &sites, jiff::civil::date(2026, 11, 25), 10_000);
    assert!((5500..6500).contains(&now.overall.share_bp), "{}", now.overall.percent());
    assert!(now.township_stores > 2500, "{}", now.township_stores);
    let then = tongjia_domain::network::coverage(divisions, &sites, jiff::civil::date(2025, 1, 1), 10_000);
    assert!(then.overall.share_bp < now.overall.share_bp / 2);
    let again_store = TestDb::fresh(backend).await.unwrap();
    let (ok2, out2) = tongjia(again_store.url(), &["demo"]);
    assert!(ok2, "{out2}");
    let again = again_store.db.store_sites().await.unwrap();
    assert_eq!(
        again.iter().map(|s| (&s.code, s.opened_on)).collect::<Vec<_>>(),
        sites.iter().map(|s| (&s.code, s.opened_on)).collect::<Vec<_>>(),
        "seeded: the same network every time"
    );
    let (ok3, out3) = tongjia(&db, &["coverage", "--at", "2026-11-25"]);
    assert!(ok3 && out3.contains("2852") && out3.contains(&now.overall.percent()), "{out3}");
    let (ok4, out4) = tongjia(&db, &["plan", "--stores", "3"]);
    assert!(ok4 && out4.contains("3 new counties covered"), "{out4}");
    // Weights move the plan: the farthest gap, weighted down, is no longer the first site.
    let first_site = |out: &str| out.lines().nth(1).and_then(|l| l.split_whitespace().nth(1)).map(str::to_owned);
    let unweighted = first_site(&out4).unwrap();
    let weights = write(dir.path(), "w.csv", &format!("county_code,weight\n{unweighted},0.01\n"));
    let (ok5, out5) = tongjia(&db, &["plan", "--stores", "3", "--weights", &weights]);
    assert!(ok5 && first_site(&out5).unwrap() != unweighted, "{out5}");
    let bad = write(dir.path(), "bad.csv", "county_code,weight\n330782,1\n999999,2\n");
    let (ok6, out6) = tongjia(&db, &["plan", "--stores", "3", "--weights", &bad]);
    assert!(!ok6 && out6.contains("line 3"), "{out6}");
}

async fn a_scaled_demo_stocks_every_sku_in_every_stocked_location(backend: Backend) {
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();
    let (ok, out) = tongjia(&db, &["demo", "--scale", "40x50"]);
    assert!(ok, "{out}");
    // 42 demo SKUs and 8 accessories; 40 stocked stores and 3 warehouses, 50 positions each.
    assert!(out.contains("50 SKUs, 3 warehouses") && out.contains("(40 stocked)") && out.contains(" 2150 stock positions"), "{out}");
    let open = Db::connect(&db).await.unwrap();
    assert!(open.audit_ledger().await.unwrap().is_empty(), "every balance is its entries' sum");
    let page = PageRequest { limit: Some(500), after: None };
    let accessory = tongjia_domain::codes::SkuCode::parse("ACC-CASE-001-BLK").unwrap();
    let filter = StockFilter { sku_code: Some(accessory.as_str().to_owned()), ..Default::default() };
    assert_eq!(open.positions(&filter, &page).await.unwrap().items.len(), 43, "every stocked location holds the accessory");
    assert!(!open.price_versions(&accessory).await.unwrap().is_empty(), "and it has a price");
    open.close().await;
    for bad in ["huge", "0x10", "10x0", "10x"] {
        let (ok, out) = tongjia(&db, &["demo", "--scale", bad]);
        assert!(!ok && out.contains("is not a scale"), "{bad}: {out}");
    }
}

/// Signs `username` in through the sign-in page with the demo's password; a client that
/// sends the session cookie.
async fn demo_session(addr: &str, username: &str) -> reqwest::Client {
    let bare = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = bare.post(format!("http://{addr}/login")).form(&[("username", username), ("password", "tongjia-demo")]).send().await.unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::SEE_OTHER, "{}", res.text().await.unwrap_or_default());
    let cookie = res.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
    reqwest::Client::builder().default_headers(headers).build().unwrap()
}

/// The pages on the demo network: the coverage map draws all of it, the price check shows
/// the barcode the README's tour scans, and the demo clerk's till finds it.
async fn demo_pages(addr: &str) {
    let check = reqwest::get(format!("http://{addr}/p/NOTE13-BLK-8-256")).await.unwrap().text().await.unwrap();
    assert!(check.contains("6920251100141"), "the README's barcode");
    let admin = demo_session(addr, "admin").await;
    let map = admin.get(format!("http://{addr}/console/map")).send().await.unwrap().text().await.unwrap();
    let group = |id: &str| {
        map.split(&format!(r#"<g id="{id}""#)).nth(1).unwrap_or("").split("</g>").next().unwrap_or("").matches("<circle").count()
    };
    // 4,716 stores, of which the planned and closed are not drawn.
    assert!(group("stores") > 4_400, "every open store of the demo: {}", group("stores"));
    assert!(
        group("counties-covered") > 1_000 && group("counties-covered") + group("counties-uncovered") > 2_800,
        "{} covered",
        group("counties-covered")
    );
    let clerk = demo_session(addr, "clerk").await;
    let cart = clerk.get(format!("http://{addr}/till/T-330782106/cart?add=6920251100141")).send().await.unwrap().text().await.unwrap();
    assert!(cart.contains(r#"value="NOTE13-BLK-8-256*1""#), "{cart}");
}

async fn serve_answers_and_stops_gracefully_on_sigterm(backend: Backend) {
    let store = TestDb::fresh(backend).await.unwrap();
    let (child, addr) = serve(store.url(), &["--demo"]);
    let health: serde_json::Value = reqwest::get(format!("http://{addr}/health")).await.unwrap().json().await.unwrap();
    assert_eq!(health["status"], "ok");
    let quote: serde_json::Value =
        reqwest::get(format!("http://{addr}/api/v1/skus/LUMEN14-BLK-256/quote")).await.unwrap().json().await.unwrap();
    assert_eq!(quote["unit_price_fen"], 429900);
    demo_pages(&addr).await;
    // An open event stream must not hold the server up: it ends when shutdown begins.
    let client = common::client_with(&common::admin_token(store.url()));
    let mut stream = client.get(format!("http://{addr}/api/v1/events/stream")).send().await.unwrap();
    assert!(stream.chunk().await.unwrap().is_some());
    stop(child);
}

async fn backup_restores_into_a_fresh_database_with_the_same_quotes_and_stock(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();
    let catalog = write(
        dir.path(),
        "c.csv",
        &format!(
            "{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567892,true,139900\n\
             NOTE13,Lumen Note 13,phone,NOTE13-BLU,Blue,,6901234567809,true,129900\n"
        ),
    );
    let stores = write(
        dir.path(),
        "s.csv",
        "store_code,name,kind,county_code,township_code,longitude,latitude,status,opened_on,closed_on,pickup,ship_from_store,delivery_radius_km,partner_code,partner_name\n\
         D-1,West Lake,direct,330106,,120.13,30.26,open,2025-03-01,,true,true,10,,\n\
         T-1,Fotang town,township_authorized,330782,330782101,120.1,29.2,open,2025-05-01,,false,false,0,P-ZJ,Zhejiang Xinghe\n",
    );
    let stock = write(
        dir.path(),
        "k.csv",
        "location_code,sku_code,owner,quantity,reference\nD-1,NOTE13-BLK,brand,10,\nT-1,NOTE13-BLK,partner:P-ZJ,3,\nT-1,NOTE13-BLU,brand,4,\n",
    );
    for (what, file) in [("catalog", &catalog), ("stores", &stores), ("stock", &stock)] {
        let (ok, out) = tongjia(&db, &["import", what, file]);
        assert!(ok, "{out}");
    }
    // Online: the backup is taken while a server serves (and has just taken a reservation).
    let (server, addr) = serve(&db, &[]);
    let client = common::client_with(&common::admin_token(&db));
    let held = client
        .post(format!("http://{addr}/api/v1/reservations"))
        .header("Idempotency-Key", "hold-1")
        .json(&serde_json::json!({"location_code": "D-1", "sku_code": "NOTE13-BLK", "quantity": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 201);
    // Accounts made on the machine are in the audit trail too, as the operator's.
    let trail: serde_json::Value =
        client.get(format!("http://{addr}/api/v1/audit?principal=system:cli")).send().await.unwrap().json().await.unwrap();
    let actions: Vec<&str> = trail["items"].as_array().unwrap().iter().filter_map(|r| r["action"].as_str()).collect();
    assert!(actions.contains(&"tongjia admin create") && actions.contains(&"tongjia admin token"), "{trail}");
    assert!(!trail.to_string().contains("admin password"), "no password in the trail");
    let file = dir.path().join("tongjia.backup");
    let (ok, out) = tongjia(&db, &["backup", "--to", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = tongjia(&db, &["backup", "--to", file.to_str().unwrap()]);
    assert!(!ok && out.contains("already exists"), "a backup never overwrites: {out}");

    let fresh_pg = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => tongjia_storage::testing::TestDatabase::create(store.scratch.schema().unwrap()).await,
    };
    let target = match &fresh_pg {
        Some(database) => database.url.clone(),
        None => format!("sqlite:{}", dir.path().join("restored.db").display()),
    };
    if let Some(database) = &fresh_pg {
        // A URL that would put the tables where the servers will not look is refused first,
        // and leaves nothing behind.
        let no_schema = database.url.split('?').next().unwrap();
        let (ok, out) = tongjia(no_schema, &["restore", "--from", file.to_str().unwrap()]);
        assert!(!ok && out.contains("holds schema"), "{out}");
    }
    // Not a backup at all: refused at once, no file left behind.
    let garbage = write(dir.path(), "garbage.bin", "hello, not a database");
    let bad_target = dir.path().join("bad.db");
    let started = std::time::Instant::now();
    let (ok, out) = tongjia(&format!("sqlite:{}", bad_target.display()), &["restore", "--from", &garbage]);
    assert!(!ok && out.contains("not a SQLite backup"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5) && !bad_target.exists());

    let (ok, out) = tongjia(&target, &["restore", "--from", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (ok, out) = tongjia(&target, &["restore", "--from", file.to_str().unwrap()]);
    assert!(!ok, "a restore never merges into a database with data: {out}");

    let (restored, restored_addr) = serve(&target, &[]);
    for path in [
        "/api/v1/skus/NOTE13-BLK/quote?at=2030-01-01T00:00:00Z",
        "/api/v1/skus/NOTE13-BLU/quote?member=true&at=2030-01-01T00:00:00Z",
        "/api/v1/stock?limit=50",
        "/api/v1/reservations?limit=50",
        "/api/v1/events?limit=500",
    ] {
        let (before, after) =
            (get_json(&client, format!("http://{addr}{path}")).await, get_json(&client, format!("http://{restored_addr}{path}")).await);
        assert_eq!(before, after, "{path} differs after restore");
        assert!(before.get("code").is_none() && before.to_string().len() > 40, "{path}: {before}");
    }
    stop(server);
    stop(restored);
}

tongjia_storage::backend_tests!(
    a_bad_catalog_row_is_reported_by_line_and_nothing_is_imported,
    stores_and_stock_import_all_or_nothing,
    demo_seeds_a_network_once,
    a_scaled_demo_stocks_every_sku_in_every_stocked_location,
    serve_answers_and_stops_gracefully_on_sigterm,
    backup_restores_into_a_fresh_database_with_the_same_quotes_and_stock,
);

#[test]
fn an_unreachable_database_fails_at_once_with_its_reason() {
    let started = std::time::Instant::now();
    let (ok, out) = tongjia("postgres://postgres@127.0.0.1:1/test", &["migrate"]);
    assert!(!ok && out.to_lowercase().contains("refused"), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let not_a_db = write(dir.path(), "notes.db", "hello, not a database");
    let (ok, out) = tongjia(&not_a_db, &["migrate"]);
    assert!(!ok && out.contains("not a database"), "{out}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
}

#[test]
fn every_environment_variable_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/config.md")).unwrap();
    let mut seen = 0;
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["demo", "--help"],
        &["migrate", "--help"],
        &["backup", "--help"],
        &["restore", "--help"],
        &["coverage", "--help"],
        &["plan", "--help"],
        &["import", "--help"],
        &["bench", "flash-sale", "--help"],
        &["bench", "feeds", "--help"],
        &["bench", "till", "--help"],
        &["bench", "reserve", "--help"],
        &["bench", "reads", "--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongjia")).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        let help = String::from_utf8_lossy(&out.stdout);
        for name in help.split("[env: ").skip(1).filter_map(|rest| rest.split(['=', ']']).next()) {
            seen += 1;
            assert!(doc.contains(&format!("`{name}`")), "{name} ({args:?}) is not in docs/config.md");
        }
    }
    assert!(seen >= 8, "found only {seen} variables in the help texts");
}

/// `bench reserve` runs every shape by both paths and checks sold against stock (a short run).
#[test]
fn the_reserve_benchmark_runs_every_shape_beside_the_naive_path() {
    for how in [&["--in-process"][..], &[]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongjia"))
            .args(["bench", "reserve", "--requests", "400", "--skus", "100", "--clients", "16"])
            .args(how)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{how:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
        for shape in ["Hot", "Spread", "Mixed"] {
            assert!(text.contains(&format!("{shape} — SQLite")), "{text}");
        }
        assert_eq!(text.matches("ratio Tongjia / naive throughput").count(), 3, "{text}");
    }
}

/// `bench checkout` runs quote, place and pay by Tongjia (in-process and over HTTP, the
/// payment as a signed notification) beside the naive path, and checks paid against stock.
#[test]
fn the_checkout_benchmark_pays_exactly_the_stock_beside_the_naive_path() {
    for how in [&["--in-process"][..], &[]] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tongjia"))
            .args(["bench", "checkout", "--shoppers", "60", "--units", "20", "--clients", "30"])
            .args(how)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{how:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("| Tongjia (quote, place, pay) |") && text.contains("| 20 | 40 | 0 |"), "{text}");
        assert!(text.contains("ratio Tongjia / naive paid per second") && text.contains("ledger audit: clean"), "{text}");
    }
}
