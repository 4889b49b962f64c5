//! Retention: what the engine keeps only for a while. Idempotency keys are kept for a window
//! (24 h by default) and then removed, so a retry within the window replays its answer and
//! the table does not grow without end; the outbox is trimmed from its oldest end past its
//! own window (the resume window of event streams), and how far it was trimmed is remembered
//! so that a reader resuming from before that is told, not silently skipped ahead.
//!
//! Each [`Db::purge`] is one bounded pass — at most [`PURGE_BATCH`] rows of each table, in
//! one write turn — so a server running it every minute never holds the writer for long.

use jiff::{SignedDuration, Timestamp};

use crate::error::StoreResult;
use crate::{Db, us};

/// The most rows of each table one pass removes.
pub const PURGE_BATCH: u32 = 1000;

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Idempotency keys (a retry after this gets a fresh decision).
    pub idempotency_keys: SignedDuration,
    /// Outbox events (an event stream can resume from an event this old at most).
    pub events: SignedDuration,
}

impl Default for Retention {
    fn default() -> Self {
        Retention { idempotency_keys: SignedDuration::from_hours(24), events: SignedDuration::from_hours(30 * 24) }
    }
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    pub idempotency_keys: u64,
    pub events: u64,
    /// Expired sessions and member codes, and failed sign-ins past their window.
    pub credentials: u64,
}

/// The last `seq` of the leading run of `oldest` (seq, occurred at, oldest first) that
/// occurred before `cutoff`: where a trim may end. None when the oldest is not that old.
pub fn trim_through(oldest: &[(i64, i64)], cutoff_us: i64) -> Option<i64> {
    oldest.iter().take_while(|(_, at)| *at < cutoff_us).last().map(|(seq, _)| *seq)
}

const TRIMMED_THROUGH: &str = "outbox_trimmed_through";

/// Removes up to [`PURGE_BATCH`] each of expired sessions, expired member codes and failed
/// sign-ins older than the window they count in.
async fn purge_credentials(conn: &mut sqlx::AnyConnection, now_us: i64) -> StoreResult<u64> {
    let failures_cutoff = now_us - tongjia_domain::access::LOGIN_WINDOW_SECS * 1_000_000;
    let mut removed = 0;
    for (table, key, column, cutoff) in [
        ("sessions", "secret_hash", "expires_at_us", now_us),
        ("member_codes", "mobile", "expires_at_us", now_us),
        ("sign_in_failures", "id", "at_us", failures_cutoff),
        ("throttle_events", "id", "at_us", failures_cutoff),
    ] {
        let sql = format!("DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {column} < $1 LIMIT $2)");
        removed +=
            sqlx::query(sqlx::AssertSqlSafe(sql)).bind(cutoff).bind(i64::from(PURGE_BATCH)).execute(&mut *conn).await?.rows_affected();
    }
    Ok(removed)
}

impl Db {
    /// One bounded retention pass at `now`: removes up to [`PURGE_BATCH`] idempotency keys
    /// older than their window and trims up to as many of the oldest events older than
    /// theirs, recording how far the outbox is trimmed. Safe on every server at once.
    pub async fn purge(&self, keep: &Retention, now: Timestamp) -> StoreResult<Removed> {
        let key_cutoff = us(now.checked_sub(keep.idempotency_keys).unwrap_or(now));
        let event_cutoff = us(now.checked_sub(keep.events).unwrap_or(now));
        let mut turn = self.writer.enter().await?;
        let idempotency_keys = sqlx::query(
            "DELETE FROM idempotency_keys WHERE (scope, key) IN \
             (SELECT scope, key FROM idempotency_keys WHERE created_at_us < $1 ORDER BY created_at_us LIMIT $2)",
        )
        .bind(key_cutoff)
        .bind(i64::from(PURGE_BATCH))
        .execute(turn.conn())
        .await?
        .rows_affected();
        let oldest: Vec<(i64, i64)> = sqlx::query_as("SELECT seq, occurred_at_us FROM outbox ORDER BY seq LIMIT $1")
            .bind(i64::from(PURGE_BATCH))
            .fetch_all(turn.conn())
            .await?;
        let mut events = 0;
        if let Some(through) = trim_through(&oldest, event_cutoff) {
            events = sqlx::query("DELETE FROM outbox WHERE seq <= $1").bind(through).execute(turn.conn()).await?.rows_affected();
            sqlx::query(
                "INSERT INTO retention_marks (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = CASE WHEN excluded.value > retention_marks.value THEN excluded.value ELSE retention_marks.value END",
            )
            .bind(TRIMMED_THROUGH)
            .bind(through)
            .execute(turn.conn())
            .await?;
        }
        let credentials = purge_credentials(turn.conn(), us(now)).await?;
        turn.finish().await?;
        Ok(Removed { idempotency_keys, events, credentials })
    }

    /// The `seq` through which the outbox has been trimmed (0 if never): events up to it are
    /// gone, so a reader resuming from before it has missed some.
    pub async fn outbox_trimmed_through(&self) -> StoreResult<i64> {
        let v: Option<i64> = sqlx::query_scalar("SELECT value FROM retention_marks WHERE name = $1")
            .bind(TRIMMED_THROUGH)
            .fetch_optional(&self.read)
            .await?;
        Ok(v.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trim_ends_at_the_first_event_still_kept() {
        let oldest = [(3, 10), (5, 20), (6, 30), (9, 25)];
        assert_eq!(trim_through(&oldest, 25), Some(5));
        assert_eq!(trim_through(&oldest, 10), None);
        assert_eq!(trim_through(&oldest, 100), Some(9));
        assert_eq!(trim_through(&[], 100), None);
    }
}
