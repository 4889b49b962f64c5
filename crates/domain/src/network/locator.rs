//! The store locator: the nearest open stores to a point, optionally only those that can
//! promise a SKU.

use rstar::RTree;
use rstar::primitives::GeomWithData;

use super::coverage::unit;
use crate::location::GeoPoint;

/// An index over open stores (code and point).
pub struct Locator {
    stores: Vec<(String, GeoPoint)>,
    tree: RTree<GeomWithData<[f64; 3], usize>>,
}

/// The most stores one answer lists.
pub const NEAREST_MAX: usize = 50;

impl Locator {
    pub fn new(stores: Vec<(String, GeoPoint)>) -> Self {
        let tree = RTree::bulk_load(stores.iter().enumerate().map(|(i, (_, p))| GeomWithData::new(unit(p), i)).collect());
        Locator { stores, tree }
    }
    pub fn len(&self) -> usize {
        self.stores.len()
    }
    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }
    /// Up to `k` stores nearest to `to` that pass `keep`, nearest first, with their distance
    /// in metres.
    pub fn nearest(&self, to: &GeoPoint, k: usize, keep: impl Fn(&str) -> bool) -> Vec<(&str, i64)> {
        self.by_distance(to).filter(|(code, _)| keep(code)).take(k.min(NEAREST_MAX)).collect()
    }

    /// Every store, nearest to `to` first, with its distance in metres (lazily: taking the
    /// first few costs a few steps of the tree, not a sort of the network).
    pub fn by_distance<'a>(&'a self, to: &GeoPoint) -> impl Iterator<Item = (&'a str, i64)> + 'a {
        let to = *to;
        self.tree
            .nearest_neighbor_iter(unit(&to))
            .map(|n| &self.stores[n.data])
            .map(move |(code, p)| (code.as_str(), (p.distance_km(&to) * 1000.0).round() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The locator agrees with a brute-force scan.
        #[test]
        fn nearest_matches_a_brute_force_scan(pts in prop::collection::vec((100.0f64..122.0, 20.0f64..42.0, any::<bool>()), 1..80), to in (100.0f64..122.0, 20.0f64..42.0), k in 1usize..6) {
            let stores: Vec<(String, GeoPoint)> = pts.iter().enumerate().map(|(i, (lon, lat, _))| (format!("S{i:03}"), GeoPoint::new(*lon, *lat).unwrap())).collect();
            let stocked: std::collections::HashSet<String> = pts.iter().enumerate().filter(|(_, p)| p.2).map(|(i, _)| format!("S{i:03}")).collect();
            let to = GeoPoint::new(to.0, to.1).unwrap();
            let loc = Locator::new(stores.clone());
            let got: Vec<i64> = loc.nearest(&to, k, |c| stocked.contains(c)).iter().map(|(_, d)| *d).collect();
            let mut want: Vec<i64> = stores.iter().filter(|(c, _)| stocked.contains(c)).map(|(_, p)| (p.distance_km(&to) * 1000.0).round() as i64).collect();
            want.sort();
            want.truncate(k);
            prop_assert_eq!(got, want);
        }
    }
}
