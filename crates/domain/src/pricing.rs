//! One price book. A SKU has exactly one price at any instant, for every channel and every
//! store: versions are scheduled with an effective time and never overwritten, and a quote
//! takes no channel argument at all, so a channel-specific price cannot even be expressed.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::codes::{LocationCode, SkuCode};
use crate::error::{DomainError, DomainResult};
use crate::money::Fen;

/// Error code for any attempt to set a channel- or store-specific price.
pub const PRICE_IS_CHANNEL_BLIND: &str = "price_is_channel_blind";

/// Where a sale happens. Quotes echo it, but the amount never depends on it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Channel {
    Online,
    Store(LocationCode),
}

impl Channel {
    /// `online`, or a store's code.
    pub fn label(&self) -> String {
        match self {
            Channel::Online => "online".to_owned(),
            Channel::Store(code) => format!("store:{code}"),
        }
    }
}

/// A request to schedule a price, as the price book accepts it: no channel, no store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceChange {
    pub sku_code: SkuCode,
    pub list_price: Fen,
    /// A member price, when members pay less. Channel-blind like the list price.
    pub member_price: Option<Fen>,
    /// When the price takes effect; `None` is the instant it is scheduled.
    pub effective_at: Option<Timestamp>,
    pub note: Option<String>,
}

/// One immutable version of a SKU's price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceVersion {
    pub sku_code: SkuCode,
    /// 1, 2, 3… per SKU, in the order versions were scheduled.
    #[serde(rename = "price_version")]
    pub version: i64,
    #[serde(rename = "list_price_fen")]
    pub list_price: Fen,
    #[serde(rename = "member_price_fen")]
    pub member_price: Option<Fen>,
    pub effective_at: Timestamp,
    pub scheduled_at: Timestamp,
    pub note: Option<String>,
}

/// The furthest ahead a price may be scheduled.
pub const SCHEDULE_YEARS_MAX: i16 = 5;

impl PriceChange {
    /// Validates a change against the clock: member price not above list price, effective
    /// time not in the past (a quote already given must never change retroactively).
    pub fn validate(self, now: Timestamp) -> DomainResult<Self> {
        if let Some(member) = self.member_price
            && member > self.list_price
        {
            return Err(DomainError::invalid(
                "member_price_fen",
                "member_price_above_list_price",
                "a member price may not exceed the list price",
            ));
        }
        if let Some(at) = self.effective_at {
            if at < now {
                return Err(DomainError::invalid(
                    "effective_at",
                    "price_effective_in_past",
                    "a price cannot take effect in the past (history is never rewritten): leave effective_at out for now",
                ));
            }
            let horizon = now.checked_add(jiff::SignedDuration::from_hours(24 * 366 * i64::from(SCHEDULE_YEARS_MAX))).unwrap_or(now);
            if at > horizon {
                return Err(DomainError::invalid(
                    "effective_at",
                    "price_effective_too_far",
                    format!("a price is scheduled at most {SCHEDULE_YEARS_MAX} years ahead"),
                ));
            }
        }
        // Free text like every other: no control characters (PostgreSQL cannot even store
        // a NUL), at most 200 characters.
        if let Some(note) = &self.note {
            crate::catalog::check_text("note", note, 200)?;
        }
        Ok(self)
    }

    /// The version this change becomes, after `latest_version` (0 when there is none).
    pub fn into_version(self, latest_version: i64, now: Timestamp) -> PriceVersion {
        PriceVersion {
            sku_code: self.sku_code,
            version: latest_version + 1,
            list_price: self.list_price,
            member_price: self.member_price,
            effective_at: self.effective_at.unwrap_or(now),
            scheduled_at: now,
            note: self.note,
        }
    }
}

/// The one price of a SKU at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub sku_code: SkuCode,
    pub at: Timestamp,
    /// What the shopper pays: the member price for members when set, else the list price.
    #[serde(rename = "unit_price_fen")]
    pub unit_price: Fen,
    #[serde(rename = "list_price_fen")]
    pub list_price: Fen,
    #[serde(rename = "member_price_fen")]
    pub member_price: Option<Fen>,
    pub price_version: i64,
    pub effective_at: Timestamp,
}

/// What `units` (on hand, by SKU) are worth at the list prices in force at `at`; SKUs
/// without a price count nothing. `versions` are every SKU's, in any order.
pub fn stock_value(units: &[(SkuCode, i64)], versions: &[PriceVersion], at: Timestamp) -> Fen {
    let mut by_sku: std::collections::BTreeMap<&SkuCode, Vec<PriceVersion>> = std::collections::BTreeMap::new();
    for v in versions {
        by_sku.entry(&v.sku_code).or_default().push(v.clone());
    }
    let total: i128 = units
        .iter()
        .filter_map(|(sku, n)| by_sku.get(sku).and_then(|vs| version_at(vs, at)).map(|v| i128::from(v.list_price.get()) * i128::from(*n)))
        .sum();
    Fen::new(i64::try_from(total).unwrap_or(i64::MAX))
}

/// The version in force at `at`: the latest effective time not after `at`; of versions with
/// the same effective time, the one scheduled last. `versions` may be in any order.
pub fn version_at(versions: &[PriceVersion], at: Timestamp) -> Option<&PriceVersion> {
    versions.iter().filter(|v| v.effective_at <= at).max_by_key(|v| (v.effective_at, v.version))
}

/// Quotes a SKU at an instant. Note what is absent: a channel. Every channel gets this.
pub fn quote(sku_code: &SkuCode, versions: &[PriceVersion], at: Timestamp, member: bool) -> DomainResult<Quote> {
    let v = version_at(versions, at)
        .ok_or_else(|| DomainError::not_found("no_price", format!("SKU {sku_code} has no price in force at {at}")))?;
    let unit_price = match (member, v.member_price) {
        (true, Some(m)) => m,
        _ => v.list_price,
    };
    Ok(Quote {
        sku_code: sku_code.clone(),
        at,
        unit_price,
        list_price: v.list_price,
        member_price: v.member_price,
        price_version: v.version,
        effective_at: v.effective_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }
    fn sku() -> SkuCode {
        SkuCode::parse("NOTE13-BLK-256").unwrap()
    }
    fn change(price: i64, at: i64) -> PriceChange {
        PriceChange { sku_code: sku(), list_price: Fen::new(price), member_price: None, effective_at: Some(ts(at)), note: None }
    }

    #[test]
    fn stock_is_valued_at_the_list_price_in_force_and_unpriced_stock_at_nothing() {
        let v1 = change(100, 0).into_version(0, ts(0));
        let v2 = change(80, 100).into_version(1, ts(10));
        let other = SkuCode::parse("NO-PRICE").unwrap();
        let units = [(sku(), 3), (other, 50)];
        assert_eq!(stock_value(&units, &[v1.clone(), v2.clone()], ts(50)), Fen::new(300));
        assert_eq!(stock_value(&units, &[v2, v1], ts(100)), Fen::new(240));
        assert_eq!(stock_value(&units, &[], ts(100)), Fen::new(0));
    }

    #[test]
    fn quote_takes_the_latest_effective_version() {
        let v1 = change(199_900, 0).into_version(0, ts(0));
        let v2 = change(179_900, 100).into_version(1, ts(10));
        let versions = [v2.clone(), v1.clone()];
        assert!(quote(&sku(), &versions, ts(-1), false).is_err());
        assert_eq!(quote(&sku(), &versions, ts(99), false).unwrap().price_version, 1);
        let q = quote(&sku(), &versions, ts(100), false).unwrap();
        assert_eq!((q.unit_price, q.price_version), (Fen::new(179_900), 2));
    }

    #[test]
    fn a_later_scheduled_version_wins_at_the_same_instant() {
        let v1 = change(100, 50).into_version(0, ts(0));
        let v2 = change(90, 50).into_version(1, ts(1));
        assert_eq!(quote(&sku(), &[v1, v2], ts(60), false).unwrap().unit_price, Fen::new(90));
    }

    #[test]
    fn members_pay_the_member_price_when_set() {
        let mut c = change(1000, 0);
        c.member_price = Some(Fen::new(900));
        let v = [c.into_version(0, ts(0))];
        assert_eq!(quote(&sku(), &v, ts(1), true).unwrap().unit_price, Fen::new(900));
        assert_eq!(quote(&sku(), &v, ts(1), false).unwrap().unit_price, Fen::new(1000));
    }

    #[test]
    fn changes_cannot_backdate_or_price_members_above_list() {
        assert_eq!(change(100, -1).validate(ts(0)).unwrap_err().code, "price_effective_in_past");
        assert!(change(100, 0).validate(ts(0)).is_ok());
        let mut now = change(100, 0);
        now.effective_at = None;
        assert_eq!(now.validate(ts(5)).unwrap().into_version(0, ts(5)).effective_at, ts(5));
        assert_eq!(change(100, 6 * 366 * 86_400).validate(ts(0)).unwrap_err().code, "price_effective_too_far");
        let mut c = change(100, 10);
        c.member_price = Some(Fen::new(101));
        assert_eq!(c.validate(ts(0)).unwrap_err().code, "member_price_above_list_price");
    }

    proptest! {
        /// The quote at any instant is the version with the greatest effective time not after it.
        #[test]
        fn quote_agrees_with_a_brute_force_scan(times in proptest::collection::vec(0i64..1000, 1..20), at in 0i64..1200) {
            let versions: Vec<PriceVersion> = times.iter().enumerate()
                .map(|(i, t)| change(100 + i as i64, *t).into_version(i as i64, ts(0))).collect();
            let expected = versions.iter().filter(|v| v.effective_at <= ts(at))
                .fold(None::<&PriceVersion>, |best, v| match best {
                    Some(b) if (b.effective_at, b.version) >= (v.effective_at, v.version) => Some(b),
                    _ => Some(v),
                });
            let got = quote(&sku(), &versions, ts(at), false).ok().map(|q| q.price_version);
            prop_assert_eq!(got, expected.map(|v| v.version));
        }
    }

    #[test]
    fn a_note_is_plain_text() {
        let mut change = PriceChange { sku_code: sku(), list_price: Fen::new(100), member_price: None, effective_at: None, note: None };
        for bad in ["x\u{0}y", "tab\there", ""] {
            change.note = Some(bad.to_owned());
            assert!(change.clone().validate(ts(0)).is_err(), "{bad:?}");
        }
        change.note = Some("Double 12 双十二".to_owned());
        assert!(change.validate(ts(0)).is_ok());
    }
}
