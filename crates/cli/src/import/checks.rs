//! Checks across the rows of one file: a key given twice is refused (instead of the last
//! row silently winning), and a thing named on several rows (a product on each of its
//! SKUs' rows, a partner on each of its stores') must be described the same on each.

use std::collections::HashMap;

use super::csv_file::Problem;

/// Refuses every row whose key (`what`, e.g. `sku_code`) an earlier row already has.
pub fn unique<T>(rows: &[(u64, T)], what: &str, key: impl Fn(&T) -> Option<String>) -> Vec<Problem> {
    let mut first: HashMap<String, u64> = HashMap::new();
    let mut problems = vec![];
    for (line, row) in rows {
        let Some(k) = key(row) else { continue };
        match first.get(&k) {
            Some(earlier) => problems.push(Problem::at(*line, format!("{what} {k} is already on line {earlier}"))),
            None => drop(first.insert(k, *line)),
        }
    }
    problems
}

/// Refuses every row that describes `what` (keyed by `key`) otherwise than the first row
/// naming it.
pub fn consistent<T>(rows: &[(u64, T)], what: &str, key: impl Fn(&T) -> Option<String>, described: impl Fn(&T) -> String) -> Vec<Problem> {
    let mut first: HashMap<String, (u64, String)> = HashMap::new();
    let mut problems = vec![];
    for (line, row) in rows {
        let Some(k) = key(row) else { continue };
        let here = described(row);
        match first.get(&k) {
            Some((earlier, there)) if *there != here => {
                problems.push(Problem::at(*line, format!("{what} {k} is {here} here but {there} on line {earlier}")))
            }
            Some(_) => {}
            None => drop(first.insert(k, (*line, here))),
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_key_is_refused_at_each_repeat() {
        let rows = [(2, "A"), (3, "B"), (5, "A"), (7, "A")];
        let found = unique(&rows, "sku_code", |r| Some(r.to_string()));
        assert_eq!(found, [Problem::at(5, "sku_code A is already on line 2"), Problem::at(7, "sku_code A is already on line 2")]);
    }

    #[test]
    fn a_thing_described_two_ways_is_refused() {
        let rows = [(2, ("P", "phone")), (3, ("P", "phone")), (4, ("P", "tablet"))];
        let found = consistent(&rows, "product", |r| Some(r.0.to_string()), |r| format!("category '{}'", r.1));
        assert_eq!(found, [Problem::at(4, "product P is category 'tablet' here but category 'phone' on line 2")]);
    }
}
