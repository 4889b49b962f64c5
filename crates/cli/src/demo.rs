//! The demo brand: a fictional consumer-electronics maker ("Lumen") with 42 SKUs, three
//! warehouses, 56 stores of every kind on real county-level divisions in twelve
//! provinces, partners, prices (one scheduled drop) and stock everywhere — including
//! the brand's goods on consignment in partner stores. Deterministic: the same data on
//! every run.

use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, Owner, PartnerCode, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus, TownshipCode};
use tongjia_domain::pricing::PriceChange;
use tongjia_domain::{DomainError, Fen};
use tongjia_storage::{Db, Partner};

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

/// (code, name, longitude, latitude) of real county-level divisions (2023 codes).
const DIRECT: [(&str, &str, f64, f64); 18] = [
    ("110105", "Beijing Chaoyang", 116.443, 39.921),
    ("110108", "Beijing Haidian", 116.298, 39.959),
    ("310115", "Shanghai Pudong", 121.544, 31.221),
    ("310104", "Shanghai Xuhui", 121.437, 31.188),
    ("440305", "Shenzhen Nanshan", 113.930, 22.533),
    ("440304", "Shenzhen Futian", 114.055, 22.522),
    ("440106", "Guangzhou Tianhe", 113.361, 23.125),
    ("330106", "Hangzhou Xihu", 120.130, 30.259),
    ("330102", "Hangzhou Shangcheng", 120.171, 30.250),
    ("510107", "Chengdu Wuhou", 104.043, 30.642),
    ("510104", "Chengdu Jinjiang", 104.083, 30.656),
    ("420106", "Wuhan Wuchang", 114.316, 30.554),
    ("430104", "Changsha Yuelu", 112.931, 28.234),
    ("320106", "Nanjing Gulou", 118.770, 32.066),
    ("370102", "Jinan Lixia", 117.077, 36.666),
    ("610113", "Xi'an Yanta", 108.949, 34.223),
    ("500103", "Chongqing Yuzhong", 106.569, 29.553),
    ("350203", "Xiamen Siming", 118.082, 24.446),
];

const AUTHORIZED: [(&str, &str, f64, f64); 18] = [
    ("330782", "Yiwu", 120.075, 29.306),
    ("330681", "Zhuji", 120.236, 29.713),
    ("330382", "Yueqing", 120.983, 28.113),
    ("320583", "Kunshan", 120.981, 31.385),
    ("321281", "Xinghua", 119.852, 32.910),
    ("441781", "Yangchun", 111.791, 22.170),
    ("450881", "Guiping", 110.079, 23.394),
    ("511381", "Langzhong", 105.976, 31.558),
    ("421081", "Shishou", 112.426, 29.721),
    ("411422", "Suixian", 115.071, 34.446),
    ("341322", "Xiaoxian", 116.947, 34.189),
    ("360781", "Ruijin", 116.027, 25.886),
    ("130684", "Gaobeidian", 115.874, 39.327),
    ("371323", "Yishui", 118.628, 35.790),
    ("522701", "Duyun", 107.518, 26.259),
    ("500236", "Fengjie", 109.464, 31.019),
    ("330329", "Taishun", 119.717, 27.557),
    ("410928", "Puyang County", 115.029, 35.712),
];

/// Partners by province prefix of the counties they serve.
const PARTNERS: [(&str, &str, &[&str]); 8] = [
    ("P-ZJ", "Zhejiang Xinghe Digital Trading Co.", &["33"]),
    ("P-JS", "Jiangsu Hengtong Electronics Co.", &["32"]),
    ("P-GD", "Guangdong Nanyue Retail Co.", &["44", "45"]),
    ("P-SC", "Sichuan Bashu Mobile Co.", &["51", "50", "52"]),
    ("P-HB", "Hubei Jingchu Communications Co.", &["42"]),
    ("P-HN", "Henan Zhongyuan Digital Co.", &["41", "34"]),
    ("P-JX", "Jiangxi Ganpo Electronics Co.", &["36"]),
    ("P-NE", "Huabei Lianhe Trading Co.", &["13", "37"]),
];

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
    let code = PARTNERS.iter().find(|(_, _, provinces)| provinces.contains(&&county[..2])).map_or("P-NE", |p| p.0);
    PartnerCode::parse(code).expect("demo partner codes are valid")
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
    point: (f64, f64),
}

fn store(site: Site<'_>, opened: Date, rng: &mut Rng) -> Result<Location, DomainError> {
    let Site { code, name, kind, county, township, point } = site;
    let (status, opened_on, closed_on) = match rng.range(0, 40) {
        0 => (LocationStatus::Planned, None, None),
        1 => (LocationStatus::Closed, Some(opened), Some(opened.checked_add(jiff::Span::new().days(200)).unwrap_or(opened))),
        _ => (LocationStatus::Open, Some(opened), None),
    };
    let partner_code = kind.needs_partner().then(|| partner_for(county));
    Location::new(Location {
        code: LocationCode::parse(&code)?,
        name,
        kind,
        county_code: CountyCode::parse(county)?,
        township_code: township.as_deref().map(TownshipCode::parse).transpose()?,
        point: GeoPoint::new(point.0, point.1)?,
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
        partner_code,
    })
}

fn day(rng: &mut Rng) -> Date {
    // Spread over 2024-12-01 .. 2026-11-01, so that the network has a history.
    date(2024, 12, 1).checked_add(jiff::Span::new().days(rng.range(0, 700))).unwrap_or(date(2025, 1, 1))
}

fn network(rng: &mut Rng) -> Result<(Vec<Partner>, Vec<Location>), DomainError> {
    let partners = PARTNERS
        .iter()
        .map(|(code, name, _)| Ok(Partner { code: PartnerCode::parse(code)?, name: (*name).to_owned() }))
        .collect::<Result<Vec<_>, DomainError>>()?;
    let warehouse = |code: &str, name: &str, county: &str, lon: f64, lat: f64| -> Result<Location, DomainError> {
        Location::new(Location {
            code: LocationCode::parse(code)?,
            name: name.to_owned(),
            kind: LocationKind::Warehouse,
            county_code: CountyCode::parse(county)?,
            township_code: None,
            point: GeoPoint::new(lon, lat)?,
            status: LocationStatus::Open,
            opened_on: Some(date(2024, 6, 1)),
            closed_on: None,
            capabilities: Capabilities { pickup: false, ship_from_store: true, delivery_radius_km: 0 },
            partner_code: None,
        })
    };
    let mut locations = vec![
        warehouse("WH-SOUTH", "South China DC (Guangzhou Huangpu)", "440112", 113.459, 23.106)?,
        warehouse("WH-NORTH", "North China DC (Beijing Tongzhou)", "110112", 116.657, 39.910)?,
        warehouse("WH-WEST", "West China DC (Chengdu Shuangliu)", "510116", 103.923, 30.574)?,
    ];
    for (county, name, lon, lat) in DIRECT.iter() {
        let opened = day(rng);
        let site = Site {
            code: format!("D-{county}"),
            name: format!("Lumen Home {name} flagship"),
            kind: LocationKind::Direct,
            county,
            township: None,
            point: (*lon, *lat),
        };
        locations.push(store(site, opened, rng)?);
    }
    for (county, name, lon, lat) in AUTHORIZED {
        let opened = day(rng);
        let site = Site {
            code: format!("A-{county}"),
            name: format!("Lumen Home {name}"),
            kind: LocationKind::Authorized,
            county,
            township: None,
            point: (lon, lat),
        };
        locations.push(store(site, opened, rng)?);
    }
    for n in 0..20 {
        let (county, name, lon, lat) = AUTHORIZED[n % AUTHORIZED.len()];
        let town = 101 + n / AUTHORIZED.len() + rng.range(0, 8) as usize;
        let township = format!("{county}{town:03}");
        let jitter = |r: &mut Rng| (r.range(-120, 120) as f64) / 1000.0;
        let point = (lon + jitter(rng), lat + jitter(rng));
        let opened = day(rng);
        let site = Site {
            code: format!("T-{township}"),
            name: format!("Lumen Home {name} town {town}"),
            kind: LocationKind::TownshipAuthorized,
            county,
            township: Some(township),
            point,
        };
        locations.push(store(site, opened, rng)?);
    }
    Ok((partners, locations))
}

fn stock(rng: &mut Rng, catalog: &Catalog, locations: &[Location]) -> Result<Vec<StockCommand>, DomainError> {
    let mut cmds = vec![];
    // Every location holds stock, planned ones (stocking up) and closed ones (awaiting
    // return to a warehouse) included.
    for l in locations {
        for (sku, _, category) in &catalog.prices {
            let big = matches!(*category, "tv" | "smart_home");
            let (carry_percent, lo, hi) = match l.kind {
                LocationKind::Warehouse => (100, 300, 1500),
                LocationKind::Direct => (95, if big { 2 } else { 5 }, if big { 8 } else { 30 }),
                LocationKind::Authorized => (60, 2, if big { 5 } else { 15 }),
                LocationKind::TownshipAuthorized => (30, 1, if big { 2 } else { 6 }),
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
    for wh in locations.iter().filter(|l| l.kind == LocationKind::Warehouse) {
        for (sku, _, category) in &catalog.prices {
            if *category == "phone" {
                cmds.push(StockCommand::SetSafetyStock { location_code: wh.code.clone(), sku_code: sku.clone(), quantity: 20 });
            }
        }
    }
    Ok(cmds)
}

/// Seeds an empty database; refuses one that already holds data.
pub async fn seed(db: &Db) -> Result<String, String> {
    if !db.is_empty().await.map_err(|e| e.to_string())? {
        return Err(format!("{NOT_EMPTY}: demo data goes into a new database"));
    }
    let mut rng = Rng(20_210_530);
    let catalog = catalog().map_err(|e| e.to_string())?;
    let (partners, locations) = network(&mut rng).map_err(|e| e.to_string())?;
    let commands = stock(&mut rng, &catalog, &locations).map_err(|e| e.to_string())?;
    db.import_catalog(&catalog.rows, |_| {}).await.map_err(|(_, e)| e.to_string())?;
    let now = Timestamp::now();
    for (sku, price, category) in &catalog.prices {
        // Members save about 5% on phones and wearables, rounded down to whole yuan.
        let member_price = matches!(*category, "phone" | "wearable").then(|| Fen::yuan(price.get() * 95 / 100 / 100));
        let change =
            PriceChange { sku_code: sku.clone(), list_price: *price, member_price, effective_at: now, note: Some("launch price".into()) };
        db.schedule_price(change, None).await.map_err(|e| e.to_string())?;
    }
    // A scheduled drop, to show every channel's quote changing at one instant.
    let drop = PriceChange {
        sku_code: SkuCode::parse("NOTE13-BLK-8-256").map_err(|e| e.to_string())?,
        list_price: Fen::yuan(1299),
        member_price: Some(Fen::yuan(1249)),
        effective_at: now.checked_add(SignedDuration::from_hours(24 * 7)).unwrap_or(now),
        note: Some("Double 12 price".into()),
    };
    db.schedule_price(drop, None).await.map_err(|e| e.to_string())?;
    db.import_locations(&partners, &locations, |_| {}).await.map_err(|(_, e)| e.to_string())?;
    db.execute_all(&commands, |_| {}).await.map_err(|(i, e)| format!("stock row {i}: {e}"))?;
    let stores = locations.iter().filter(|l| l.kind.is_store()).count();
    Ok(format!(
        "demo data: {} SKUs, {} warehouses, {stores} stores, {} partners, {} stock commands",
        catalog.rows.len(),
        locations.len() - stores,
        partners.len(),
        commands.len()
    ))
}
