//! The store locator over 30,000 stores: the 5 nearest open stores that can promise a SKU,
//! against a brute-force scan (the baseline, measured in the same run).

use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::HashSet;
use std::hint::black_box;
use tongjia_domain::location::GeoPoint;
use tongjia_domain::network::Locator;

const STORES: usize = 30_000;

fn rng(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *seed;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn bench(c: &mut Criterion) {
    let mut seed = 7;
    let stores: Vec<(String, GeoPoint)> = (0..STORES)
        .map(|i| {
            let lon = 98.0 + (rng(&mut seed) % 24_000) as f64 / 1000.0;
            let lat = 22.0 + (rng(&mut seed) % 20_000) as f64 / 1000.0;
            (format!("S-{i:05}"), GeoPoint::new(lon, lat).unwrap())
        })
        .collect();
    // One store in five can promise the SKU asked about.
    let stocked: HashSet<String> = stores.iter().filter(|_| rng(&mut seed).is_multiple_of(5)).map(|(c, _)| c.clone()).collect();
    let locator = Locator::new(stores.clone());
    let points: Vec<GeoPoint> =
        (0..64).map(|i| GeoPoint::new(100.0 + (i % 8) as f64 * 2.5, 24.0 + (i / 8) as f64 * 2.0).unwrap()).collect();
    let mut group = c.benchmark_group("locator_30k_stores");
    let mut i = 0;
    group.bench_function("rtree_nearest_5_with_stock", |b| {
        b.iter(|| {
            i = (i + 1) % points.len();
            black_box(locator.nearest(&points[i], 5, |code| stocked.contains(code)).len())
        })
    });
    let mut j = 0;
    group.bench_function("baseline_brute_force_scan", |b| {
        b.iter(|| {
            j = (j + 1) % points.len();
            let to = &points[j];
            let mut d: Vec<(f64, &str)> =
                stores.iter().filter(|(c, _)| stocked.contains(c)).map(|(c, p)| (p.distance_km(to), c.as_str())).collect();
            d.select_nth_unstable_by(5, |a, b| a.0.total_cmp(&b.0));
            black_box(d.len())
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
