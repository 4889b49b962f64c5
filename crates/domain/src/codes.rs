//! Human codes for catalog and locations (`sku_code`, `store_code`, `partner_code`) and
//! the owner of a stock position. Each can only be built valid.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{DomainError, DomainResult};

/// Longest code accepted, in bytes.
pub const CODE_LEN_MAX: usize = 32;

/// Checks a human code: 1–32 upper-case ASCII letters, digits, `-`, `_` or `.`, starting
/// with a letter or digit. Upper case only, so that two codes never differ by case alone.
/// `field` names the input for the error.
pub fn check_code(field: &str, raw: &str) -> DomainResult<()> {
    let ok_len = !raw.is_empty() && raw.len() <= CODE_LEN_MAX;
    let ok_first = raw.chars().next().is_some_and(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let ok_chars = raw.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok_len && ok_first && ok_chars {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            "invalid_code",
            format!(
                "'{raw}' is not a valid code: 1-{CODE_LEN_MAX} upper-case letters, digits, '-', '_' or '.', starting with a letter or digit"
            ),
        ))
    }
}

macro_rules! code_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses a code, refusing anything but 1–32 letters, digits, `-`, `_`, `.`.
            pub fn parse(raw: &str) -> DomainResult<Self> {
                check_code($field, raw)?;
                Ok(Self(raw.to_owned()))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = DomainError;
            fn try_from(raw: String) -> DomainResult<Self> {
                Self::parse(&raw)
            }
        }
        impl From<$name> for String {
            fn from(code: $name) -> String {
                code.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

code_type!(
    /// One sellable variant (model + colour + memory), e.g. `NOTE13-BLK-256`.
    SkuCode, "sku_code"
);
code_type!(
    /// A product: the model that SKUs are variants of, e.g. `NOTE13`.
    ProductCode, "product_code"
);
code_type!(
    /// A warehouse or store, e.g. `WH-EAST` or `S-330106-01`.
    LocationCode, "location_code"
);
code_type!(
    /// A partner that runs authorized stores and may own stock.
    PartnerCode, "partner_code"
);

/// Who owns a stock position: the brand, or a partner. The location holding the goods (the
/// custodian) is a separate part of the ledger key, so a partner store can hold the brand's
/// goods on consignment. Written as `brand` or `partner:CODE`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Owner {
    #[default]
    Brand,
    Partner(PartnerCode),
}

impl Owner {
    pub fn parse(raw: &str) -> DomainResult<Self> {
        if raw == "brand" {
            return Ok(Owner::Brand);
        }
        match raw.strip_prefix("partner:") {
            Some(code) => Ok(Owner::Partner(PartnerCode::parse(code).map_err(|e| e.at("owner"))?)),
            None => Err(DomainError::invalid("owner", "invalid_owner", format!("'{raw}' is not an owner: use 'brand' or 'partner:CODE'"))),
        }
    }
}

impl TryFrom<String> for Owner {
    type Error = DomainError;
    fn try_from(raw: String) -> DomainResult<Self> {
        Self::parse(&raw)
    }
}
impl From<Owner> for String {
    fn from(owner: Owner) -> String {
        owner.to_string()
    }
}
impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Brand => f.write_str("brand"),
            Owner::Partner(code) => write!(f, "partner:{code}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_refuse_empty_long_and_odd_characters() {
        assert!(SkuCode::parse("NOTE13-BLK-256").is_ok());
        for bad in ["", "-X", "A B", "名字", "note13", &"X".repeat(33)] {
            assert_eq!(SkuCode::parse(bad).unwrap_err().code, "invalid_code", "{bad}");
        }
    }

    #[test]
    fn owner_round_trips_through_text() {
        for raw in ["brand", "partner:P-001"] {
            assert_eq!(Owner::parse(raw).unwrap().to_string(), raw);
        }
        assert_eq!(Owner::parse("partner:").unwrap_err().code, "invalid_code");
        assert_eq!(Owner::parse("someone").unwrap_err().code, "invalid_owner");
    }
}
