//! Backups that cannot mislead: a damaged SQLite backup is refused by `restore` and leaves
//! nothing behind; `backup` of a database that does not exist is refused instead of backing
//! up a new empty one; a failed backup leaves no file to block the next.

mod common;

use common::{CATALOG_HEADER, tongjia, write};
use std::io::{Seek, SeekFrom, Write};

fn leftovers(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect()
}

#[test]
fn a_damaged_backup_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite:{}", dir.path().join("live.db").display());
    let mut rows = CATALOG_HEADER.to_owned();
    for i in 0..400 {
        rows.push_str(&format!("P{i},Product {i},phone,SKU-{i},Black,,{},true,{}\n", gtin(i), 10_000 + i));
    }
    let catalog = write(dir.path(), "c.csv", &rows);
    let (ok, out) = tongjia(&db, &["import", "catalog", &catalog]);
    assert!(ok, "{out}");
    let backup = dir.path().join("b.db");
    let (ok, out) = tongjia(&db, &["backup", "--to", backup.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(leftovers(dir.path()).is_empty());

    // Garbage over the middle of the file, the header left alone.
    let len = std::fs::metadata(&backup).unwrap().len();
    let mut f = std::fs::OpenOptions::new().write(true).open(&backup).unwrap();
    f.seek(SeekFrom::Start(len / 2)).unwrap();
    f.write_all(&vec![0xA5; 8192]).unwrap();
    drop(f);
    let target = dir.path().join("restored.db");
    let (ok, out) = tongjia(&format!("sqlite:{}", target.display()), &["restore", "--from", backup.to_str().unwrap()]);
    assert!(!ok && out.contains("damaged"), "{out}");
    assert!(!target.exists() && leftovers(dir.path()).is_empty(), "nothing left behind");
}

#[test]
fn a_backup_of_no_database_is_refused_and_a_failed_one_leaves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo.db");
    let to = dir.path().join("b.db");
    let (ok, out) = tongjia(&format!("sqlite:{}", typo.display()), &["backup", "--to", to.to_str().unwrap()]);
    assert!(!ok && out.contains("no database"), "{out}");
    assert!(!typo.exists() && !to.exists(), "no database created, no backup written");

    let db = format!("sqlite:{}", dir.path().join("live.db").display());
    let (ok, out) = tongjia(&db, &["migrate"]);
    assert!(ok, "{out}");
    let nowhere = dir.path().join("missing-dir").join("b.db");
    let (ok, _) = tongjia(&db, &["backup", "--to", nowhere.to_str().unwrap()]);
    assert!(!ok && !nowhere.exists());
    let (ok, out) = tongjia(&db, &["backup", "--to", to.to_str().unwrap()]);
    assert!(ok && to.exists() && leftovers(dir.path()).is_empty(), "{out}");
}

/// A valid GTIN-13 for `i` (prefix 690, check digit computed).
fn gtin(i: usize) -> String {
    let first12 = format!("690{:09}", i);
    let sum: u32 = first12.chars().enumerate().map(|(k, c)| c.to_digit(10).unwrap() * if k % 2 == 0 { 1 } else { 3 }).sum();
    format!("{first12}{}", (10 - sum % 10) % 10)
}
