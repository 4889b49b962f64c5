//! The catalog: products and their SKUs, each SKU with a GTIN-13 barcode.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

use crate::codes::{ProductCode, SkuCode};
use crate::error::{DomainError, DomainResult};

/// A GTIN-13 (EAN-13) barcode whose last digit is its check digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Gtin13(String);

impl Gtin13 {
    /// Parses 13 digits and checks the check digit (weights 1,3,1,3… from the left).
    pub fn parse(raw: &str) -> DomainResult<Self> {
        let digits: Vec<u32> = raw.chars().filter_map(|c| c.to_digit(10)).collect();
        if raw.len() != 13 || digits.len() != 13 {
            return Err(DomainError::invalid("gtin", "invalid_gtin", format!("'{raw}' is not 13 digits")));
        }
        let expected = Self::check_digit(&digits[..12]);
        if digits[12] != expected {
            return Err(DomainError::invalid(
                "gtin",
                "invalid_gtin_check_digit",
                format!("'{raw}' has check digit {} but its first 12 digits give {expected}", digits[12]),
            ));
        }
        Ok(Gtin13(raw.to_owned()))
    }

    /// The check digit for 12 leading digits.
    pub fn check_digit(first12: &[u32]) -> u32 {
        let sum: u32 = first12.iter().enumerate().map(|(i, d)| if i % 2 == 0 { *d } else { d * 3 }).sum();
        (10 - sum % 10) % 10
    }

    /// Completes 12 digits with their check digit (used for demo data and tests).
    pub fn from_first12(first12: &str) -> DomainResult<Self> {
        let digits: Vec<u32> = first12.chars().filter_map(|c| c.to_digit(10)).collect();
        if first12.len() != 12 || digits.len() != 12 {
            return Err(DomainError::invalid("gtin", "invalid_gtin", "need exactly 12 digits"));
        }
        Self::parse(&format!("{first12}{}", Self::check_digit(&digits)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Gtin13 {
    type Error = DomainError;
    fn try_from(raw: String) -> DomainResult<Self> {
        Self::parse(&raw)
    }
}
impl From<Gtin13> for String {
    fn from(g: Gtin13) -> String {
        g.0
    }
}
impl fmt::Display for Gtin13 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks a human-readable text: trimmed, 1..=`max` characters, no control characters.
pub fn check_text(field: &str, raw: &str, max: usize) -> DomainResult<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(DomainError::invalid(field, "required", format!("{field} must not be empty")));
    }
    if text.chars().count() > max {
        return Err(DomainError::invalid(field, "too_long", format!("{field} must be at most {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(DomainError::invalid(field, "invalid_text", format!("{field} must not contain control characters")));
    }
    Ok(text.to_owned())
}

/// Longest product, SKU or location name.
pub const NAME_LEN_MAX: usize = 120;
/// Longest category or attribute name.
pub const CATEGORY_LEN_MAX: usize = 32;
/// Longest attribute value.
pub const ATTRIBUTE_VALUE_LEN_MAX: usize = 64;
/// Most attributes on one SKU.
pub const ATTRIBUTES_MAX: usize = 16;

/// A product: the model that SKUs are variants of, in one category.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub code: ProductCode,
    pub name: String,
    /// Category code, e.g. `phone`, `tv`, `wearable`, `smart_home`.
    pub category: String,
}

impl Product {
    pub fn new(code: ProductCode, name: &str, category: &str) -> DomainResult<Self> {
        Ok(Product { code, name: check_text("name", name, NAME_LEN_MAX)?, category: check_category(category)? })
    }
}

/// A category code: lower-case letters, digits and `_`, 1–32 long.
pub fn check_category(raw: &str) -> DomainResult<String> {
    let ok =
        !raw.is_empty() && raw.len() <= CATEGORY_LEN_MAX && raw.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(DomainError::invalid("category", "invalid_category", format!("'{raw}' is not a category: lower-case letters, digits and '_'")))
    }
}

/// One sellable variant of a product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sku {
    pub code: SkuCode,
    pub product_code: ProductCode,
    pub name: String,
    /// Variant attributes such as `colour` and `memory`, sorted by name.
    pub attributes: BTreeMap<String, String>,
    pub gtin: Gtin13,
    pub active: bool,
}

impl Sku {
    pub fn new(
        code: SkuCode,
        product_code: ProductCode,
        name: &str,
        attributes: BTreeMap<String, String>,
        gtin: Gtin13,
        active: bool,
    ) -> DomainResult<Self> {
        Ok(Sku {
            code,
            product_code,
            name: check_text("name", name, NAME_LEN_MAX)?,
            attributes: check_attributes(attributes)?,
            gtin,
            active,
        })
    }
}

/// Attributes: at most 16, names like categories, values short texts.
pub fn check_attributes(attributes: BTreeMap<String, String>) -> DomainResult<BTreeMap<String, String>> {
    if attributes.len() > ATTRIBUTES_MAX {
        return Err(DomainError::invalid("attributes", "too_many_attributes", format!("at most {ATTRIBUTES_MAX} attributes")));
    }
    let mut checked = BTreeMap::new();
    for (name, value) in attributes {
        check_category(&name).map_err(|_| {
            DomainError::invalid(
                format!("attributes.{name}"),
                "invalid_attribute_name",
                "attribute names are lower-case letters, digits and '_'",
            )
        })?;
        let value = check_text(&format!("attributes.{name}"), &value, ATTRIBUTE_VALUE_LEN_MAX)?;
        checked.insert(name, value);
    }
    Ok(checked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtin_accepts_a_correct_check_digit() {
        // 6901234567892 is a valid EAN-13 (check digit 2).
        assert!(Gtin13::parse("6901234567892").is_ok());
        assert_eq!(Gtin13::from_first12("690123456789").unwrap().as_str(), "6901234567892");
    }

    #[test]
    fn gtin_refuses_a_wrong_check_digit_and_bad_lengths() {
        assert_eq!(Gtin13::parse("6901234567893").unwrap_err().code, "invalid_gtin_check_digit");
        assert_eq!(Gtin13::parse("690123456789").unwrap_err().code, "invalid_gtin");
        assert_eq!(Gtin13::parse("69012345678９2").unwrap_err().code, "invalid_gtin");
        assert_eq!(Gtin13::parse("690123456789a").unwrap_err().code, "invalid_gtin");
    }

    #[test]
    fn every_single_digit_error_is_caught() {
        let good = "6901234567892";
        for pos in 0..13 {
            for d in 0..10u8 {
                let mut bytes = good.as_bytes().to_vec();
                if bytes[pos] == b'0' + d {
                    continue;
                }
                bytes[pos] = b'0' + d;
                let s = String::from_utf8(bytes).unwrap();
                assert!(Gtin13::parse(&s).is_err(), "{s}");
            }
        }
    }

    #[test]
    fn texts_are_trimmed_and_bounded() {
        assert_eq!(check_text("name", "  Note 13 ", 10).unwrap(), "Note 13");
        assert_eq!(check_text("name", "   ", 10).unwrap_err().code, "required");
        assert_eq!(check_text("name", "a\u{7}", 10).unwrap_err().code, "invalid_text");
        assert_eq!(check_text("name", "手机手机手机", 5).unwrap_err().code, "too_long");
    }
}
