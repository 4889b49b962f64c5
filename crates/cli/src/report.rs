//! `tongjia coverage` and `tongjia plan`: the network on China's real map, as tables.

use jiff::civil::Date;
use std::collections::HashMap;
use std::path::Path;
use tongjia_domain::network::{coverage as compute, plan as propose};
use tongjia_storage::Db;
use tongjia_storage::reference::divisions;

fn today() -> Date {
    jiff::Zoned::now().date()
}

/// Prints coverage overall, by store kind and by province.
pub async fn coverage(db: &Db, at: Option<Date>, township_target: i64) -> Result<(), String> {
    if township_target <= 0 {
        return Err("--township-target must be positive".into());
    }
    let sites = db.store_sites().await.map_err(|e| e.to_string())?;
    let c = compute(divisions(), &sites, at.unwrap_or_else(today), township_target);
    let [provinces, prefectures, counties, cities, zones, townships] = divisions().counts();
    println!(
        "Coverage on {} (NBS 2023 divisions: {provinces} provinces, {prefectures} prefectures, {counties} counties + {cities} cities without counties; {zones} statistical zones left out; {townships} townships)",
        c.at
    );
    println!();
    println!("{:<30} {:>9} {:>9} {:>8} {:>8}", "", "counties", "covered", "share", "stores");
    let row = |label: &str, s: &tongjia_domain::network::coverage::Share| {
        println!("{label:<30} {:>9} {:>9} {:>7}% {:>8}", s.counties, s.covered, s.percent(), s.stores)
    };
    row("all", &c.overall);
    for k in &c.by_kind {
        row(&format!("  by {} stores", k.code), k);
    }
    println!();
    for p in &c.by_province {
        row(&format!("{} {}", p.code, p.name), p);
    }
    println!();
    println!(
        "township stores: {} of {} target ({}.{:02}%), townships covered: {}",
        c.township_stores,
        c.township_target,
        c.township_stores * 10_000 / c.township_target / 100,
        c.township_stores * 10_000 / c.township_target % 100,
        c.townships_covered
    );
    Ok(())
}

/// Reads `county_code,weight` rows.
fn weights(path: &Path) -> Result<HashMap<String, f64>, String> {
    let mut reader =
        csv::ReaderBuilder::new().trim(csv::Trim::All).from_path(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = HashMap::new();
    for (i, row) in reader.deserialize::<(String, f64)>().enumerate() {
        let line = i + 2;
        let (code, w) = row.map_err(|e| format!("line {line}: {e}"))?;
        if divisions().get(&code).is_none_or(|d| !d.counts_for_coverage()) {
            return Err(format!("line {line}: {code} is not a county-level division"));
        }
        if !(w.is_finite() && w > 0.0 && w <= 1000.0) {
            return Err(format!("line {line}: the weight must be above 0 and at most 1000"));
        }
        out.insert(code, w);
    }
    Ok(out)
}

/// Prints the proposed sites and the distances they leave.
pub async fn plan(db: &Db, n: usize, weights_file: Option<&Path>, at: Option<Date>) -> Result<(), String> {
    if !(1..=2_000).contains(&n) {
        return Err("--stores must be between 1 and 2000".into());
    }
    let w = weights_file.map(weights).transpose()?.unwrap_or_default();
    let at = at.unwrap_or_else(today);
    let open: Vec<_> = db.store_sites().await.map_err(|e| e.to_string())?.iter().filter(|s| s.open_on(at)).cloned().collect();
    let p = propose(divisions(), &open, n, &w);
    println!("{:>3} {:<8} {:<16} {:<10} {:>10} {:>10} {:>12}", "#", "county", "name", "township", "longitude", "latitude", "was km away");
    for (i, s) in p.sites.iter().enumerate() {
        println!(
            "{:>3} {:<8} {:<16} {:<10} {:>10.4} {:>10.4} {:>12.1}",
            i + 1,
            s.county_code,
            s.county_name,
            s.township_code.as_deref().unwrap_or("-"),
            s.longitude,
            s.latitude,
            s.distance_before_m as f64 / 1000.0
        );
    }
    println!();
    println!(
        "{} new counties covered; worst distance to a store after: {:.1} km, mean {:.1} km",
        p.new_counties_covered,
        p.worst_after_m as f64 / 1000.0,
        p.mean_after_m as f64 / 1000.0
    );
    Ok(())
}
