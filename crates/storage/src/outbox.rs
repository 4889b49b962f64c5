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

    /// Up to `limit` events with `seq` above `after_seq`, oldest first, optionally of one
    /// type. Either way it reads only the rows it returns (the primary key, or the
    /// `outbox_by_type` index).
    pub async fn events_after(&self, after_seq: i64, event_type: Option<&str>, limit: u32) -> StoreResult<Vec<Event>> {
        let rows = match event_type {
            Some(t) => {
                sqlx::query(
                    "SELECT seq, id, event_type, subject, payload, occurred_at_us FROM outbox \
                     WHERE event_type = $1 AND seq > $2 ORDER BY event_type, seq LIMIT $3",
                )
                .bind(t)
                .bind(after_seq)
                .bind(i64::from(limit))
                .fetch_all(&self.read)
                .await?
            }
            None => {
                sqlx::query("SELECT seq, id, event_type, subject, payload, occurred_at_us FROM outbox WHERE seq > $1 ORDER BY seq LIMIT $2")
                    .bind(after_seq)
                    .bind(i64::from(limit))
                    .fetch_all(&self.read)
                    .await?
            }
        };
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

/// Figures for monitoring, read from the database (the same on every server).
#[derive(Debug, Clone, Default)]
pub struct Vitals {
    /// The newest event's `seq` (0 for an empty outbox).
    pub outbox_head_seq: i64,
    /// Reservations holding stock now.
    pub active_reservations: i64,
    /// Units those reservations hold.
    pub reserved_units: i64,
}

impl Db {
    /// The outbox head and the holds on stock, in one read.
    pub async fn vitals(&self) -> StoreResult<Vitals> {
        let (outbox_head_seq, active_reservations, reserved_units): (i64, i64, i64) = sqlx::query_as(
            "SELECT COALESCE((SELECT MAX(seq) FROM outbox), 0), \
             (SELECT COUNT(*) FROM reservations WHERE status = 'active'), \
             COALESCE((SELECT CAST(SUM(quantity) AS BIGINT) FROM reservations WHERE status = 'active'), 0)",
        )
        .fetch_one(&self.read)
        .await?;
        Ok(Vitals { outbox_head_seq, active_reservations, reserved_units })
    }

    /// The newest event's `seq` (0 for an empty outbox).
    pub async fn outbox_head(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM outbox").fetch_one(&self.read).await?)
    }

    /// When the first event after `after_seq` occurred: how long a reader at `after_seq`
    /// has left something unread.
    pub async fn next_event_at(&self, after_seq: i64) -> StoreResult<Option<jiff::Timestamp>> {
        let at: Option<i64> = sqlx::query_scalar("SELECT occurred_at_us FROM outbox WHERE seq > $1 ORDER BY seq LIMIT 1")
            .bind(after_seq)
            .fetch_optional(&self.read)
            .await?;
        at.map(ts).transpose()
    }

    /// Connections open and idle in the pools (write and read).
    pub fn connections(&self) -> (u32, usize) {
        (self.read.size() + self.write.size(), self.read.num_idle() + self.write.num_idle())
    }
}
