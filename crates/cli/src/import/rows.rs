//! The rows of the three import files and how each becomes domain values.

use serde::Deserialize;
use std::collections::BTreeMap;
use tongjia_domain::catalog::{Gtin13, Product, Sku};
use tongjia_domain::codes::{LocationCode, Owner, PartnerCode, ProductCode, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus, TownshipCode};
use tongjia_domain::{DomainError, Fen};
use tongjia_storage::Partner;

use super::csv_file::Columns;

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

impl Columns for CatalogRow {
    const OPTIONAL: &'static [&'static str] = &["attributes", "active", "list_price_fen"];
}

impl Columns for StoreRow {
    const OPTIONAL: &'static [&'static str] =
        &["township_code", "opened_on", "closed_on", "pickup", "ship_from_store", "delivery_radius_km", "partner_code", "partner_name"];
}

impl Columns for StockRow {
    const OPTIONAL: &'static [&'static str] = &["owner", "reference"];
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
