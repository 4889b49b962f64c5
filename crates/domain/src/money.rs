//! Money: an integer number of fen (1/100 yuan), CNY throughout. Never floating point.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{DomainError, DomainResult};

/// An amount of money in fen (分). One yuan is 100 fen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);
    /// The largest price the catalog accepts: ¥10,000,000.00.
    pub const PRICE_MAX: Fen = Fen(1_000_000_000);

    pub const fn new(fen: i64) -> Self {
        Fen(fen)
    }
    /// Whole yuan, as a convenience for demo data and tests.
    pub const fn yuan(yuan: i64) -> Self {
        Fen(yuan * 100)
    }
    pub const fn get(self) -> i64 {
        self.0
    }
    /// A price: strictly positive and at most [`Fen::PRICE_MAX`].
    pub fn price(fen: i64, field: &str) -> DomainResult<Self> {
        if fen <= 0 {
            return Err(DomainError::invalid(field, "price_not_positive", "a price must be more than 0 fen"));
        }
        if fen > Self::PRICE_MAX.0 {
            return Err(DomainError::invalid(field, "price_too_large", "a price must be at most 1000000000 fen"));
        }
        Ok(Fen(fen))
    }
    /// An amount as a person types it in yuan: `1299`, `1,299.5`, `¥1,299.50` (at most two
    /// decimals; no sign). Parsed as digits, never through floating point.
    pub fn parse_yuan(raw: &str, field: &str) -> DomainResult<Self> {
        let bad = || DomainError::invalid(field, "invalid_amount", "an amount in yuan, like 1299 or 1,299.50");
        let typed = raw.trim().trim_start_matches(['¥', '￥']);
        let (grouped, frac) = typed.split_once('.').unwrap_or((typed, ""));
        // Commas only between groups of three digits: 1,299 and 12,345,678, never 12,99.
        let groups: Vec<&str> = grouped.split(',').collect();
        let grouping_ok = groups.len() == 1 || (!groups[0].is_empty() && groups[0].len() <= 3 && groups[1..].iter().all(|g| g.len() == 3));
        if !grouping_ok {
            return Err(bad());
        }
        let whole = groups.concat();
        let whole = whole.as_str();
        if whole.is_empty() || whole.len() > 12 || frac.len() > 2 || !whole.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let yuan: i64 = whole.parse().map_err(|_| bad())?;
        let fen: i64 = format!("{frac:0<2}").parse().map_err(|_| bad())?;
        yuan.checked_mul(100).and_then(|y| y.checked_add(fen)).map(Fen).ok_or_else(bad)
    }
    pub fn checked_add(self, other: Fen) -> Option<Fen> {
        self.0.checked_add(other.0).map(Fen)
    }
    pub fn checked_mul(self, n: i64) -> Option<Fen> {
        self.0.checked_mul(n).map(Fen)
    }
}

impl fmt::Display for Fen {
    /// `¥1,999.00`-style, without floating point.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let yuan = abs / 100;
        let fen = abs % 100;
        let digits = yuan.to_string();
        let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        write!(f, "{sign}¥{grouped}.{fen:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_as_typed_becomes_fen_without_floating_point() {
        for (raw, fen) in
            [("1299", 129_900), ("1,299.5", 129_950), ("¥1,299.50", 129_950), (" 0.07 ", 7), ("99.", 9_900), ("12,345,678", 1_234_567_800)]
        {
            assert_eq!(Fen::parse_yuan(raw, "price").unwrap(), Fen::new(fen), "{raw}");
        }
        for raw in ["", "-1", "1.234", "12a", ".5", "1e3", "9999999999999", "12,99", "1,29", ",199", "199,", "1,,99", "1,2,3", "1234,567"] {
            assert!(Fen::parse_yuan(raw, "price").is_err(), "{raw}");
        }
    }

    #[test]
    fn displays_yuan_with_grouping_and_two_decimals() {
        assert_eq!(Fen::new(199_900).to_string(), "¥1,999.00");
        assert_eq!(Fen::new(5).to_string(), "¥0.05");
        assert_eq!(Fen::new(-123_456_789).to_string(), "-¥1,234,567.89");
    }

    #[test]
    fn price_must_be_positive_and_bounded() {
        assert_eq!(Fen::price(0, "p").unwrap_err().code, "price_not_positive");
        assert_eq!(Fen::price(-1, "p").unwrap_err().code, "price_not_positive");
        assert_eq!(Fen::price(1_000_000_001, "p").unwrap_err().code, "price_too_large");
        assert_eq!(Fen::price(99, "p").unwrap(), Fen::new(99));
    }
}
