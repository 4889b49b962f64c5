//! Locations: warehouses and stores, where stock is held. A store sits in a county-level
//! division (6-digit code) and optionally a township (9-digit code), at a point on the map.

use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::catalog::{NAME_LEN_MAX, check_text};
use crate::codes::{LocationCode, PartnerCode};
use crate::error::{DomainError, DomainResult};

/// What a location is. Warehouses ship; stores sell, and may ship or hand over pickups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationKind {
    Warehouse,
    /// A store owned by the brand (直营店).
    Direct,
    /// A store run by a partner under the brand (授权店).
    Authorized,
    /// A small authorized store in a township (乡镇授权店).
    TownshipAuthorized,
}

impl LocationKind {
    pub const ALL: [LocationKind; 4] = [Self::Warehouse, Self::Direct, Self::Authorized, Self::TownshipAuthorized];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Warehouse => "warehouse",
            Self::Direct => "direct",
            Self::Authorized => "authorized",
            Self::TownshipAuthorized => "township_authorized",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("kind", "invalid_kind", format!("'{raw}' is not a location kind")))
    }
    pub fn is_store(self) -> bool {
        self != Self::Warehouse
    }
    /// Authorized kinds are run by a partner.
    pub fn needs_partner(self) -> bool {
        matches!(self, Self::Authorized | Self::TownshipAuthorized)
    }
}

impl fmt::Display for LocationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Lifecycle of a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LocationStatus {
    Planned,
    Open,
    Closed,
}

impl LocationStatus {
    pub const ALL: [LocationStatus; 3] = [Self::Planned, Self::Open, Self::Closed];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Planned => "planned",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("status", "invalid_status", format!("'{raw}' is not a status: planned, open or closed")))
    }
}

/// A 6-digit county-level division code (县级行政区划代码), e.g. `330106`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CountyCode(String);

/// A 9-digit township-level division code (乡级行政区划代码), e.g. `330106001`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TownshipCode(String);

fn check_digits(field: &str, raw: &str, len: usize, code: &'static str) -> DomainResult<()> {
    if raw.len() == len && raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0') {
        Ok(())
    } else {
        Err(DomainError::invalid(field, code, format!("'{raw}' is not a {len}-digit division code")))
    }
}

impl CountyCode {
    pub fn parse(raw: &str) -> DomainResult<Self> {
        check_digits("county_code", raw, 6, "invalid_county_code")?;
        // `xxyy00` stays allowed: prefecture-level cities without counties (Dongguan 441900,
        // Zhongshan 442000) are their own county-level unit. Whether a code exists is the
        // division table's business (`network::Divisions::check_site`).
        if raw.ends_with("0000") {
            return Err(DomainError::invalid(
                "county_code",
                "invalid_county_code",
                format!("'{raw}' is a province code, not a county-level one"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The 2-digit province prefix.
    pub fn province(&self) -> &str {
        &self.0[..2]
    }
    /// The 4-digit prefecture prefix.
    pub fn prefecture(&self) -> &str {
        &self.0[..4]
    }
}

impl TownshipCode {
    pub fn parse(raw: &str) -> DomainResult<Self> {
        check_digits("township_code", raw, 9, "invalid_township_code")?;
        Ok(Self(raw.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// Whether this township lies in `county`: its first six digits are the county's.
    pub fn is_in(&self, county: &CountyCode) -> bool {
        self.0.starts_with(county.as_str())
    }
}

macro_rules! text_conversions {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(raw: String) -> DomainResult<Self> {
                Self::parse(&raw)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
text_conversions!(CountyCode);
text_conversions!(TownshipCode);

/// A WGS-84 point. Coordinates are validated to lie within China's extent.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    pub longitude: f64,
    pub latitude: f64,
}

impl GeoPoint {
    /// A point within China's bounding box (lon 73–136 E, lat 3–54 N).
    pub fn new(longitude: f64, latitude: f64) -> DomainResult<Self> {
        if !(73.0..=136.0).contains(&longitude) || !longitude.is_finite() {
            return Err(DomainError::invalid("longitude", "invalid_longitude", "longitude must be within 73 and 136 (China)"));
        }
        if !(3.0..=54.0).contains(&latitude) || !latitude.is_finite() {
            return Err(DomainError::invalid("latitude", "invalid_latitude", "latitude must be within 3 and 54 (China)"));
        }
        Ok(Self { longitude, latitude })
    }

    /// Great-circle distance in kilometres (haversine, mean Earth radius 6371.0088 km).
    pub fn distance_km(&self, other: &GeoPoint) -> f64 {
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * 6371.0088 * a.sqrt().asin()
    }
}

/// What a store can do beyond selling at its till.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Capabilities {
    /// Hands over orders bought online (BOPIS).
    pub pickup: bool,
    /// Ships online orders from its own stock.
    pub ship_from_store: bool,
    /// Delivers itself within this radius (0 = no own delivery).
    pub delivery_radius_km: u32,
}

/// Earliest and latest dates a location may open or close on.
pub const DATE_MIN: Date = jiff::civil::date(1990, 1, 1);
pub const DATE_MAX: Date = jiff::civil::date(2100, 12, 31);

/// Largest delivery radius accepted.
pub const DELIVERY_RADIUS_KM_MAX: u32 = 500;

/// A warehouse or store, built valid by [`Location::new`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub code: LocationCode,
    pub name: String,
    pub kind: LocationKind,
    pub county_code: CountyCode,
    pub township_code: Option<TownshipCode>,
    pub point: GeoPoint,
    pub status: LocationStatus,
    pub opened_on: Option<Date>,
    pub closed_on: Option<Date>,
    pub capabilities: Capabilities,
    /// The partner that runs an authorized store; none for direct stores and warehouses.
    pub partner_code: Option<PartnerCode>,
}

impl Location {
    /// What would change if this location replaced `before` (the same code), field by
    /// field as `field: before → after`; empty when nothing would. Imports show it and
    /// refuse to change an existing store unless asked to.
    pub fn changes_from(&self, before: &Location) -> Vec<String> {
        fn text<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or_else(|| "(none)".to_owned(), |v| v.to_string())
        }
        let point = |p: &GeoPoint| format!("{},{}", p.longitude, p.latitude);
        // Destructured so that a new field cannot be left out of the comparison.
        let Location {
            code: _,
            name,
            kind,
            county_code,
            township_code,
            point: at,
            status,
            opened_on,
            closed_on,
            capabilities,
            partner_code,
        } = before;
        let Capabilities { pickup, ship_from_store, delivery_radius_km } = capabilities;
        let b = self;
        let fields: [(&str, String, String); 12] = [
            ("name", name.clone(), b.name.clone()),
            ("kind", kind.to_string(), b.kind.to_string()),
            ("county_code", county_code.to_string(), b.county_code.to_string()),
            ("township_code", text(township_code), text(&b.township_code)),
            ("location", point(at), point(&b.point)),
            ("status", status.as_str().to_owned(), b.status.as_str().to_owned()),
            ("opened_on", text(opened_on), text(&b.opened_on)),
            ("closed_on", text(closed_on), text(&b.closed_on)),
            ("pickup", pickup.to_string(), b.capabilities.pickup.to_string()),
            ("ship_from_store", ship_from_store.to_string(), b.capabilities.ship_from_store.to_string()),
            ("delivery_radius_km", delivery_radius_km.to_string(), b.capabilities.delivery_radius_km.to_string()),
            ("partner_code", text(partner_code), text(&b.partner_code)),
        ];
        fields.into_iter().filter(|(_, was, is)| was != is).map(|(field, was, is)| format!("{field}: {was} → {is}")).collect()
    }

    /// Checks every rule that ties the fields together.
    pub fn new(draft: Location) -> DomainResult<Self> {
        let name = check_text("name", &draft.name, NAME_LEN_MAX)?;
        if let Some(t) = &draft.township_code
            && !t.is_in(&draft.county_code)
        {
            return Err(DomainError::invalid(
                "township_code",
                "township_not_in_county",
                format!("township {t} is not in county {}", draft.county_code),
            ));
        }
        match (draft.kind.needs_partner(), &draft.partner_code) {
            (true, None) => {
                return Err(DomainError::invalid(
                    "partner_code",
                    "partner_required",
                    format!("a {} store is run by a partner: give partner_code", draft.kind),
                ));
            }
            (false, Some(_)) => {
                return Err(DomainError::invalid(
                    "partner_code",
                    "partner_not_allowed",
                    format!("a {} location has no partner", draft.kind),
                ));
            }
            _ => {}
        }
        match draft.status {
            LocationStatus::Planned if draft.closed_on.is_some() => {
                return Err(DomainError::invalid("closed_on", "closed_on_not_allowed", "a planned location has no closing date"));
            }
            LocationStatus::Open | LocationStatus::Closed if draft.opened_on.is_none() => {
                return Err(DomainError::invalid("opened_on", "opened_on_required", "an open or closed location needs its opening date"));
            }
            LocationStatus::Open if draft.closed_on.is_some() => {
                return Err(DomainError::invalid("closed_on", "closed_on_not_allowed", "an open location has no closing date"));
            }
            LocationStatus::Closed if draft.closed_on.is_none() => {
                return Err(DomainError::invalid("closed_on", "closed_on_required", "a closed location needs its closing date"));
            }
            _ => {}
        }
        if draft.kind == LocationKind::TownshipAuthorized && draft.township_code.is_none() {
            return Err(DomainError::invalid("township_code", "township_required", "a township store names its township"));
        }
        for (field, d) in [("opened_on", draft.opened_on), ("closed_on", draft.closed_on)] {
            if let Some(d) = d
                && !(DATE_MIN..=DATE_MAX).contains(&d)
            {
                return Err(DomainError::invalid(
                    field,
                    "date_out_of_range",
                    format!("{field} must lie between {DATE_MIN} and {DATE_MAX}"),
                ));
            }
        }
        if let (Some(o), Some(c)) = (draft.opened_on, draft.closed_on)
            && c < o
        {
            return Err(DomainError::invalid("closed_on", "closed_before_opened", "closed_on is before opened_on"));
        }
        if draft.capabilities.delivery_radius_km > DELIVERY_RADIUS_KM_MAX {
            return Err(DomainError::invalid(
                "delivery_radius_km",
                "delivery_radius_too_large",
                format!("at most {DELIVERY_RADIUS_KM_MAX} km"),
            ));
        }
        Ok(Location { name, ..draft })
    }

    /// Whether the location is open for trade on `day` (by its dates, not only its status).
    pub fn is_open_on(&self, day: Date) -> bool {
        match (self.opened_on, self.status) {
            (_, LocationStatus::Planned) | (None, _) => false,
            (Some(o), _) => o <= day && self.closed_on.is_none_or(|c| day < c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn draft() -> Location {
        Location {
            code: LocationCode::parse("S-1").unwrap(),
            name: "West Lake flagship".into(),
            kind: LocationKind::Direct,
            county_code: CountyCode::parse("330106").unwrap(),
            township_code: Some(TownshipCode::parse("330106001").unwrap()),
            point: GeoPoint::new(120.13, 30.27).unwrap(),
            status: LocationStatus::Open,
            opened_on: Some(date(2025, 3, 1)),
            closed_on: None,
            capabilities: Capabilities { pickup: true, ship_from_store: true, delivery_radius_km: 10 },
            partner_code: None,
        }
    }

    #[test]
    fn changes_name_each_field_that_differs() {
        let before = draft();
        assert!(before.changes_from(&before).is_empty());
        let mut after = draft();
        after.status = LocationStatus::Closed;
        after.closed_on = Some(date(2026, 1, 1));
        after.capabilities.pickup = false;
        assert_eq!(after.changes_from(&before), ["status: open → closed", "closed_on: (none) → 2026-01-01", "pickup: true → false"]);
    }

    #[test]
    fn a_valid_store_is_accepted() {
        assert!(Location::new(draft()).is_ok());
    }

    #[test]
    fn division_codes_are_checked() {
        assert!(CountyCode::parse("330106").is_ok());
        for bad in ["33010", "3301066", "330000", "abcdef", "030106"] {
            assert_eq!(CountyCode::parse(bad).unwrap_err().code, "invalid_county_code", "{bad}");
        }
        assert_eq!(TownshipCode::parse("33010600").unwrap_err().code, "invalid_township_code");
        let mut d = draft();
        d.township_code = Some(TownshipCode::parse("330105001").unwrap());
        assert_eq!(Location::new(d).unwrap_err().code, "township_not_in_county");
    }

    #[test]
    fn authorized_stores_need_a_partner_and_direct_ones_refuse_one() {
        let mut d = draft();
        d.kind = LocationKind::TownshipAuthorized;
        assert_eq!(Location::new(d.clone()).unwrap_err().code, "partner_required");
        d.partner_code = Some(PartnerCode::parse("P-1").unwrap());
        assert!(Location::new(d.clone()).is_ok());
        d.kind = LocationKind::Direct;
        assert_eq!(Location::new(d).unwrap_err().code, "partner_not_allowed");
    }

    #[test]
    fn dates_follow_the_status() {
        let mut d = draft();
        d.status = LocationStatus::Closed;
        assert_eq!(Location::new(d.clone()).unwrap_err().code, "closed_on_required");
        d.closed_on = Some(date(2025, 1, 1));
        assert_eq!(Location::new(d.clone()).unwrap_err().code, "closed_before_opened");
        d.closed_on = Some(date(2026, 1, 1));
        let closed = Location::new(d).unwrap();
        assert!(closed.is_open_on(date(2025, 6, 1)));
        assert!(!closed.is_open_on(date(2026, 1, 1)));
        assert!(!closed.is_open_on(date(2025, 2, 28)));
    }

    #[test]
    fn distance_is_great_circle() {
        let hangzhou = GeoPoint::new(120.1551, 30.2741).unwrap();
        let beijing = GeoPoint::new(116.4074, 39.9042).unwrap();
        let d = hangzhou.distance_km(&beijing);
        assert!((1120.0..1140.0).contains(&d), "{d}");
        assert_eq!(GeoPoint::new(0.0, 30.0).unwrap_err().code, "invalid_longitude");
    }
}
