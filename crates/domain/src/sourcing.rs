//! Sourcing: which locations fulfil a delivery. The default strategy ships the whole order
//! from one location when any can, nearest first by great-circle distance; otherwise it
//! uses as few locations as it can (greedy: the location covering most of what is still
//! missing, nearest on a tie). Every decision is explained: the candidates looked at, the
//! ones chosen, and why.
//!
//! Locations sit in an R-tree (rstar) on unit-sphere coordinates, where the straight-line
//! (chord) distance grows with the great-circle distance, so nearest-neighbour order is
//! great-circle order.

use rstar::RTree;
use rstar::primitives::GeomWithData;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

use crate::codes::{LocationCode, SkuCode};
use crate::error::{DomainError, DomainResult};
use crate::location::GeoPoint;

/// A location that could fulfil: where it is and what it can promise per SKU.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub code: LocationCode,
    pub point: GeoPoint,
    /// Available to promise by SKU (already net of reservations and safety stock).
    pub available: HashMap<SkuCode, i64>,
}

/// What is wanted: units per SKU, delivered to a point.
#[derive(Debug, Clone)]
pub struct SourcingRequest {
    pub destination: GeoPoint,
    pub lines: Vec<(SkuCode, i64)>,
}

/// One location's share of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Assignment {
    pub location_code: LocationCode,
    /// Distance to the destination in metres (whole).
    pub distance_m: i64,
    /// Units per SKU taken from this location.
    pub lines: BTreeMap<SkuCode, i64>,
}

/// A candidate as the explanation lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Considered {
    pub location_code: LocationCode,
    pub distance_m: i64,
    /// Whether this location alone could ship the whole order.
    pub ships_whole_order: bool,
}

/// The decision and its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourcingDecision {
    pub strategy: String,
    pub assignments: Vec<Assignment>,
    /// Nearest candidates looked at, nearest first (at most [`EXPLAIN_CANDIDATES_MAX`]).
    pub considered: Vec<Considered>,
    pub reason: String,
}

/// Candidates listed in an explanation, at most.
pub const EXPLAIN_CANDIDATES_MAX: usize = 10;

/// A way to choose fulfilling locations. Plug in another by implementing this.
pub trait SourcingStrategy: Send + Sync {
    fn name(&self) -> &'static str;
    fn source(&self, network: &Network, request: &SourcingRequest) -> DomainResult<SourcingDecision>;
}

type Indexed = GeomWithData<[f64; 3], usize>;

/// The candidates with a spatial index over them.
pub struct Network {
    candidates: Vec<Candidate>,
    tree: RTree<Indexed>,
    /// The most any one location can promise, per SKU: an order asking more of a SKU
    /// cannot ship from one location, and the nearest-first scan is skipped.
    single_max: HashMap<SkuCode, i64>,
}

/// A point on the unit sphere.
fn unit(p: &GeoPoint) -> [f64; 3] {
    let (lat, lon) = (p.latitude.to_radians(), p.longitude.to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}

impl Network {
    pub fn new(candidates: Vec<Candidate>) -> Self {
        let items = candidates.iter().enumerate().map(|(i, c)| GeomWithData::new(unit(&c.point), i)).collect();
        let mut single_max: HashMap<SkuCode, i64> = HashMap::new();
        for c in &candidates {
            for (sku, q) in &c.available {
                let m = single_max.entry(sku.clone()).or_default();
                *m = (*m).max(*q);
            }
        }
        Network { candidates, tree: RTree::bulk_load(items), single_max }
    }
    pub fn len(&self) -> usize {
        self.candidates.len()
    }
    pub fn is_empty(&self) -> bool {
        self.candidates.is_empty()
    }
    /// Candidates nearest first; equal distances in location-code order.
    fn nearest<'a>(&'a self, to: &GeoPoint) -> impl Iterator<Item = (&'a Candidate, i64)> + 'a {
        let to = *to;
        let target = unit(&to);
        let mut iter = self.tree.nearest_neighbor_iter_with_distance_2(target).peekable();
        // Group ties (same distance) and order them by code for a deterministic answer.
        std::iter::from_fn(move || {
            let (first, d) = iter.next()?;
            let mut tie = vec![first.data];
            while let Some((next, d2)) = iter.peek() {
                if *d2 != d {
                    break;
                }
                tie.push(next.data);
                iter.next();
            }
            Some(tie)
        })
        .flat_map(move |mut tie| {
            tie.sort_by(|a, b| self.candidates[*a].code.cmp(&self.candidates[*b].code));
            tie.into_iter().map(move |i| {
                let c = &self.candidates[i];
                (c, (c.point.distance_km(&to) * 1000.0).round() as i64)
            })
        })
    }
}

fn covers_all(c: &Candidate, lines: &[(SkuCode, i64)]) -> bool {
    lines.iter().all(|(sku, q)| c.available.get(sku).copied().unwrap_or(0) >= *q)
}

/// Whole order from the nearest location that has it all; else the fewest locations.
pub struct NearestSingleThenFewest;

impl SourcingStrategy for NearestSingleThenFewest {
    fn name(&self) -> &'static str {
        "nearest_single_then_fewest"
    }

    fn source(&self, network: &Network, request: &SourcingRequest) -> DomainResult<SourcingDecision> {
        check_lines(&request.lines)?;
        let mut considered = vec![];
        let one_can = request.lines.iter().all(|(sku, q)| network.single_max.get(sku).copied().unwrap_or(0) >= *q);
        for (c, distance_m) in network.nearest(&request.destination).take_while(|_| one_can) {
            let whole = covers_all(c, &request.lines);
            if considered.len() < EXPLAIN_CANDIDATES_MAX {
                considered.push(Considered { location_code: c.code.clone(), distance_m, ships_whole_order: whole });
            }
            if whole {
                let lines = request.lines.iter().cloned().collect();
                let reason =
                    format!("{} is the nearest location that can ship the whole order ({:.1} km)", c.code, distance_m as f64 / 1000.0);
                return Ok(SourcingDecision {
                    strategy: self.name().to_owned(),
                    assignments: vec![Assignment { location_code: c.code.clone(), distance_m, lines }],
                    considered,
                    reason,
                });
            }
        }
        let assignments = fewest(network, request)?;
        let reason = format!(
            "no single location holds the whole order; split over {} locations, each step taking the one that covers most of what is missing, nearest on a tie",
            assignments.len()
        );
        Ok(SourcingDecision { strategy: self.name().to_owned(), assignments, considered, reason })
    }
}

fn check_lines(lines: &[(SkuCode, i64)]) -> DomainResult<()> {
    if lines.is_empty() {
        return Err(DomainError::invalid("lines", "no_lines", "an order needs at least one line"));
    }
    if lines.iter().any(|(_, q)| *q <= 0) {
        return Err(DomainError::invalid("lines", "quantity_not_positive", "every line needs a positive quantity"));
    }
    Ok(())
}

/// Candidates the split first chooses among: the nearest that hold anything wanted. The pool
/// widens (×4) only when these cannot cover the order.
pub const SPLIT_POOL_FIRST: usize = 64;

/// Greedy cover over the nearest useful candidates, widening the pool until it covers.
fn fewest(network: &Network, request: &SourcingRequest) -> DomainResult<Vec<Assignment>> {
    let mut pool = SPLIT_POOL_FIRST;
    loop {
        match cover(network, request, pool) {
            Err(_) if pool < network.len() => pool = pool.saturating_mul(4),
            done => return done,
        }
    }
}

/// Greedy cover: repeatedly take the location that supplies the most missing units, among
/// the `pool` nearest candidates holding something wanted.
fn cover(network: &Network, request: &SourcingRequest, pool: usize) -> DomainResult<Vec<Assignment>> {
    let mut missing: BTreeMap<SkuCode, i64> = BTreeMap::new();
    for (sku, q) in &request.lines {
        *missing.entry(sku.clone()).or_default() += q;
    }
    // Only candidates holding something wanted, nearest first (ties by code).
    let useful: Vec<(&Candidate, i64)> = network
        .nearest(&request.destination)
        .filter(|(c, _)| missing.keys().any(|s| c.available.get(s).copied().unwrap_or(0) > 0))
        .take(pool)
        .collect();
    let mut used = vec![false; useful.len()];
    let mut out = vec![];
    while missing.values().any(|q| *q > 0) {
        let supply =
            |c: &Candidate| -> i64 { missing.iter().map(|(s, q)| (*q).min(c.available.get(s).copied().unwrap_or(0)).max(0)).sum() };
        let best =
            useful.iter().enumerate().filter(|(i, _)| !used[*i]).map(|(i, (c, d))| (i, supply(c), *d)).filter(|(_, s, _)| *s > 0).max_by(
                |a, b| a.1.cmp(&b.1).then(b.2.cmp(&a.2)).then(b.0.cmp(&a.0)), // most units, then nearest, then earlier in order
            );
        let Some((i, _, distance_m)) = best else {
            let short: Vec<String> = missing.iter().filter(|(_, q)| **q > 0).map(|(s, q)| format!("{q} of {s}")).collect();
            return Err(DomainError::rule("insufficient_stock", format!("the network cannot supply {}", short.join(", "))));
        };
        used[i] = true;
        let c = useful[i].0;
        let mut lines = BTreeMap::new();
        for (sku, q) in missing.iter_mut() {
            let take = (*q).min(c.available.get(sku).copied().unwrap_or(0)).max(0);
            if take > 0 {
                lines.insert(sku.clone(), take);
                *q -= take;
            }
        }
        out.push(Assignment { location_code: c.code.clone(), distance_m, lines });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sku(s: &str) -> SkuCode {
        SkuCode::parse(s).unwrap()
    }
    fn cand(code: &str, lon: f64, lat: f64, stock: &[(&str, i64)]) -> Candidate {
        Candidate {
            code: LocationCode::parse(code).unwrap(),
            point: GeoPoint::new(lon, lat).unwrap(),
            available: stock.iter().map(|(s, q)| (sku(s), *q)).collect(),
        }
    }
    fn request(lon: f64, lat: f64, lines: &[(&str, i64)]) -> SourcingRequest {
        SourcingRequest { destination: GeoPoint::new(lon, lat).unwrap(), lines: lines.iter().map(|(s, q)| (sku(s), *q)).collect() }
    }

    #[test]
    fn the_nearest_location_with_everything_ships_alone() {
        let net = Network::new(vec![
            cand("NEAR-PARTIAL", 120.1, 30.2, &[("A", 5)]),
            cand("MID-ALL", 121.0, 31.0, &[("A", 5), ("B", 5)]),
            cand("FAR-ALL", 113.0, 23.0, &[("A", 50), ("B", 50)]),
        ]);
        let d = NearestSingleThenFewest.source(&net, &request(120.15, 30.25, &[("A", 2), ("B", 1)])).unwrap();
        assert_eq!(d.assignments.len(), 1);
        assert_eq!(d.assignments[0].location_code.as_str(), "MID-ALL");
        assert_eq!(d.considered[0].location_code.as_str(), "NEAR-PARTIAL");
        assert!(!d.considered[0].ships_whole_order);
        assert!(d.reason.contains("MID-ALL"));
    }

    #[test]
    fn without_a_single_location_the_order_splits_over_few() {
        let net = Network::new(vec![
            cand("X", 120.0, 30.0, &[("A", 1)]),
            cand("Y", 120.5, 30.5, &[("A", 3), ("B", 1)]),
            cand("Z", 110.0, 25.0, &[("B", 5)]),
        ]);
        let d = NearestSingleThenFewest.source(&net, &request(120.0, 30.0, &[("A", 3), ("B", 2)])).unwrap();
        let codes: Vec<&str> = d.assignments.iter().map(|a| a.location_code.as_str()).collect();
        assert_eq!(codes, vec!["Y", "Z"]);
        assert_eq!(d.assignments[1].lines[&sku("B")], 1);
        let e = NearestSingleThenFewest.source(&net, &request(120.0, 30.0, &[("A", 9)])).unwrap_err();
        assert_eq!(e.code, "insufficient_stock");
    }

    #[test]
    fn equal_distances_break_ties_by_code() {
        let net = Network::new(vec![cand("B-2", 120.0, 30.0, &[("A", 1)]), cand("A-1", 120.0, 30.0, &[("A", 1)])]);
        let d = NearestSingleThenFewest.source(&net, &request(121.0, 31.0, &[("A", 1)])).unwrap();
        assert_eq!(d.assignments[0].location_code.as_str(), "A-1");
    }

    proptest! {
        /// The single-location answer is the brute-force nearest location holding everything.
        #[test]
        fn single_location_choice_matches_a_brute_force_scan(
            locs in prop::collection::vec((100.0f64..122.0, 20.0f64..42.0, 0i64..4, 0i64..4), 1..60),
            to in (100.0f64..122.0, 20.0f64..42.0),
            want in (1i64..3, 0i64..3),
        ) {
            let cands: Vec<Candidate> = locs.iter().enumerate()
                .map(|(i, (lon, lat, a, b))| cand(&format!("L{i:03}"), *lon, *lat, &[("A", *a), ("B", *b)])).collect();
            let mut lines = vec![("A", want.0)];
            if want.1 > 0 { lines.push(("B", want.1)); }
            let req = request(to.0, to.1, &lines);
            let net = Network::new(cands.clone());
            let expected = cands.iter().filter(|c| covers_all(c, &req.lines))
                .min_by(|x, y| x.point.distance_km(&req.destination).total_cmp(&y.point.distance_km(&req.destination)).then(x.code.cmp(&y.code)));
            match (NearestSingleThenFewest.source(&net, &req), expected) {
                (Ok(d), Some(e)) => {
                    prop_assert_eq!(d.assignments.len(), 1);
                    let got = cands.iter().find(|c| c.code == d.assignments[0].location_code).unwrap();
                    prop_assert!((got.point.distance_km(&req.destination) - e.point.distance_km(&req.destination)).abs() < 1e-6);
                }
                (Ok(d), None) => {
                    // A split must supply exactly what was asked, from stock that exists.
                    let mut total: BTreeMap<SkuCode, i64> = BTreeMap::new();
                    for a in &d.assignments {
                        let c = cands.iter().find(|c| c.code == a.location_code).unwrap();
                        for (s, q) in &a.lines {
                            prop_assert!(*q <= c.available[s]);
                            *total.entry(s.clone()).or_default() += q;
                        }
                    }
                    for (s, q) in &req.lines { prop_assert_eq!(total[s], *q); }
                }
                (Err(e), None) => prop_assert_eq!(e.code, "insufficient_stock"),
                (Err(e), Some(_)) => prop_assert!(false, "refused although a single location could ship: {}", e),
            }
        }
    }
}
