//! `tongjia import catalog|stores|stock FILE.csv`: all rows or none.
//!
//! The file is read whole first: its header against the row's columns, every record at
//! the line it starts on, keys given twice, things described two ways, and (stores) any
//! change to an existing store, which needs `--update`. Then the rows go to the database in
//! one transaction ([`Bulk`]); if anything was wrong, every problem is reported (the first
//! [`PROBLEMS_SHOWN_MAX`] shown, sorted by line) and nothing is written. `--check` does
//! all of it and writes nothing.

mod checks;
mod csv_file;
mod rows;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::Path;

use indicatif::ProgressBar;
use tongjia_domain::codes::PartnerCode;
use tongjia_domain::ledger::StockCommand;
use tongjia_domain::location::Location;
use tongjia_storage::{Bulk, Db, Partner, REFUSALS_MAX, Refusals};

use crate::ImportKind;
use crate::progress::bar;
use csv_file::Problem;
use rows::{CatalogRow, StockRow, StoreRow};

/// Problems shown at most; the rest are counted.
pub const PROBLEMS_SHOWN_MAX: usize = 20;

/// What the command line asked for besides the file.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Stores: let the file change stores that exist.
    pub update: bool,
    /// Check everything and write nothing.
    pub check: bool,
}

pub async fn run(db: &Db, what: ImportKind, path: &Path, options: Options) -> Result<(), String> {
    match what {
        ImportKind::Catalog => catalog(db, path, options).await,
        ImportKind::Stores => stores(db, path, options).await,
        ImportKind::Stock => stock(db, path, options).await,
    }
}

async fn catalog(db: &Db, path: &Path, options: Options) -> Result<(), String> {
    let (rows, mut problems) = csv_file::read(path, CatalogRow::parse)?;
    problems.extend(checks::unique(&rows, "sku_code", |(_, s, _)| Some(s.code.to_string())));
    problems.extend(checks::unique(&rows, "gtin", |(_, s, _)| Some(s.gtin.to_string())));
    problems.extend(checks::consistent(
        &rows,
        "product",
        |(p, _, _)| Some(p.code.to_string()),
        |(p, _, _)| format!("'{}' in category '{}'", p.name, p.category),
    ));
    let (lines, rows) = split(rows);
    let mode =
        apply(path, "catalog", &lines, problems, options, |mode, bar| db.import_catalog(&rows, mode, move |i| bar.set_position(i as u64)))
            .await?;
    println!("{} {} SKUs from {}", done(mode), rows.len(), path.display());
    Ok(())
}

async fn stores(db: &Db, path: &Path, options: Options) -> Result<(), String> {
    let (rows, mut problems) = csv_file::read(path, StoreRow::parse)?;
    problems.extend(checks::unique(&rows, "store_code", |(l, _)| Some(l.code.to_string())));
    problems.extend(checks::consistent(
        &rows,
        "partner",
        |(_, p)| p.as_ref().map(|p| p.code.to_string()),
        |(_, p)| p.as_ref().map(|p| format!("named '{}'", p.name)).unwrap_or_default(),
    ));
    let existing: HashMap<String, Location> =
        db.every_location().await.map_err(|e| e.to_string())?.into_iter().map(|l| (l.code.to_string(), l)).collect();
    let mut changes = vec![];
    let mut new = 0;
    for (line, (l, _)) in &rows {
        match existing.get(l.code.as_str()) {
            None => new += 1,
            Some(before) => changes.push((*line, l.code.to_string(), l.changes_from(before))),
        }
    }
    changes.retain(|(_, _, c)| !c.is_empty());
    if !options.update {
        problems.extend(changes.iter().map(|(line, code, c)| {
            Problem::at(*line, format!("store {code} exists and would change ({}); pass --update to change existing stores", c.join("; ")))
        }));
    }
    let (lines, rows) = split(rows);
    let mut partners: BTreeMap<PartnerCode, Partner> = BTreeMap::new();
    let locations: Vec<Location> = rows
        .into_iter()
        .map(|(l, p)| {
            if let Some(p) = p {
                partners.insert(p.code.clone(), p);
            }
            l
        })
        .collect();
    let partners: Vec<Partner> = partners.into_values().collect();
    let mode = apply(path, "stores", &lines, problems, options, |mode, bar| {
        db.import_locations(&partners, &locations, mode, move |i| bar.set_position(i as u64))
    })
    .await?;
    let unchanged = locations.len() - new - changes.len();
    println!(
        "{} {} stores and {} partners from {} ({new} new, {} changed, {unchanged} unchanged)",
        done(mode),
        locations.len(),
        partners.len(),
        path.display(),
        changes.len()
    );
    for (_, code, c) in changes.iter().take(PROBLEMS_SHOWN_MAX) {
        println!("  {code}: {}", c.join("; "));
    }
    if changes.len() > PROBLEMS_SHOWN_MAX {
        println!("  ... and {} more changed stores", changes.len() - PROBLEMS_SHOWN_MAX);
    }
    Ok(())
}

async fn stock(db: &Db, path: &Path, options: Options) -> Result<(), String> {
    let (rows, mut problems) = csv_file::read(path, StockRow::parse)?;
    problems.extend(checks::unique(&rows, "location/SKU/owner", |c| match c {
        StockCommand::Receive { key, .. } => Some(format!("{}/{}/{}", key.location_code, key.sku_code, key.owner)),
        _ => None,
    }));
    let (lines, commands) = split(rows);
    let mode =
        apply(path, "stock", &lines, problems, options, |mode, bar| db.execute_all(&commands, mode, move |i| bar.set_position(i as u64)))
            .await?;
    let verb = if mode == Bulk::Check { "checked" } else { "received" };
    println!("{verb} {} stock rows from {}", commands.len(), path.display());
    Ok(())
}

fn done(mode: Bulk) -> &'static str {
    match mode {
        Bulk::Write => "imported",
        Bulk::Check => "checked (nothing written)",
    }
}

/// The rows' lines apart from the rows.
fn split<T>(rows: Vec<(u64, T)>) -> (Vec<u64>, Vec<T>) {
    rows.into_iter().unzip()
}

/// Hands the rows to the database: to write them when nothing is wrong so far, or only to
/// check them (to report the database's refusals too) when something is, or when asked.
/// Answers the mode it ran in, or the report of every problem.
async fn apply<F: Future<Output = Result<usize, Refusals>>>(
    path: &Path,
    what: &str,
    lines: &[u64],
    mut problems: Vec<Problem>,
    options: Options,
    bulk: impl FnOnce(Bulk, ProgressBar) -> F,
) -> Result<Bulk, String> {
    let mode = if problems.is_empty() && !options.check { Bulk::Write } else { Bulk::Check };
    let progress = bar(lines.len(), what);
    let outcome = bulk(mode, progress.clone()).await;
    progress.finish_and_clear();
    if let Err(Refusals(refused)) = outcome {
        if refused.len() >= REFUSALS_MAX {
            problems.push(Problem::at(0, format!("the database stopped checking after {REFUSALS_MAX} refused rows")));
        }
        problems.extend(refused.into_iter().map(|(index, e)| match lines.get(index) {
            Some(line) => Problem::at(*line, e.to_string()),
            None => Problem::at(0, format!("the import as a whole: {e}")),
        }));
    }
    if problems.is_empty() {
        return Ok(mode);
    }
    Err(report(path, problems))
}

/// Every problem, by line, the first [`PROBLEMS_SHOWN_MAX`] shown.
fn report(path: &Path, mut problems: Vec<Problem>) -> String {
    problems.sort();
    let count = problems.len();
    let mut out = format!("{}: nothing imported; {count} problem{}:", path.display(), if count == 1 { "" } else { "s" });
    for p in problems.iter().take(PROBLEMS_SHOWN_MAX) {
        out.push_str(&format!("\n{p}"));
    }
    if count > PROBLEMS_SHOWN_MAX {
        out.push_str(&format!("\n... and {} more", count - PROBLEMS_SHOWN_MAX));
    }
    out
}
