//! The demo brand at national scale (`tongjia demo --scale large`): 10,000 stocked stores
//! on the real map, 2,000 SKUs (the demo's 42 and a range of accessories), and every SKU in
//! every store and warehouse — twenty million stock positions — loaded through the bulk path
//! ([`Db::load_stock`]: `COPY` on PostgreSQL, multi-row inserts on SQLite) a batch of locations
//! at a time, so memory stays flat whatever the size. Deterministic like the ordinary demo.

use std::str::FromStr;
use std::time::Instant;

use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{Owner, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Location, LocationKind, LocationStatus};
use tongjia_domain::{DomainError, Fen};
use tongjia_storage::{Bulk, Db};

use super::{Catalog, NOT_EMPTY, Rng, Townships, catalog, network};

/// How big a demo network to seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// The ordinary demo: 42 SKUs, about 4,700 locations, stock where a store carries it.
    Small,
    /// This many stocked stores, each holding every one of this many SKUs.
    Network { stores: usize, skus: usize },
}

impl Scale {
    /// `--scale large`.
    pub const LARGE: Scale = Scale::Network { stores: 10_000, skus: 2_000 };
}

impl FromStr for Scale {
    type Err = String;

    /// `small`, `large`, or `STORESxSKUS` (e.g. `500x100`).
    fn from_str(raw: &str) -> Result<Self, String> {
        let bad = || format!("'{raw}' is not a scale: small, large, or STORESxSKUS such as 500x100 (1–20,000 stores, 1–9,999 SKUs)");
        match raw {
            "small" => Ok(Scale::Small),
            "large" => Ok(Scale::LARGE),
            _ => {
                let (stores, skus) = raw.split_once('x').ok_or_else(bad)?;
                let (stores, skus): (usize, usize) = (stores.parse().map_err(|_| bad())?, skus.parse().map_err(|_| bad())?);
                if !(1..=20_000).contains(&stores) || !(1..=9_999).contains(&skus) {
                    return Err(bad());
                }
                Ok(Scale::Network { stores, skus })
            }
        }
    }
}

/// Stock positions one load call writes at most (one transaction, bounded memory).
const POSITIONS_PER_BATCH: usize = 50_000;

/// Accessory lines that fill the catalogue past the demo's own SKUs: code, name, price range in yuan.
const ACCESSORIES: [(&str, &str, i64, i64); 10] = [
    ("CASE", "Case", 39, 129),
    ("CHGR", "Charger", 49, 199),
    ("CABLE", "Cable", 19, 69),
    ("GLASS", "Screen Glass", 19, 59),
    ("STRAP", "Watch Strap", 29, 149),
    ("PBANK", "Power Bank", 99, 299),
    ("MOUNT", "Car Mount", 39, 99),
    ("STYLUS", "Stylus", 99, 399),
    ("HUB", "USB-C Hub", 129, 349),
    ("BAG", "Travel Bag", 59, 199),
];
const COLOURS: [(&str, &str); 4] = [("BLK", "Black"), ("WHT", "White"), ("BLU", "Blue"), ("GRN", "Green")];

/// Seeds an empty database with a network of `stores` stocked stores × `skus` SKUs.
pub async fn seed(db: &Db, stores: usize, skus: usize) -> Result<String, String> {
    if !db.is_empty().await.map_err(|e| e.to_string())? {
        return Err(format!("{NOT_EMPTY}: demo data goes into a new database"));
    }
    let started = Instant::now();
    let mut rng = Rng(20_210_530);
    let catalog = sized_catalog(skus, &mut rng).map_err(|e| e.to_string())?;
    let (partners, mut locations) = network(&mut rng, Townships::Fill(stores)).map_err(|e| e.to_string())?;
    trim_stores(&mut locations, stores);
    eprintln!("catalogue: {} SKUs", catalog.rows.len());
    db.import_catalog(&catalog.rows, Bulk::Write, |_| {}).await.map_err(|e| format!("catalogue: {e}"))?;
    // The demo's own SKUs come without a price in the import: they get member prices too.
    for ((_, _, imported), (sku, price, category)) in catalog.rows.iter().zip(&catalog.prices) {
        if imported.is_none() {
            db.schedule_price(super::launch_price(sku, *price, category), None).await.map_err(|e| e.to_string())?;
        }
    }
    eprintln!("network: {} locations", locations.len());
    db.import_locations(&partners, &locations, Bulk::Write, |_| {}).await.map_err(|e| format!("network: {e}"))?;
    let stocked: Vec<&Location> = locations.iter().filter(|l| l.status != LocationStatus::Closed).collect();
    let total = stocked.len() * catalog.prices.len();
    let bar = crate::progress::bar(total, "stock");
    let per_batch = (POSITIONS_PER_BATCH / catalog.prices.len()).max(1);
    let (mut positions, mut units) = (0, 0);
    for batch in stocked.chunks(per_batch) {
        let cmds = opening_stock(&mut rng, &catalog, batch).map_err(|e| e.to_string())?;
        let loaded = db.load_stock(&cmds).await.map_err(|e| format!("stock: {e}"))?;
        positions += loaded.positions;
        units += loaded.units;
        bar.inc(loaded.positions as u64);
    }
    bar.finish_and_clear();
    let store_count = locations.iter().filter(|l| l.kind.is_store()).count();
    Ok(format!(
        "demo data: {} SKUs, {} warehouses, {store_count} stores ({} stocked), {} partners, {positions} stock positions \
         holding {units} units, in {:.1} s",
        catalog.rows.len(),
        locations.len() - store_count,
        stocked.iter().filter(|l| l.kind.is_store()).count(),
        partners.len(),
        started.elapsed().as_secs_f64()
    ))
}

/// Drops township stores from the end until exactly `stores` stores are stocked (not
/// closed), so the count is what was asked whatever the draw; a small ask keeps the network's
/// warehouses, flagships and authorized stores and drops from the end too.
fn trim_stores(locations: &mut Vec<Location>, stores: usize) {
    let stocked = |l: &Location| l.kind.is_store() && l.status != LocationStatus::Closed;
    while locations.iter().filter(|l| stocked(l)).count() > stores {
        let Some(last) = locations.iter().rposition(stocked) else { break };
        locations.remove(last);
    }
}

/// The demo's own SKUs (launch prices with member prices, as in the ordinary demo), then
/// accessories (list prices, imported with the catalogue) up to `skus`.
fn sized_catalog(skus: usize, rng: &mut Rng) -> Result<Catalog, DomainError> {
    let mut c = catalog()?;
    c.rows.truncate(skus);
    c.prices.truncate(skus);
    let mut serial = c.rows.len();
    let mut line = 0;
    while c.rows.len() < skus {
        let (code, name, lo, hi) = ACCESSORIES[line % ACCESSORIES.len()];
        let series = line / ACCESSORIES.len() + 1;
        let product =
            Product::new(ProductCode::parse(&format!("ACC-{code}-{series:03}"))?, &format!("Lumen {name} {series}"), "accessory")?;
        let price = Fen::yuan(rng.range(lo, hi));
        for (c_code, colour) in COLOURS.iter().take(skus - c.rows.len()) {
            serial += 1;
            let sku_code = SkuCode::parse(&format!("{}-{c_code}", product.code.as_str()))?;
            let attributes = [("colour".to_owned(), (*colour).to_owned())].into();
            let gtin = Gtin13::from_first12(&format!("6920251{serial:05}"))?;
            let sku = Sku::new(sku_code.clone(), product.code.clone(), &format!("{} {colour}", product.name), attributes, gtin, true)?;
            c.rows.push((product.clone(), sku, Some(price)));
            c.prices.push((sku_code, price, "accessory"));
        }
        line += 1;
    }
    Ok(c)
}

/// Every SKU received at every location of `batch`: warehouses hold hundreds, stores a few;
/// partner stores own most of theirs, the rest is the brand's on consignment.
fn opening_stock(rng: &mut Rng, catalog: &Catalog, batch: &[&Location]) -> Result<Vec<StockCommand>, DomainError> {
    let mut cmds = Vec::with_capacity(batch.len() * catalog.prices.len());
    for l in batch {
        for (sku, _, category) in &catalog.prices {
            let big = matches!(*category, "tv" | "smart_home");
            let (lo, hi) = match l.kind {
                LocationKind::Warehouse => (300, 1500),
                LocationKind::Direct => (if big { 2 } else { 5 }, if big { 8 } else { 30 }),
                LocationKind::Authorized => (2, if big { 5 } else { 15 }),
                LocationKind::TownshipAuthorized => (1, if big { 2 } else { 6 }),
            };
            let owner = match (&l.partner_code, rng.chance(30)) {
                (Some(p), false) => Owner::Partner(p.clone()),
                _ => Owner::Brand,
            };
            let key = StockKey { location_code: l.code.clone(), sku_code: sku.clone(), owner };
            cmds.push(StockCommand::Receive { key, quantity: Quantity::new(rng.range(lo, hi))?, reference: None });
        }
    }
    Ok(cmds)
}
