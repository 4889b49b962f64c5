//! The demo brand: a fictional consumer-electronics maker ("Lumen") with 42 SKUs, three
//! warehouses, 56 stores of every kind on real county-level divisions in twelve
//! provinces, partners, prices (one scheduled drop) and stock everywhere — including
//! the brand's goods on consignment in partner stores. Deterministic: the same data on
//! every run.

use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use std::collections::{BTreeMap, HashMap};
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, Owner, PartnerCode, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus, TownshipCode};
use tongjia_domain::network::DivisionLevel;
use tongjia_domain::pricing::PriceChange;
use tongjia_domain::{DomainError, Fen};
use tongjia_storage::{Db, Partner};

mod large;

pub use large::Scale;

/// The start of the error `seed` gives for a database that already holds data.
pub const NOT_EMPTY: &str = "the database is not empty";

/// A variant: SKU suffix, name suffix, attributes, price delta in yuan.
type Variant = (&'static str, &'static str, Vec<(&'static str, &'static str)>, i64);
/// A product: code, name, category, base price in yuan, variants.
type ProductSpec = (&'static str, &'static str, &'static str, i64, Vec<Variant>);

fn phone(colours: &[(&'static str, &'static str)], memories: &[(&'static str, &'static str, i64)]) -> Vec<Variant> {
    let mut out = vec![];
    for (c_code, colour) in colours {
        for (m_code, memory, delta) in memories {
            let suffix: &'static str = Box::leak(format!("{c_code}-{m_code}").into_boxed_str());
            let name: &'static str = Box::leak(format!("{colour} {memory}").into_boxed_str());
            out.push((suffix, name, vec![("colour", *colour), ("memory", *memory)], *delta));
        }
    }
    out
}

fn products() -> Vec<ProductSpec> {
    let single = |attrs: Vec<(&'static str, &'static str)>| vec![("STD", "", attrs, 0)];
    vec![
        (
            "LUMEN14",
            "Lumen 14",
            "phone",
            4299,
            phone(
                &[("BLK", "Black"), ("WHT", "White"), ("JAD", "Jade Green")],
                &[("256", "12GB+256GB", 0), ("512", "16GB+512GB", 500), ("1T", "16GB+1TB", 1200)],
            ),
        ),
        (
            "LUMEN14P",
            "Lumen 14 Pro",
            "phone",
            5999,
            phone(&[("BLK", "Black"), ("TIT", "Titanium")], &[("512", "16GB+512GB", 0), ("1T", "16GB+1TB", 800)]),
        ),
        (
            "NOTE13",
            "Lumen Note 13",
            "phone",
            1399,
            phone(
                &[("BLK", "Midnight Black"), ("BLU", "Ocean Blue"), ("PUR", "Aurora Purple")],
                &[("8-256", "8GB+256GB", 0), ("12-256", "12GB+256GB", 200), ("12-512", "12GB+512GB", 500)],
            ),
        ),
        ("FOLD3", "Lumen Fold 3", "phone", 9999, phone(&[("BLK", "Black")], &[("512", "16GB+512GB", 0)])),
        (
            "TVA",
            "Vista TV A",
            "tv",
            1799,
            vec![("55", "55 inch", vec![("size", "55 inch")], 0), ("65", "65 inch", vec![("size", "65 inch")], 700)],
        ),
        (
            "TVS",
            "Vista TV S Pro",
            "tv",
            5999,
            vec![("75", "75 inch", vec![("size", "75 inch")], 0), ("85", "85 inch", vec![("size", "85 inch")], 3000)],
        ),
        (
            "BAND9",
            "Pulse Band 9",
            "wearable",
            249,
            vec![
                ("BLK", "Black", vec![("colour", "Black")], 0),
                ("PNK", "Pink", vec![("colour", "Pink")], 0),
                ("SLV", "Silver", vec![("colour", "Silver")], 0),
                ("NFC", "Black NFC", vec![("colour", "Black"), ("nfc", "yes")], 30),
            ],
        ),
        (
            "WATCHS5",
            "Pulse Watch S5",
            "wearable",
            1099,
            vec![
                ("BLK", "Black 46mm", vec![("colour", "Black"), ("case", "46mm")], 0),
                ("SLV", "Silver 46mm", vec![("colour", "Silver"), ("case", "46mm")], 100),
            ],
        ),
        (
            "BUDS5",
            "Echo Buds 5 Pro",
            "wearable",
            899,
            vec![("BLK", "Black", vec![("colour", "Black")], 0), ("WHT", "White", vec![("colour", "White")], 0)],
        ),
        ("VACX20", "Robot Vacuum X20", "smart_home", 2999, single(vec![("colour", "White")])),
        ("AIR4P", "Air Purifier 4 Pro", "smart_home", 1299, single(vec![("colour", "White")])),
        ("CAMC3", "Home Camera C3", "smart_home", 199, single(vec![("resolution", "2.5K")])),
        ("SPKPRO", "Smart Speaker Pro", "smart_home", 399, single(vec![("colour", "Grey")])),
        ("RTBE65", "Wi-Fi 7 Router BE6500", "smart_home", 499, single(vec![("ports", "4x2.5G")])),
        ("LAMP2", "Smart Desk Lamp 2", "smart_home", 169, single(vec![("colour", "White")])),
    ]
}

/// County-level divisions that always get a direct flagship (the tour uses them).
const FLAGSHIPS: [&str; 18] = [
    "110105", "110108", "310115", "310104", "440305", "440304", "440106", "330106", "330102", "510107", "510104", "420106", "430104",
    "320106", "370102", "610113", "500103", "350203",
];
/// County-level divisions that always get an authorized store.
const ALWAYS_AUTHORIZED: [&str; 6] = ["330782", "330681", "341322", "411422", "360781", "522701"];
/// Townships that always get a township store (the tour uses them).
const TOUR_TOWNSHIPS: [&str; 2] = ["330782106", "330782100"];
/// The demo's "today": opening dates fall in the two years before it, so coverage has a trend.
const DEMO_DAY: (i16, i8, i8) = (2026, 11, 25);
/// Township stores in the demo network.
const TOWNSHIP_STORES: usize = 3_000;
/// Share of prefectures with a direct store, and of the remaining counties with an
/// authorized one, in percent.
const DIRECT_PERCENT: u64 = 40;
const AUTHORIZED_PERCENT: u64 = 58;

/// A small deterministic generator (SplitMix64), so every seed is the same.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn partner_for(county: &str) -> PartnerCode {
    PartnerCode::parse(&format!("P-{}", &county[..2])).expect("demo partner codes are valid")
}

struct Catalog {
    rows: Vec<(Product, Sku, Option<Fen>)>,
    prices: Vec<(SkuCode, Fen, &'static str)>,
}

fn catalog() -> Result<Catalog, DomainError> {
    let mut rows = vec![];
    let mut prices = vec![];
    let mut serial = 0;
    for (code, name, category, base, variants) in products() {
        let product = Product::new(ProductCode::parse(code)?, name, category)?;
        for (suffix, variant, attrs, delta) in variants {
            serial += 1;
            let sku_code = SkuCode::parse(&format!("{code}-{suffix}"))?;
            let sku_name = if variant.is_empty() { name.to_owned() } else { format!("{name} {variant}") };
            let attributes: BTreeMap<String, String> = attrs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
            let gtin = Gtin13::from_first12(&format!("69202511{serial:04}"))?;
            let sku = Sku::new(sku_code.clone(), product.code.clone(), &sku_name, attributes, gtin, true)?;
            rows.push((product.clone(), sku, None));
            prices.push((sku_code, Fen::yuan(base + delta), category));
        }
    }
    Ok(Catalog { rows, prices })
}

/// Where a store stands and what it is.
struct Site<'a> {
    code: String,
    name: String,
    kind: LocationKind,
    county: &'a str,
    township: Option<String>,
    point: GeoPoint,
}

fn store(site: Site<'_>, opened: Date, rng: &mut Rng) -> Result<Location, DomainError> {
    let Site { code, name, kind, county, township, point } = site;
    // The tour's stores stay open.
    let tour = FLAGSHIPS.iter().chain(ALWAYS_AUTHORIZED.iter()).chain(TOUR_TOWNSHIPS.iter()).any(|c| code.ends_with(c));
    let (status, opened_on, closed_on) = match if tour { 2 } else { rng.range(0, 49) } {
        0 => (LocationStatus::Planned, None, None),
        1 => {
            let closed = opened.checked_add(jiff::Span::new().days(rng.range(60, 300))).unwrap_or(opened).min(demo_day());
            (LocationStatus::Closed, Some(opened), Some(closed))
        }
        _ => (LocationStatus::Open, Some(opened), None),
    };
    Location::new(Location {
        code: LocationCode::parse(&code)?,
        name,
        kind,
        county_code: CountyCode::parse(county)?,
        township_code: township.as_deref().map(TownshipCode::parse).transpose()?,
        point,
        status,
        opened_on,
        closed_on,
        capabilities: Capabilities {
            pickup: kind != LocationKind::TownshipAuthorized || rng.chance(50),
            ship_from_store: kind == LocationKind::Direct || (kind == LocationKind::Authorized && rng.chance(60)),
            delivery_radius_km: match kind {
                LocationKind::Direct => 10,
                LocationKind::Authorized => 20,
                _ => 0,
            },
        },
        partner_code: kind.needs_partner().then(|| partner_for(county)),
    })
}

fn demo_day() -> Date {
    date(DEMO_DAY.0, DEMO_DAY.1, DEMO_DAY.2)
}

/// An opening date in the two years before the demo's day; `early` skews it older.
fn day(rng: &mut Rng, early: bool) -> Date {
    let back = if early { rng.range(365, 730) } else { rng.range(1, 730) };
    demo_day().checked_sub(jiff::Span::new().days(back)).unwrap_or(demo_day())
}

/// A point near `p`, within `spread` thousandths of a degree.
fn near(p: GeoPoint, spread: i64, rng: &mut Rng) -> Result<GeoPoint, DomainError> {
    let d = |r: &mut Rng| r.range(-spread, spread) as f64 / 1000.0;
    GeoPoint::new(p.longitude + d(rng), p.latitude + d(rng))
}

/// How many township stores a network gets.
#[derive(Clone, Copy)]
enum Townships {
    /// This many (the ordinary demo: 3,000).
    Count(usize),
    /// As many as it takes for the network to have this many stocked (not closed) stores.
    Fill(usize),
}

/// A reproducible nationwide network on the real map: direct flagships in prefecture cities,
/// authorized stores in about 60% of counties, township stores, opening over two years.
fn network(rng: &mut Rng, townships: Townships) -> Result<(Vec<Partner>, Vec<Location>), DomainError> {
    let divisions = tongjia_storage::reference::divisions();
    let partners = divisions
        .at_level(DivisionLevel::Province)
        .map(|p| Ok(Partner { code: partner_for(&format!("{}0000", p.code)), name: format!("{}领明数码有限公司", p.name) }))
        .collect::<Result<Vec<_>, DomainError>>()?;
    let point = |code: &str| {
        divisions.point_of(code).ok_or_else(|| DomainError::invalid("county_code", "no_point", format!("{code} has no coordinates")))
    };
    let warehouse = |code: &str, name: &str, county: &str| -> Result<Location, DomainError> {
        Location::new(Location {
            code: LocationCode::parse(code)?,
            name: name.to_owned(),
            kind: LocationKind::Warehouse,
            county_code: CountyCode::parse(county)?,
            township_code: None,
            point: point(county)?,
            status: LocationStatus::Open,
            opened_on: Some(date(2024, 6, 1)),
            closed_on: None,
            capabilities: Capabilities { pickup: false, ship_from_store: true, delivery_radius_km: 0 },
            partner_code: None,
        })
    };
    let mut locations = vec![
        warehouse("WH-SOUTH", "South China DC (Guangzhou Huangpu)", "440112")?,
        warehouse("WH-NORTH", "North China DC (Beijing Tongzhou)", "110112")?,
        warehouse("WH-WEST", "West China DC (Chengdu Shuangliu)", "510116")?,
    ];
    let counties: Vec<_> = divisions.coverage_counties().collect();
    let mut township_map: HashMap<&str, Vec<&str>> = HashMap::new();
    for t in divisions.at_level(DivisionLevel::Township) {
        if let Some(parent) = t.parent.as_deref() {
            township_map.entry(parent).or_default().push(t.code.as_str());
        }
    }
    // Direct flagships: the tour's, and one in the first district of 40% of prefectures.
    let mut direct: Vec<&str> = FLAGSHIPS.to_vec();
    for p in divisions.at_level(DivisionLevel::Prefecture) {
        let seat = counties
            .iter()
            .filter(|c| c.parent.as_deref() == Some(p.code.as_str()))
            .find(|c| c.name.ends_with('区'))
            .map(|c| c.code.as_str());
        if let Some(seat) = seat
            && !direct.contains(&seat)
            && rng.chance(DIRECT_PERCENT)
        {
            direct.push(seat);
        }
    }
    for county in &direct {
        let name = divisions.get(county).map_or("", |d| d.name.as_str());
        let site = Site {
            code: format!("D-{county}"),
            name: format!("领明之家 {name} 旗舰店"),
            kind: LocationKind::Direct,
            county,
            township: None,
            point: near(point(county)?, 20, rng)?,
        };
        let opened = day(rng, true);
        locations.push(store(site, opened, rng)?);
    }
    // Authorized stores in about 60% of the other counties.
    let mut authorized: Vec<&str> = vec![];
    for c in &counties {
        let code = c.code.as_str();
        if ALWAYS_AUTHORIZED.contains(&code) || (!direct.contains(&code) && rng.chance(AUTHORIZED_PERCENT)) {
            authorized.push(code);
            let site = Site {
                code: format!("A-{code}"),
                name: format!("领明之家 {} 授权店", c.name),
                kind: LocationKind::Authorized,
                county: code,
                township: None,
                point: near(point(code)?, 20, rng)?,
            };
            let opened = day(rng, false);
            locations.push(store(site, opened, rng)?);
        }
    }
    // Township stores in townships of covered counties (a twentieth more than filling needs,
    // as some turn out closed).
    let stocked = |ls: &[Location]| ls.iter().filter(|l| l.kind.is_store() && l.status != LocationStatus::Closed).count();
    let wanted = match townships {
        Townships::Count(n) => n,
        Townships::Fill(stores) => stores.saturating_sub(stocked(&locations)) * 21 / 20 + 20,
    };
    let mut chosen: Vec<String> = TOUR_TOWNSHIPS.iter().map(|t| (*t).to_owned()).collect();
    let mut seen: std::collections::HashSet<String> = chosen.iter().cloned().collect();
    let mut tries = 0;
    while chosen.len() < wanted && tries < wanted * 20 {
        tries += 1;
        let county = authorized[rng.range(0, authorized.len() as i64 - 1) as usize];
        let Some(list) = township_map.get(county) else { continue };
        let t = list[rng.range(0, list.len() as i64 - 1) as usize];
        if seen.insert(t.to_owned()) {
            chosen.push(t.to_owned());
        }
    }
    let mut filled = stocked(&locations);
    for t in &chosen {
        if let Townships::Fill(stores) = townships
            && filled >= stores
        {
            break;
        }
        let county = &t[..6];
        let name = divisions.get(t).map_or("", |d| d.name.as_str());
        let site = Site {
            code: format!("T-{t}"),
            name: format!("领明之家 {name} 乡镇店"),
            kind: LocationKind::TownshipAuthorized,
            county,
            township: Some(t.clone()),
            point: near(point(county)?, 80, rng)?,
        };
        let opened = day(rng, false);
        let township_store = store(site, opened, rng)?;
        filled += usize::from(township_store.status != LocationStatus::Closed);
        locations.push(township_store);
    }
    Ok((partners, locations))
}

fn stock(rng: &mut Rng, catalog: &Catalog, locations: &[Location]) -> Result<Vec<StockCommand>, DomainError> {
    let mut cmds = vec![];
    // Every location holds stock, planned ones (stocking up) included; closed ones were
    // emptied when they closed.
    for l in locations.iter().filter(|l| l.status != LocationStatus::Closed) {
        for (sku, _, category) in &catalog.prices {
            let big = matches!(*category, "tv" | "smart_home");
            let (carry_percent, lo, hi) = match l.kind {
                LocationKind::Warehouse => (100, 300, 1500),
                LocationKind::Direct => (95, if big { 2 } else { 5 }, if big { 8 } else { 30 }),
                LocationKind::Authorized => (35, 2, if big { 5 } else { 15 }),
                LocationKind::TownshipAuthorized => (15, 1, if big { 2 } else { 6 }),
            };
            if !rng.chance(carry_percent) {
                continue;
            }
            // Partner stores own most of their stock; some of it is the brand's, on consignment.
            let owner = match (&l.partner_code, rng.chance(if l.kind == LocationKind::TownshipAuthorized { 60 } else { 30 })) {
                (Some(p), false) => Owner::Partner(p.clone()),
                _ => Owner::Brand,
            };
            let key = StockKey { location_code: l.code.clone(), sku_code: sku.clone(), owner };
            cmds.push(StockCommand::Receive {
                key,
                quantity: Quantity::new(rng.range(lo, hi))?,
                reference: Some("demo opening stock".into()),
            });
        }
    }
    // Every location holds something: a store that drew no SKU gets one.
    let stocked: std::collections::HashSet<&LocationCode> = cmds
        .iter()
        .filter_map(|c| match c {
            StockCommand::Receive { key, .. } => Some(&key.location_code),
            _ => None,
        })
        .collect();
    let mut missing = vec![];
    for l in locations.iter().filter(|l| l.status != LocationStatus::Closed && !stocked.contains(&l.code)) {
        {
            let (sku, _, _) = &catalog.prices[rng.range(0, catalog.prices.len() as i64 - 1) as usize];
            let key = StockKey { location_code: l.code.clone(), sku_code: sku.clone(), owner: Owner::Brand };
            missing.push(StockCommand::Receive {
                key,
                quantity: Quantity::new(rng.range(1, 3))?,
                reference: Some("demo opening stock".into()),
            });
        }
    }
    cmds.extend(missing);
    for wh in locations.iter().filter(|l| l.kind == LocationKind::Warehouse) {
        for (sku, _, category) in &catalog.prices {
            if *category == "phone" {
                cmds.push(StockCommand::SetSafetyStock { location_code: wh.code.clone(), sku_code: sku.clone(), quantity: 20 });
            }
        }
    }
    Ok(cmds)
}

/// A SKU's launch price: members save about 5% on phones and wearables, rounded down to whole yuan.
fn launch_price(sku: &SkuCode, price: Fen, category: &str) -> PriceChange {
    let member_price = matches!(category, "phone" | "wearable").then(|| Fen::yuan(price.get() * 95 / 100 / 100));
    PriceChange { sku_code: sku.clone(), list_price: price, member_price, effective_at: None, note: Some("launch price".into()) }
}

/// Seeds an empty database at `scale`; refuses one that already holds data.
pub async fn seed_at(db: &Db, scale: Scale) -> Result<String, String> {
    match scale {
        Scale::Small => seed(db).await,
        Scale::Network { stores, skus } => large::seed(db, stores, skus).await,
    }
}

/// Seeds an empty database; refuses one that already holds data.
pub async fn seed(db: &Db) -> Result<String, String> {
    if !db.is_empty().await.map_err(|e| e.to_string())? {
        return Err(format!("{NOT_EMPTY}: demo data goes into a new database"));
    }
    let mut rng = Rng(20_210_530);
    let catalog = catalog().map_err(|e| e.to_string())?;
    let (partners, locations) = network(&mut rng, Townships::Count(TOWNSHIP_STORES)).map_err(|e| e.to_string())?;
    let commands = stock(&mut rng, &catalog, &locations).map_err(|e| e.to_string())?;
    db.import_catalog(&catalog.rows, tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| e.to_string())?;
    let now = Timestamp::now();
    for (sku, price, category) in &catalog.prices {
        db.schedule_price(launch_price(sku, *price, category), None).await.map_err(|e| e.to_string())?;
    }
    // A scheduled drop, to show every channel's quote changing at one instant.
    let drop = PriceChange {
        sku_code: SkuCode::parse("NOTE13-BLK-8-256").map_err(|e| e.to_string())?,
        list_price: Fen::yuan(1299),
        member_price: Some(Fen::yuan(1249)),
        effective_at: now.checked_add(SignedDuration::from_hours(24 * 7)).ok(),
        note: Some("Double 12 price".into()),
    };
    db.schedule_price(drop, None).await.map_err(|e| e.to_string())?;
    db.import_locations(&partners, &locations, tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| e.to_string())?;
    db.execute_all(&commands, tongjia_storage::Bulk::Write, |_| {}).await.map_err(|e| format!("stock: {e}"))?;
    let stores = locations.iter().filter(|l| l.kind.is_store()).count();
    Ok(format!(
        "demo data: {} SKUs, {} warehouses, {stores} stores, {} partners, {} stock commands",
        catalog.rows.len(),
        locations.len() - stores,
        partners.len(),
        commands.len()
    ))
}
