//! Coverage: the share of county-level divisions with at least one open store, overall, by
//! province and by store kind, and township stores against a target — as of any date.

use jiff::civil::Date;
use rstar::RTree;
use rstar::primitives::GeomWithData;
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

use super::divisions::Divisions;
use crate::DomainError;
use crate::location::{GeoPoint, LocationKind, LocationStatus};

/// What coverage needs to know of a store.
#[derive(Debug, Clone)]
pub struct StoreSite {
    pub code: String,
    pub kind: LocationKind,
    pub county_code: String,
    pub township_code: Option<String>,
    pub point: GeoPoint,
    pub status: LocationStatus,
    /// Ships online orders from its own stock (warehouses always ship).
    pub ship_from_store: bool,
    pub opened_on: Option<Date>,
    pub closed_on: Option<Date>,
}

impl StoreSite {
    /// Open for trade on `day`, by its dates (a closed store counts while it was open).
    pub fn open_on(&self, day: Date) -> bool {
        self.kind.is_store()
            && self.status != LocationStatus::Planned
            && self.opened_on.is_some_and(|o| o <= day)
            && self.closed_on.is_none_or(|c| day < c)
    }
}

/// Coverage of one group (a province, a store kind, or everything).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub code: String,
    pub name: String,
    pub counties: i64,
    pub covered: i64,
    /// covered / counties, in basis points (1/100 of a percent), rounded down.
    pub share_bp: i64,
    pub stores: i64,
}

impl Share {
    fn new(code: &str, name: &str, counties: i64, covered: i64, stores: i64) -> Self {
        let share_bp = if counties == 0 { 0 } else { covered * 10_000 / counties };
        Share { code: code.to_owned(), name: name.to_owned(), counties, covered, share_bp, stores }
    }
    /// The share as a percentage with two decimals, e.g. `61.25`.
    pub fn percent(&self) -> String {
        format!("{}.{:02}", self.share_bp / 100, self.share_bp % 100)
    }
}

/// The network's coverage on a date.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coverage {
    pub at: Date,
    pub overall: Share,
    pub by_province: Vec<Share>,
    /// Counties covered by stores of each kind (a county can count under several kinds).
    pub by_kind: Vec<Share>,
    pub township_stores: i64,
    pub townships_covered: i64,
    pub township_target: i64,
}

/// Computes coverage on `at`. Stores in codes that are not coverage counties are ignored.
pub fn coverage(divisions: &Divisions, stores: &[StoreSite], at: Date, township_target: i64) -> Coverage {
    let counties: Vec<_> = divisions.coverage_counties().collect();
    let countable: BTreeSet<&str> = counties.iter().map(|d| d.code.as_str()).collect();
    let open: Vec<&StoreSite> = stores.iter().filter(|s| s.open_on(at) && countable.contains(s.county_code.as_str())).collect();
    let covered: BTreeSet<&str> = open.iter().map(|s| s.county_code.as_str()).collect();
    let mut by_province = vec![];
    for p in divisions.at_level(super::DivisionLevel::Province) {
        let total = counties.iter().filter(|d| d.code.starts_with(&p.code)).count() as i64;
        let cov = covered.iter().filter(|c| c.starts_with(&p.code)).count() as i64;
        let n = open.iter().filter(|s| s.county_code.starts_with(&p.code)).count() as i64;
        by_province.push(Share::new(&p.code, &p.name, total, cov, n));
    }
    let mut by_kind = vec![];
    for kind in [LocationKind::Direct, LocationKind::Authorized, LocationKind::TownshipAuthorized] {
        let of_kind: Vec<&&StoreSite> = open.iter().filter(|s| s.kind == kind).collect();
        let cov: BTreeSet<&str> = of_kind.iter().map(|s| s.county_code.as_str()).collect();
        by_kind.push(Share::new(kind.as_str(), kind.as_str(), counties.len() as i64, cov.len() as i64, of_kind.len() as i64));
    }
    let township_stores = open.iter().filter(|s| s.kind == LocationKind::TownshipAuthorized).count() as i64;
    let townships_covered = open.iter().filter_map(|s| s.township_code.as_deref()).collect::<BTreeSet<_>>().len() as i64;
    Coverage {
        at,
        overall: Share::new("all", "全国", counties.len() as i64, covered.len() as i64, open.len() as i64),
        by_province,
        by_kind,
        township_stores,
        townships_covered,
        township_target,
    }
}

/// An uncovered county and how far it is from the nearest open store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub county_code: String,
    pub name: String,
    pub province: String,
    /// Great-circle distance to the nearest open store, in metres (none when no store is open).
    pub nearest_store_m: Option<i64>,
    pub nearest_store_code: Option<String>,
}

type Indexed = GeomWithData<[f64; 3], usize>;

/// A point on the unit sphere: chord distance there orders like great-circle distance.
pub(crate) fn unit(p: &GeoPoint) -> [f64; 3] {
    let (lat, lon) = (p.latitude.to_radians(), p.longitude.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

/// An R-tree over points, for nearest-neighbour questions.
pub(crate) fn index(points: &[GeoPoint]) -> RTree<Indexed> {
    RTree::bulk_load(points.iter().enumerate().map(|(i, p)| GeomWithData::new(unit(p), i)).collect())
}

/// Uncovered counties, farthest from any open store first (ties by code).
pub fn gaps(divisions: &Divisions, stores: &[StoreSite], at: Date) -> Vec<Gap> {
    let open: Vec<&StoreSite> = stores.iter().filter(|s| s.open_on(at)).collect();
    let covered: BTreeSet<&str> = open.iter().map(|s| s.county_code.as_str()).collect();
    let points: Vec<GeoPoint> = open.iter().map(|s| s.point).collect();
    let tree = index(&points);
    let provinces: HashMap<&str, &str> =
        divisions.at_level(super::DivisionLevel::Province).map(|p| (p.code.as_str(), p.name.as_str())).collect();
    let mut out: Vec<Gap> = divisions
        .coverage_counties()
        .filter(|d| !covered.contains(d.code.as_str()))
        .map(|d| {
            let point = divisions.point_of(&d.code);
            let nearest = point.and_then(|p| tree.nearest_neighbor(unit(&p)).map(|n| (open[n.data], p)));
            Gap {
                county_code: d.code.clone(),
                name: d.name.clone(),
                province: provinces.get(&d.code[..2]).copied().unwrap_or("").to_owned(),
                nearest_store_m: nearest.map(|(s, p)| (s.point.distance_km(&p) * 1000.0).round() as i64),
                nearest_store_code: nearest.map(|(s, _)| s.code.clone()),
            }
        })
        .collect();
    out.sort_by(|a, b| b.nearest_store_m.cmp(&a.nearest_store_m).then(a.county_code.cmp(&b.county_code)));
    out
}

/// The most months a trend covers (ten years): its cost grows with them.
pub const TREND_MONTHS_MAX: usize = 120;

/// The first of each month from `from`'s to `to` (the months of a trend). Refused when
/// `from` is after `to` (`invalid_range`) or the range spans more than [`TREND_MONTHS_MAX`]
/// months (`range_too_long`).
pub fn trend_months(from: Date, to: Date) -> Result<Vec<Date>, DomainError> {
    if from > to {
        return Err(DomainError::invalid("from", "invalid_range", "from is after at"));
    }
    let too_long = || {
        DomainError::invalid("from", "range_too_long", format!("a trend spans at most {TREND_MONTHS_MAX} months: move from closer to at"))
    };
    let mut out = vec![];
    let mut day = from.first_of_month();
    while day <= to {
        if out.len() == TREND_MONTHS_MAX {
            return Err(too_long());
        }
        out.push(day);
        match day.checked_add(jiff::Span::new().months(1)) {
            Ok(next) => day = next,
            Err(_) => break,
        }
    }
    Ok(out)
}

/// Coverage on each of `months` (the trend); `None` as soon as `stop` says so (its asker
/// went away), checked before each month.
pub fn trend(
    divisions: &Divisions,
    stores: &[StoreSite],
    months: &[Date],
    township_target: i64,
    stop: impl Fn() -> bool,
) -> Option<Vec<Coverage>> {
    let mut out = Vec::with_capacity(months.len());
    for day in months {
        if stop() {
            return None;
        }
        out.push(coverage(divisions, stores, *day, township_target));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::divisions::tests::sample;
    use super::*;
    use jiff::civil::date;

    #[test]
    fn a_trend_is_bounded() {
        let months = trend_months(date(2024, 11, 25), date(2026, 11, 25)).unwrap();
        assert_eq!((months.len(), months[0], months[24]), (25, date(2024, 11, 1), date(2026, 11, 1)));
        assert_eq!(trend_months(date(2016, 12, 31), date(2026, 11, 1)).unwrap().len(), TREND_MONTHS_MAX);
        assert_eq!(trend_months(date(2016, 11, 30), date(2026, 11, 1)).unwrap_err().code, "range_too_long");
        assert_eq!(trend_months(date(1, 1, 1), date(9999, 12, 1)).unwrap_err().code, "range_too_long");
        assert_eq!(trend_months(date(2026, 11, 2), date(2026, 11, 1)).unwrap_err().code, "invalid_range");
        let d = sample();
        assert!(trend(&d, &[], &months, 10, || true).is_none(), "a stopped trend computes nothing");
        assert_eq!(trend(&d, &[], &months, 10, || false).map(|t| t.len()), Some(25));
    }

    pub(crate) fn site(
        code: &str,
        kind: LocationKind,
        county: &str,
        township: Option<&str>,
        opened: Date,
        closed: Option<Date>,
    ) -> StoreSite {
        let d = sample();
        StoreSite {
            code: code.into(),
            kind,
            county_code: county.into(),
            township_code: township.map(Into::into),
            point: d.point_of(county).unwrap(),
            status: if closed.is_some() { LocationStatus::Closed } else { LocationStatus::Open },
            ship_from_store: false,
            opened_on: Some(opened),
            closed_on: closed,
        }
    }

    #[test]
    fn coverage_counts_real_counties_with_an_open_store_on_the_date() {
        let d = sample();
        let stores = vec![
            site("D1", LocationKind::Direct, "330106", None, date(2025, 1, 1), None),
            site("A1", LocationKind::Authorized, "330782", None, date(2025, 6, 1), None),
            site("T1", LocationKind::TownshipAuthorized, "330782", Some("330782101"), date(2025, 6, 1), Some(date(2026, 1, 1))),
            site("Z1", LocationKind::Direct, "330171", None, date(2025, 1, 1), None),
        ];
        let c = coverage(&d, &stores, date(2025, 7, 1), 10);
        assert_eq!((c.overall.counties, c.overall.covered, c.overall.share_bp), (6, 2, 3333));
        assert_eq!(c.overall.percent(), "33.33");
        let zj = c.by_province.iter().find(|p| p.code == "33").unwrap();
        assert_eq!((zj.counties, zj.covered), (4, 2));
        assert_eq!((c.township_stores, c.townships_covered), (1, 1));
        let later = coverage(&d, &stores, date(2026, 2, 1), 10);
        assert_eq!((later.overall.covered, later.township_stores), (2, 0), "the township store closed");
        assert_eq!(coverage(&d, &stores, date(2024, 12, 31), 10).overall.covered, 0);
    }

    #[test]
    fn gaps_are_ranked_by_distance_to_the_nearest_open_store() {
        let d = sample();
        let stores = vec![site("D1", LocationKind::Direct, "330106", None, date(2025, 1, 1), None)];
        let g = gaps(&d, &stores, date(2025, 7, 1));
        assert_eq!(g.len(), 5);
        assert_eq!(g[0].county_code, "341322", "Xiaoxian in Anhui is the farthest from Hangzhou");
        assert!(g.windows(2).all(|w| w[0].nearest_store_m >= w[1].nearest_store_m));
        assert_eq!(g.last().unwrap().county_code, "330110");
    }
}
