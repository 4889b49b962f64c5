//! The outbox: every fact the system publishes, in commit order.

use serde::Serialize;
use sqlx::Row;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};
use crate::{Db, ts};

/// A published event.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    /// Position in the outbox; strictly increasing.
    pub seq: i64,
    pub id: String,
    pub event_type: String,
    /// What the event is about, e.g. a SKU code or a `location/sku` pair.
    pub subject: String,
    pub payload: serde_json::Value,
    pub occurred_at: jiff::Timestamp,
}

impl Db {
    /// Events after the cursor, oldest first, optionally of one type.
    pub async fn events(&self, event_type: Option<&str>, page: &PageRequest) -> StoreResult<Page<Event>> {
        let limit = page.limit()?;
        let after: i64 = page.after_seq()?;
        let events = self.events_after(after, event_type, limit + 1).await?;
        Ok(Page::from_rows(events, limit, |e| e.seq.to_string()))
    }

    /// Up to `limit` events with `seq` above `after_seq`, oldest first, optionally of one type.
    pub async fn events_after(&self, after_seq: i64, event_type: Option<&str>, limit: u32) -> StoreResult<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, id, event_type, subject, payload, occurred_at_us FROM outbox \
             WHERE seq > $1 AND ($2 IS NULL OR event_type = $3) ORDER BY seq LIMIT $4",
        )
        .bind(after_seq)
        .bind(event_type)
        .bind(event_type)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        let mut events = Vec::with_capacity(rows.len());
        for r in rows {
            let payload: String = r.try_get("payload")?;
            events.push(Event {
                seq: r.try_get("seq")?,
                id: r.try_get("id")?,
                event_type: r.try_get("event_type")?,
                subject: r.try_get("subject")?,
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                occurred_at: ts(r.try_get("occurred_at_us")?)?,
            });
        }
        Ok(events)
    }
}
