//! Keyset pagination: `limit` (bounded) and an opaque `after` cursor.

use serde::Serialize;

use crate::error::StoreResult;
use tongjia_domain::DomainError;

/// The most items one page may hold.
pub const LIMIT_MAX: u32 = 500;
/// Items per page when the caller does not say.
pub const LIMIT_DEFAULT: u32 = 50;

/// A request for one page: after the cursor of the previous page's last item.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub limit: Option<u32>,
    pub after: Option<String>,
}

impl PageRequest {
    /// The limit, checked: 1..=500, default 50.
    pub fn limit(&self) -> StoreResult<u32> {
        match self.limit {
            None => Ok(LIMIT_DEFAULT),
            Some(n) if (1..=LIMIT_MAX).contains(&n) => Ok(n),
            Some(_) => Err(DomainError::invalid("limit", "invalid_limit", format!("limit must be between 1 and {LIMIT_MAX}")).into()),
        }
    }
    /// The decoded cursor of a list ordered by a sequence number (0 for the first page).
    pub fn after_seq(&self) -> StoreResult<i64> {
        let key = self.after_key()?;
        if key.is_empty() {
            return Ok(0);
        }
        key.parse().map_err(|_| DomainError::invalid("after", "invalid_cursor", "the cursor is not one this server gave out").into())
    }
    /// The decoded cursor (the sort key of the last item seen), or "" for the first page.
    pub fn after_key(&self) -> StoreResult<String> {
        match &self.after {
            None => Ok(String::new()),
            Some(c) => decode(c)
                .ok_or_else(|| DomainError::invalid("after", "invalid_cursor", "the cursor is not one this server gave out").into()),
        }
    }
}

/// One page of items and the cursor for the next (none on the last page).
#[derive(Debug, Clone, Serialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from up to `limit + 1` fetched rows: the extra row says there is more.
    pub fn from_rows(mut rows: Vec<T>, limit: u32, key: impl Fn(&T) -> String) -> Page<T> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next_cursor = if more { rows.last().map(|last| encode(&key(last))) } else { None };
        Page { items: rows, next_cursor }
    }
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page { items: self.items.into_iter().map(f).collect(), next_cursor: self.next_cursor }
    }
}

fn encode(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode(cursor: &str) -> Option<String> {
    if !cursor.len().is_multiple_of(2) || cursor.len() > 512 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..cursor.len()).step_by(2).map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        assert_eq!(decode(&encode("NOTE13-BLK")).unwrap(), "NOTE13-BLK");
        assert!(decode("zz").is_none());
        assert!(decode("abc").is_none());
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_rows_exist() {
        let p = Page::from_rows(vec![1, 2, 3], 2, |n| n.to_string());
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(decode(p.next_cursor.as_deref().unwrap()).unwrap(), "2");
        assert!(Page::from_rows(vec![1, 2], 2, |n| n.to_string()).next_cursor.is_none());
    }
}
