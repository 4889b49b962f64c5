//! China's administrative divisions (NBS 2023 codes) with coordinates, parsed from the
//! reference table `data/divisions.tsv.gz` (see `data/README.md`).

use std::collections::HashMap;

use crate::error::{DomainError, DomainResult};
use crate::location::GeoPoint;

/// The furthest a store may stand from its county's point (large western counties span
/// hundreds of kilometres).
pub const SITE_DISTANCE_KM_MAX: f64 = 500.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DivisionLevel {
    Province,
    Prefecture,
    County,
    Township,
}

/// What a county-level code stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DivisionKind {
    /// A real county-level division (district, county, county-level city, banner…).
    County,
    /// A prefecture-level city without counties (Dongguan, Zhongshan, Danzhou): its own
    /// county-level unit.
    City,
    /// A statistical functional zone (development zone, park…): not an administrative
    /// division; no store is placed in one and coverage leaves it out.
    Zone,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Division {
    pub code: String,
    pub name: String,
    pub level: DivisionLevel,
    /// The code of the division above (none for provinces).
    pub parent: Option<String>,
    /// Own coordinates; townships have none and inherit their county's.
    pub point: Option<GeoPoint>,
    /// For county-level codes only.
    pub kind: Option<DivisionKind>,
}

impl Division {
    /// Whether coverage counts this division (real counties and cities without counties).
    pub fn counts_for_coverage(&self) -> bool {
        self.level == DivisionLevel::County && matches!(self.kind, Some(DivisionKind::County | DivisionKind::City))
    }
}

/// The whole table, indexed by code.
#[derive(Debug, Clone, Default)]
pub struct Divisions {
    all: Vec<Division>,
    by_code: HashMap<String, usize>,
}

impl Divisions {
    /// Parses the tab-separated table: `level code name parent longitude latitude kind`.
    pub fn parse(tsv: &str) -> DomainResult<Self> {
        let mut all = Vec::with_capacity(45_000);
        for (i, line) in tsv.lines().enumerate().filter(|(_, l)| !l.is_empty()) {
            let bad = |why: &str| DomainError::invalid("divisions", "invalid_reference_data", format!("line {}: {why}", i + 1));
            let f: Vec<&str> = line.split('\t').collect();
            if f.len() != 7 {
                return Err(bad("expected 7 fields"));
            }
            let level = match f[0] {
                "1" => DivisionLevel::Province,
                "2" => DivisionLevel::Prefecture,
                "3" => DivisionLevel::County,
                "4" => DivisionLevel::Township,
                _ => return Err(bad("unknown level")),
            };
            let point = match (f[4].parse::<f64>(), f[5].parse::<f64>()) {
                (Ok(longitude), Ok(latitude)) => Some(GeoPoint { longitude, latitude }),
                _ => None,
            };
            let kind = match f[6] {
                "county" => Some(DivisionKind::County),
                "city" => Some(DivisionKind::City),
                "zone" => Some(DivisionKind::Zone),
                "" => None,
                _ => return Err(bad("unknown kind")),
            };
            all.push(Division {
                code: f[1].to_owned(),
                name: f[2].to_owned(),
                level,
                parent: (!f[3].is_empty()).then(|| f[3].to_owned()),
                point,
                kind,
            });
        }
        let by_code = all.iter().enumerate().map(|(i, d)| (d.code.clone(), i)).collect();
        Ok(Divisions { all, by_code })
    }

    pub fn get(&self, code: &str) -> Option<&Division> {
        self.by_code.get(code).map(|i| &self.all[*i])
    }

    /// Every division of a level, in code order.
    pub fn at_level(&self, level: DivisionLevel) -> impl Iterator<Item = &Division> {
        self.all.iter().filter(move |d| d.level == level)
    }

    /// The county-level divisions coverage counts.
    pub fn coverage_counties(&self) -> impl Iterator<Item = &Division> {
        self.all.iter().filter(|d| d.counts_for_coverage())
    }

    /// A division's point: its own, else (townships) its county's.
    pub fn point_of(&self, code: &str) -> Option<GeoPoint> {
        let d = self.get(code)?;
        d.point.or_else(|| d.parent.as_deref().and_then(|p| self.point_of(p)))
    }

    /// The province a division lies in.
    pub fn province_of(&self, code: &str) -> Option<&Division> {
        self.get(code.get(..2)?)
    }

    /// The divisions directly under `code` (a province's prefectures, a prefecture's
    /// counties…), in code order.
    pub fn children_of<'a>(&'a self, code: &'a str) -> impl Iterator<Item = &'a Division> + 'a {
        self.all.iter().filter(move |d| d.parent.as_deref() == Some(code))
    }

    /// Townships of a county, in code order.
    pub fn townships_of<'a>(&'a self, county: &'a str) -> impl Iterator<Item = &'a Division> + 'a {
        self.all.iter().filter(move |d| d.level == DivisionLevel::Township && d.parent.as_deref() == Some(county))
    }

    /// Counts by kind: (provinces, prefectures, counties, cities without counties, zones, townships).
    pub fn counts(&self) -> [usize; 6] {
        let mut c = [0; 6];
        for d in &self.all {
            let i = match (d.level, d.kind) {
                (DivisionLevel::Province, _) => 0,
                (DivisionLevel::Prefecture, _) => 1,
                (DivisionLevel::County, Some(DivisionKind::City)) => 3,
                (DivisionLevel::County, Some(DivisionKind::Zone)) => 4,
                (DivisionLevel::County, _) => 2,
                (DivisionLevel::Township, _) => 5,
            };
            c[i] += 1;
        }
        c
    }

    /// Checks where a store stands: a real county-level division, a township of it, and a
    /// point no further than [`SITE_DISTANCE_KM_MAX`] from the county's.
    pub fn check_site(&self, county: &str, township: Option<&str>, point: &GeoPoint) -> DomainResult<()> {
        match self.get(county) {
            Some(d) if d.counts_for_coverage() => {}
            Some(d) if d.level == DivisionLevel::County => {
                return Err(DomainError::invalid(
                    "county_code",
                    "not_a_county_level_division",
                    format!(
                        "{county} {} is a statistical zone, not an administrative division: give the district or county it lies in",
                        d.name
                    ),
                ));
            }
            _ => {
                return Err(DomainError::invalid(
                    "county_code",
                    "unknown_county_code",
                    format!("{county} is not a county-level division code (NBS 2023)"),
                ));
            }
        }
        if let Some(c) = self.point_of(county)
            && c.distance_km(point) > SITE_DISTANCE_KM_MAX
        {
            return Err(DomainError::invalid(
                "longitude",
                "point_far_from_county",
                format!("the point is {:.0} km from county {county}: check longitude and latitude", c.distance_km(point)),
            ));
        }
        if let Some(t) = township {
            match self.get(t) {
                Some(d) if d.level == DivisionLevel::Township && d.parent.as_deref() == Some(county) => {}
                Some(_) => {
                    return Err(DomainError::invalid(
                        "township_code",
                        "township_not_in_county",
                        format!("township {t} is not in county {county}"),
                    ));
                }
                None => {
                    return Err(DomainError::invalid(
                        "township_code",
                        "unknown_township_code",
                        format!("{t} is not a township-level division code (NBS 2023)"),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small table for tests: two provinces, three prefectures, counties with a zone.
    pub(crate) fn sample() -> Divisions {
        let rows = [
            "1\t33\t浙江省\t\t120.15\t30.26\t",
            "1\t34\t安徽省\t\t117.28\t31.86\t",
            "2\t3301\t杭州市\t33\t120.15\t30.27\t",
            "2\t3307\t金华市\t33\t119.65\t29.08\t",
            "2\t3413\t宿州市\t34\t116.96\t33.64\t",
            "3\t330106\t西湖区\t3301\t120.13\t30.26\tcounty",
            "3\t330110\t余杭区\t3301\t120.30\t30.42\tcounty",
            "3\t330171\t杭州高新区\t3301\t120.19\t30.19\tzone",
            "3\t330782\t义乌市\t3307\t120.07\t29.31\tcounty",
            "3\t330784\t永康市\t3307\t120.05\t28.89\tcounty",
            "3\t341322\t萧县\t3413\t116.95\t34.19\tcounty",
            "3\t341323\t灵璧县\t3413\t117.55\t33.54\tcounty",
            "4\t330782001\t稠城街道\t330782\t\t\t",
            "4\t330782101\t佛堂镇\t330782\t\t\t",
            "4\t341322100\t龙城镇\t341322\t\t\t",
        ];
        Divisions::parse(&rows.join("\n")).unwrap()
    }

    #[test]
    fn parses_levels_kinds_and_inherited_points() {
        let d = sample();
        assert_eq!(d.counts(), [2, 3, 6, 0, 1, 3]);
        assert_eq!(d.coverage_counties().count(), 6);
        assert_eq!(d.point_of("330782101"), d.point_of("330782"));
        assert_eq!(d.province_of("330782101").unwrap().name, "浙江省");
        assert_eq!(d.townships_of("330782").count(), 2);
    }

    #[test]
    fn a_store_stands_in_a_real_county_and_one_of_its_townships() {
        let d = sample();
        let yiwu = GeoPoint { longitude: 120.07, latitude: 29.31 };
        assert!(d.check_site("330782", Some("330782101"), &yiwu).is_ok());
        assert_eq!(d.check_site("330171", None, &yiwu).unwrap_err().code, "not_a_county_level_division");
        assert_eq!(d.check_site("330799", None, &yiwu).unwrap_err().code, "unknown_county_code");
        assert_eq!(d.check_site("330782", Some("341322100"), &yiwu).unwrap_err().code, "township_not_in_county");
        assert_eq!(d.check_site("330782", Some("330782999"), &yiwu).unwrap_err().code, "unknown_township_code");
        let taipei_ish = GeoPoint { longitude: 116.4, latitude: 23.0 };
        assert_eq!(d.check_site("330782", None, &taipei_ish).unwrap_err().code, "point_far_from_county");
        assert_eq!(Divisions::parse("9\tx").unwrap_err().code, "invalid_reference_data");
    }
}
