//! Reference data compiled into the binary: China's divisions (`data/divisions.tsv.gz`, see
//! `data/README.md`). Loaded once, on first use, with no network access.

use flate2::read::GzDecoder;
use std::io::Read;
use std::sync::OnceLock;
use tongjia_domain::network::Divisions;

static DIVISIONS_GZ: &[u8] = include_bytes!("../../../data/divisions.tsv.gz");
static DIVISIONS: OnceLock<Divisions> = OnceLock::new();

/// The division table (NBS 2023 codes, cpca coordinates).
pub fn divisions() -> &'static Divisions {
    DIVISIONS.get_or_init(|| {
        let mut text = String::new();
        // The file is part of the build: a failure here is a broken build, not bad input.
        GzDecoder::new(DIVISIONS_GZ).read_to_string(&mut text).expect("data/divisions.tsv.gz is valid gzip");
        Divisions::parse(&text).expect("data/divisions.tsv.gz parses")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compiled_table_has_the_documented_counts() {
        // provinces, prefectures, counties, cities without counties, zones, townships
        assert_eq!(divisions().counts(), [31, 342, 2849, 3, 126, 41352]);
        assert_eq!(divisions().coverage_counties().count(), 2852);
        assert_eq!(divisions().get("330782").unwrap().name, "义乌市");
        assert!(divisions().point_of("330782101").is_some());
    }
}
