//! `tongjia import catalog|stores|stock FILE.csv`: every row is checked first and every
//! bad row reported with its line number; then all rows are written in one transaction,
//! so a failed import writes nothing.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, Owner, PartnerCode, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus, TownshipCode};
use tongjia_domain::{DomainError, Fen};
use tongjia_storage::{Db, Partner, StoreError};

use crate::ImportKind;
use crate::progress::bar;

/// Bad rows reported at most.
const ERRORS_SHOWN_MAX: usize = 20;

#[derive(Debug, Deserialize)]
pub struct CatalogRow {
    pub product_code: String,
    pub product_name: String,
    pub category: String,
    pub sku_code: String,
    pub sku_name: String,
    /// `name=value;name=value`
    #[serde(default)]
    pub attributes: String,
    pub gtin: String,
    #[serde(default)]
    pub active: Option<bool>,
    #[serde(default)]
    pub list_price_fen: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct StoreRow {
    pub store_code: String,
    pub name: String,
    pub kind: String,
    pub county_code: String,
    #[serde(default)]
    pub township_code: Option<String>,
    pub longitude: f64,
    pub latitude: f64,
    pub status: String,
    #[serde(default)]
    pub opened_on: Option<String>,
    #[serde(default)]
    pub closed_on: Option<String>,
    #[serde(default)]
    pub pickup: Option<bool>,
    #[serde(default)]
    pub ship_from_store: Option<bool>,
    #[serde(default)]
    pub delivery_radius_km: Option<u32>,
    #[serde(default)]
    pub partner_code: Option<String>,
    #[serde(default)]
    pub partner_name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct StockRow {
    pub location_code: String,
    pub sku_code: String,
    #[serde(default)]
    pub owner: Option<String>,
    pub quantity: i64,
    #[serde(default)]
    pub reference: Option<String>,
}

/// Parses `name=value;name=value` attributes.
fn attributes(raw: &str) -> Result<BTreeMap<String, String>, DomainError> {
    raw.split(';')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_owned(), v.trim().to_owned())),
            None => Err(DomainError::invalid("attributes", "invalid_attributes", format!("'{pair}' is not name=value"))),
        })
        .collect()
}

fn nonempty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn date(field: &str, raw: Option<&str>) -> Result<Option<jiff::civil::Date>, DomainError> {
    raw.map(|d| d.parse().map_err(|_| DomainError::invalid(field, "invalid_date", format!("'{d}' is not a YYYY-MM-DD date")))).transpose()
}

impl CatalogRow {
    pub fn parse(&self) -> Result<(Product, Sku, Option<Fen>), DomainError> {
        let product = Product::new(ProductCode::parse(&self.product_code)?, &self.product_name, &self.category)?;
        let sku = Sku::new(
            SkuCode::parse(&self.sku_code)?,
            product.code.clone(),
            &self.sku_name,
            attributes(&self.attributes)?,
            Gtin13::parse(&self.gtin)?,
            self.active.unwrap_or(true),
        )?;
        let price = self.list_price_fen.map(|p| Fen::price(p, "list_price_fen")).transpose()?;
        Ok((product, sku, price))
    }
}

impl StoreRow {
    pub fn parse(&self) -> Result<(Location, Option<Partner>), DomainError> {
        let partner_code = nonempty(&self.partner_code).map(PartnerCode::parse).transpose()?;
        let location = Location::new(Location {
            code: LocationCode::parse(&self.store_code).map_err(|e| e.at("store_code"))?,
            name: self.name.clone(),
            kind: LocationKind::parse(&self.kind)?,
            county_code: CountyCode::parse(&self.county_code)?,
            township_code: nonempty(&self.township_code).map(TownshipCode::parse).transpose()?,
            point: GeoPoint::new(self.longitude, self.latitude)?,
            status: LocationStatus::parse(&self.status)?,
            opened_on: date("opened_on", nonempty(&self.opened_on))?,
            closed_on: date("closed_on", nonempty(&self.closed_on))?,
            capabilities: Capabilities {
                pickup: self.pickup.unwrap_or(false),
                ship_from_store: self.ship_from_store.unwrap_or(false),
                delivery_radius_km: self.delivery_radius_km.unwrap_or(0),
            },
            partner_code: partner_code.clone(),
        })?;
        let partner = match (partner_code, nonempty(&self.partner_name)) {
            (Some(code), Some(name)) => Some(Partner { code, name: name.to_owned() }),
            _ => None,
        };
        Ok((location, partner))
    }
}

impl StockRow {
    pub fn parse(&self) -> Result<StockCommand, DomainError> {
        Ok(StockCommand::Receive {
            key: StockKey {
                location_code: LocationCode::parse(&self.location_code)?,
                sku_code: SkuCode::parse(&self.sku_code)?,
                owner: nonempty(&self.owner).map(Owner::parse).transpose()?.unwrap_or_default(),
            },
            quantity: Quantity::new(self.quantity)?,
            reference: self.reference.clone().filter(|r| !r.is_empty()).or_else(|| Some("import".to_owned())),
        })
    }
}

/// Reads and checks every row; returns the parsed rows with their line numbers, or every
/// bad row's line number and reason.
pub fn parse_rows<R: for<'de> Deserialize<'de>, T>(
    path: &Path,
    parse: impl Fn(&R) -> Result<T, DomainError>,
) -> Result<Vec<(u64, T)>, String> {
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut rows = vec![];
    let mut errors = vec![];
    let bar = bar(0, "checking");
    for (i, record) in reader.deserialize::<R>().enumerate() {
        let line = i as u64 + 2;
        match record {
            Ok(raw) => match parse(&raw) {
                Ok(v) => rows.push((line, v)),
                Err(e) => errors.push(format!("line {line}: {}: {}", e.field.as_deref().unwrap_or(e.code), e.message)),
            },
            Err(e) => {
                let line = e.position().map_or(line, |p| p.line());
                errors.push(format!("line {line}: {e}"));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if errors.is_empty() {
        return Ok(rows);
    }
    let more = errors.len().saturating_sub(ERRORS_SHOWN_MAX);
    let mut report = errors.into_iter().take(ERRORS_SHOWN_MAX).collect::<Vec<_>>().join("\n");
    if more > 0 {
        report.push_str(&format!("\n... and {more} more bad rows"));
    }
    Err(format!("{}: nothing imported:\n{report}", path.display()))
}

/// Reports a storage refusal at the line of the row it refused.
fn refused(lines: &[u64], (index, e): (usize, StoreError)) -> String {
    let at = lines.get(index).map_or_else(|| "commit".to_owned(), |l| format!("line {l}"));
    format!("{at}: {e}; nothing imported")
}

pub async fn run(db: &Db, what: ImportKind, path: &Path) -> Result<(), String> {
    match what {
        ImportKind::Catalog => {
            let rows = parse_rows(path, CatalogRow::parse)?;
            let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
            let rows: Vec<_> = rows.into_iter().map(|(_, r)| r).collect();
            let bar = bar(rows.len(), "catalog");
            let n = db.import_catalog(&rows, |i| bar.set_position(i as u64)).await.map_err(|e| refused(&lines, e))?;
            bar.finish_and_clear();
            println!("imported {n} SKUs from {}", path.display());
        }
        ImportKind::Stores => {
            let rows = parse_rows(path, StoreRow::parse)?;
            let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
            let mut partners: BTreeMap<PartnerCode, Partner> = BTreeMap::new();
            let locations: Vec<Location> = rows
                .into_iter()
                .map(|(_, (l, p))| {
                    if let Some(p) = p {
                        partners.insert(p.code.clone(), p);
                    }
                    l
                })
                .collect();
            let partners: Vec<Partner> = partners.into_values().collect();
            let bar = bar(locations.len(), "stores");
            let n = db.import_locations(&partners, &locations, |i| bar.set_position(i as u64)).await.map_err(|e| refused(&lines, e))?;
            bar.finish_and_clear();
            println!("imported {n} stores and {} partners from {}", partners.len(), path.display());
        }
        ImportKind::Stock => {
            let rows = parse_rows(path, StockRow::parse)?;
            let lines: Vec<u64> = rows.iter().map(|(l, _)| *l).collect();
            let commands: Vec<StockCommand> = rows.into_iter().map(|(_, c)| c).collect();
            let bar = bar(commands.len(), "stock");
            let n = db.execute_all(&commands, |i| bar.set_position(i as u64)).await.map_err(|e| refused(&lines, e))?;
            bar.finish_and_clear();
            println!("received {n} stock rows from {}", path.display());
        }
    }
    Ok(())
}
