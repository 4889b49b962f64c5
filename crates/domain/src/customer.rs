//! One customer: a member is a mainland mobile number, with one account, one order history
//! and one points balance across every channel.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{DomainError, DomainResult};
use crate::money::Fen;

/// A mainland China mobile number: 11 digits, `1` then `3`–`9`. Accepts `+86`/`86`
/// prefixes and spaces or dashes, and keeps only the 11 digits.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Mobile(String);

impl Mobile {
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        let digits =
            compact.strip_prefix("+86").or_else(|| (compact.len() == 13).then(|| compact.strip_prefix("86")).flatten()).unwrap_or(&compact);
        let ok = digits.len() == 11
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.starts_with('1')
            && matches!(digits.as_bytes()[1], b'3'..=b'9');
        if ok {
            Ok(Mobile(digits.to_owned()))
        } else {
            Err(DomainError::invalid(
                "customer_mobile",
                "invalid_mobile",
                format!("'{raw}' is not a mainland mobile number (11 digits starting 13-19)"),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `138****8000`, for receipts and logs.
    pub fn masked(&self) -> String {
        format!("{}****{}", &self.0[..3], &self.0[7..])
    }
}

impl TryFrom<String> for Mobile {
    type Error = DomainError;
    fn try_from(raw: String) -> DomainResult<Self> {
        Self::parse(&raw)
    }
}
impl From<Mobile> for String {
    fn from(m: Mobile) -> String {
        m.0
    }
}
impl fmt::Display for Mobile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How points are earned and what they are worth, the same in every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PointsRule {
    /// Fen paid per point earned (default 100: one point per yuan).
    pub earn_fen_per_point: i64,
    /// Fen a redeemed point is worth (default 1: 100 points take ¥1 off).
    pub redeem_fen_per_point: i64,
}

impl Default for PointsRule {
    fn default() -> Self {
        PointsRule { earn_fen_per_point: 100, redeem_fen_per_point: 1 }
    }
}

impl PointsRule {
    pub fn new(earn_fen_per_point: i64, redeem_fen_per_point: i64) -> DomainResult<Self> {
        if earn_fen_per_point <= 0 || redeem_fen_per_point <= 0 {
            return Err(DomainError::invalid("points_rule", "invalid_points_rule", "points rates must be positive"));
        }
        Ok(PointsRule { earn_fen_per_point, redeem_fen_per_point })
    }
    /// Points earned for `paid` (whole points, rounded down).
    pub fn earned(&self, paid: Fen) -> i64 {
        paid.get().max(0) / self.earn_fen_per_point
    }
    /// What `points` take off a bill.
    pub fn value(&self, points: i64) -> Fen {
        Fen::new(points.saturating_mul(self.redeem_fen_per_point))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_are_normalised_and_checked() {
        for ok in ["13800138000", "+86 138-0013-8000", "8613800138000", "19912345678"] {
            assert_eq!(Mobile::parse(ok).unwrap().as_str(), if ok.contains("199") { "19912345678" } else { "13800138000" }, "{ok}");
        }
        for bad in ["12800138000", "1380013800", "138001380001", "1380013800a", "", "+1 13800138000"] {
            assert_eq!(Mobile::parse(bad).unwrap_err().code, "invalid_mobile", "{bad}");
        }
        assert_eq!(Mobile::parse("13800138000").unwrap().masked(), "138****8000");
    }

    #[test]
    fn points_are_one_per_yuan_paid_by_default() {
        let rule = PointsRule::default();
        assert_eq!(rule.earned(Fen::new(139_999)), 1399);
        assert_eq!(rule.value(500), Fen::new(500));
        assert!(PointsRule::new(0, 1).is_err());
    }
}
