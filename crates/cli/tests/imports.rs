//! `tongjia import`: every problem of a file reported at its real line, nothing half-written.

mod common;

use common::{CATALOG_HEADER, tongjia, write};
use tongjia_storage::testing::TestDb;
use tongjia_storage::{Backend, Db, PageRequest, SkuFilter, StockFilter};

const STORES_HEADER: &str = "store_code,name,kind,county_code,township_code,longitude,latitude,status,opened_on,closed_on,pickup,ship_from_store,delivery_radius_km,partner_code,partner_name\n";

async fn sku_codes(db: &str) -> Vec<String> {
    let db = Db::connect(db).await.unwrap();
    let page = db.skus(&SkuFilter::default(), &PageRequest { limit: Some(500), after: None }).await.unwrap();
    db.close().await;
    page.items.into_iter().map(|s| s.sku.code.to_string()).collect()
}

async fn catalog_problems_name_their_line_and_column(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();

    // A quoted name spanning two lines: the second record starts on line 4, not 3.
    let quoted = write(
        dir.path(),
        "quoted.csv",
        &format!(
            "{CATALOG_HEADER}NOTE13,\"Lumen Note 13\nspecial\",phone,NOTE13-BLK,Black,,6901234567892,true,139900\n\
             NOTE13,\"Lumen Note 13\nspecial\",phone,NOTE13-BLU,Blue,,6901234567893,true,139900\n"
        ),
    );
    let (ok, out) = tongjia(&db, &["import", "catalog", &quoted]);
    assert!(!ok && out.contains("line 2: name") && out.contains("line 4: name") && !out.contains("line 3"), "{out}");

    // A misspelt column is refused by name, with the one it probably meant.
    let misspelt = write(
        dir.path(),
        "misspelt.csv",
        "product_code,product_name,category,sku_code,sku_name,attributes,gtin,active,list_price\n\
         NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567892,true,139900\n",
    );
    let (ok, out) = tongjia(&db, &["import", "catalog", &misspelt]);
    assert!(!ok && out.contains("list_price") && out.contains("did you mean 'list_price_fen'"), "{out}");

    // The same SKU twice, and one product described two ways: every line named.
    let twice = write(
        dir.path(),
        "twice.csv",
        &format!(
            "{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567892,true,139900\n\
             NOTE13,Lumen Note 13,tablet,NOTE13-BLU,Blue,,6901234567809,true,139900\n\
             NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567816,true,129900\n"
        ),
    );
    let (ok, out) = tongjia(&db, &["import", "catalog", &twice]);
    assert!(!ok, "{out}");
    assert!(out.contains("line 4: sku_code") && out.contains("line 2"), "{out}");
    assert!(out.contains("line 3: product"), "{out}");

    // An empty file and a header with no rows are failures, not "imported 0".
    for (name, text) in [("empty.csv", ""), ("header.csv", CATALOG_HEADER)] {
        let file = write(dir.path(), name, text);
        let (ok, out) = tongjia(&db, &["import", "catalog", &file]);
        assert!(!ok && !out.contains("imported"), "{name}: {out}");
    }
    assert!(sku_codes(&db).await.is_empty(), "nothing was imported by any refused file");
}

async fn stores_import_changes_existing_stores_only_with_update(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();
    let first = write(
        dir.path(),
        "s.csv",
        &format!(
            "{STORES_HEADER}D-1,West Lake,direct,330106,,120.13,30.26,open,2025-03-01,,true,true,10,,\n\
             T-1,Fotang town,township_authorized,330782,330782101,120.1,29.2,open,2025-05-01,,false,false,0,P-ZJ,Zhejiang Xinghe\n"
        ),
    );
    let (ok, out) = tongjia(&db, &["import", "stores", &first]);
    assert!(ok && out.contains("2 new"), "{out}");

    // The same file again changes nothing.
    let (ok, out) = tongjia(&db, &["import", "stores", &first]);
    assert!(ok && out.contains("2 unchanged"), "{out}");

    // Closing D-1 by file: refused without --update, with what would change.
    let closing = write(
        dir.path(),
        "closing.csv",
        &format!("{STORES_HEADER}D-1,West Lake,direct,330106,,120.13,30.26,closed,2025-03-01,2026-06-30,true,true,10,,\n"),
    );
    let (ok, out) = tongjia(&db, &["import", "stores", &closing]);
    assert!(!ok && out.contains("line 2") && out.contains("--update") && out.contains("open → closed"), "{out}");
    let (ok, out) = tongjia(&db, &["import", "stores", &closing, "--check", "--update"]);
    assert!(ok && out.contains("1 changed"), "{out}");
    let still_open = Db::connect(&db).await.unwrap();
    let d1 = still_open.every_location().await.unwrap().into_iter().find(|l| l.code.as_str() == "D-1").unwrap();
    assert_eq!(d1.status, tongjia_domain::location::LocationStatus::Open, "--check writes nothing");
    still_open.close().await;

    let (ok, out) = tongjia(&db, &["import", "stores", &closing, "--update"]);
    assert!(ok && out.contains("1 changed"), "{out}");
    let open = Db::connect(&db).await.unwrap();
    let d1 = open.every_location().await.unwrap().into_iter().find(|l| l.code.as_str() == "D-1").unwrap();
    assert_eq!(d1.status, tongjia_domain::location::LocationStatus::Closed);
    open.close().await;
}

async fn every_database_side_problem_is_reported(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = TestDb::fresh(backend).await.unwrap();
    let db = store.url().to_owned();
    let catalog =
        write(dir.path(), "c.csv", &format!("{CATALOG_HEADER}NOTE13,Lumen Note 13,phone,NOTE13-BLK,Black,,6901234567892,true,139900\n"));
    assert!(tongjia(&db, &["import", "catalog", &catalog]).0);
    let stores =
        write(dir.path(), "s.csv", &format!("{STORES_HEADER}D-1,West Lake,direct,330106,,120.13,30.26,open,2025-03-01,,true,true,10,,\n"));
    assert!(tongjia(&db, &["import", "stores", &stores]).0);

    let stock = write(
        dir.path(),
        "k.csv",
        "location_code,sku_code,owner,quantity,reference\n\
         D-1,NOTE13-BLK,brand,10,\n\
         D-1,NOPE-1,brand,3,\n\
         NOWHERE,NOTE13-BLK,brand,3,\n\
         D-1,NOPE-2,brand,3,\n",
    );
    let (ok, out) = tongjia(&db, &["import", "stock", &stock, "--check"]);
    assert!(!ok, "{out}");
    for line in ["line 3", "line 4", "line 5"] {
        assert!(out.contains(line), "{line} missing: {out}");
    }
    assert!(out.contains("3 problems") && !out.contains("line 2"), "{out}");
    let (ok, out) = tongjia(&db, &["import", "stock", &stock]);
    assert!(!ok && out.contains("line 5"), "{out}");
    let open = Db::connect(&db).await.unwrap();
    assert!(open.positions(&StockFilter::default(), &PageRequest::default()).await.unwrap().items.is_empty(), "nothing received");
    open.close().await;

    // A clean file under --check says what it would do and does not do it.
    let clean = write(dir.path(), "ok.csv", "location_code,sku_code,owner,quantity,reference\nD-1,NOTE13-BLK,brand,10,\n");
    let (ok, out) = tongjia(&db, &["import", "stock", &clean, "--check"]);
    assert!(ok && out.contains("checked 1 stock rows"), "{out}");
    let open = Db::connect(&db).await.unwrap();
    assert!(open.positions(&StockFilter::default(), &PageRequest::default()).await.unwrap().items.is_empty(), "--check wrote");
    open.close().await;
}

tongjia_storage::backend_tests!(
    catalog_problems_name_their_line_and_column,
    stores_import_changes_existing_stores_only_with_update,
    every_database_side_problem_is_reported,
);
