//! One sourcing decision over 10,000 locations: the R-tree strategy against a brute-force
//! scan of every location (the baseline, measured in the same run).

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::HashMap;
use std::hint::black_box;
use tongjia_domain::codes::{LocationCode, SkuCode};
use tongjia_domain::location::GeoPoint;
use tongjia_domain::sourcing::{Candidate, NearestSingleThenFewest, Network, SourcingRequest, SourcingStrategy};

const LOCATIONS: usize = 10_000;
const SKUS: usize = 40;

/// SplitMix64, for a reproducible network.
fn rng(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn network() -> (Vec<Candidate>, Vec<SkuCode>) {
    let mut seed = 42;
    let skus: Vec<SkuCode> = (0..SKUS).map(|i| SkuCode::parse(&format!("SKU-{i:02}")).unwrap()).collect();
    let candidates = (0..LOCATIONS)
        .map(|i| {
            let lon = 98.0 + (rng(&mut seed) % 24_000) as f64 / 1000.0;
            let lat = 22.0 + (rng(&mut seed) % 20_000) as f64 / 1000.0;
            // Each location holds about a third of the SKUs, 0-9 units each.
            let mut available: HashMap<SkuCode, i64> = HashMap::new();
            for s in &skus {
                if rng(&mut seed).is_multiple_of(3) {
                    available.insert(s.clone(), (rng(&mut seed) % 10) as i64);
                }
            }
            Candidate { code: LocationCode::parse(&format!("L-{i:05}")).unwrap(), point: GeoPoint::new(lon, lat).unwrap(), available }
        })
        .collect();
    (candidates, skus)
}

fn brute_force<'a>(candidates: &'a [Candidate], req: &SourcingRequest) -> Option<&'a Candidate> {
    candidates
        .iter()
        .filter(|c| req.lines.iter().all(|(s, q)| c.available.get(s).copied().unwrap_or(0) >= *q))
        .min_by(|a, b| a.point.distance_km(&req.destination).total_cmp(&b.point.distance_km(&req.destination)))
}

fn bench(c: &mut Criterion) {
    let (candidates, skus) = network();
    let net = Network::new(candidates.clone());
    let requests: Vec<SourcingRequest> = (0..64)
        .map(|i| {
            let lon = 100.0 + (i % 8) as f64 * 2.5;
            let lat = 24.0 + (i / 8) as f64 * 2.0;
            let lines = (0..1 + i % 3).map(|k| (skus[(i * 7 + k * 13) % SKUS].clone(), 1 + (k as i64 % 2))).collect();
            SourcingRequest { destination: GeoPoint::new(lon, lat).unwrap(), lines }
        })
        .collect();
    let mut group = c.benchmark_group("sourcing_10k_locations");
    let mut i = 0;
    group.bench_function("rtree_nearest_single_then_fewest", |b| {
        b.iter(|| {
            i = (i + 1) % requests.len();
            black_box(NearestSingleThenFewest.source(&net, &requests[i]).ok())
        })
    });
    let mut j = 0;
    group.bench_function("baseline_brute_force_scan", |b| {
        b.iter(|| {
            j = (j + 1) % requests.len();
            black_box(brute_force(&candidates, &requests[j]).map(|c| c.code.clone()))
        })
    });
    // The worst case: no location holds the whole order (15 units, at most 9 anywhere), so
    // every candidate is looked at and the order splits.
    let splits: Vec<SourcingRequest> =
        requests.iter().map(|r| SourcingRequest { destination: r.destination, lines: vec![(r.lines[0].0.clone(), 15)] }).collect();
    let mut k = 0;
    group.bench_function("rtree_split_order_worst_case", |b| {
        b.iter(|| {
            k = (k + 1) % splits.len();
            black_box(NearestSingleThenFewest.source(&net, &splits[k]).ok())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
