//! The write transaction every mutation runs in: it claims the idempotency key first,
//! then the caller does its work and emits its event, and `commit` stores the response
//! under the key and commits — all or nothing.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::AnyConnection;
use tongjia_domain::events::EventType;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::writer::Turn;
use crate::{Db, us};

/// Rows one multi-row statement writes at most (within both engines' limits on bound
/// parameters: 13 columns × 200 rows stays under SQLite's 32,766 and PostgreSQL's 65,535).
pub(crate) const ROWS_PER_STATEMENT: usize = 200;

/// The placeholders of a multi-row `VALUES` list for `conn`'s engine, `rows` rows of `width`
/// (only placeholders are spliced into SQL, never values): `($1, …, $width), ($width+1, …)`
/// on PostgreSQL; `(?, …), (?, …)` on SQLite, whose statement must be the list alone —
/// SQLite looks a numbered parameter's name up in a list as long as the statement's
/// parameters, so binding thousands of `$n` costs their square (half the time of a bulk load).
pub(crate) fn placeholders(conn: &AnyConnection, rows: usize, width: usize) -> String {
    placeholders_typed(conn, rows, width, &[])
}

/// [`placeholders`] with the columns `typed` names (1-based, with an SQL type) cast: a value
/// bound as text for a column of another type.
pub(crate) fn placeholders_typed(conn: &AnyConnection, rows: usize, width: usize, typed: &[(usize, &str)]) -> String {
    let anonymous = conn.backend_name() == "SQLite";
    (0..rows)
        .map(|i| {
            let marks: Vec<String> = (1..=width)
                .map(|c| {
                    let mark = if anonymous { "?".to_owned() } else { format!("${}", width * i + c) };
                    match typed.iter().find(|(at, _)| *at == c) {
                        Some((_, ty)) => format!("CAST({mark} AS {ty})"),
                        None => mark,
                    }
                })
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The placeholders `$from, …, $(from+n-1)` of an `IN (…)` list.
pub(crate) fn marks(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// The codes among `codes` that exist in `table` (a table keyed by `code`), a query per 200.
pub(crate) async fn existing_codes(
    conn: &mut AnyConnection,
    table: &'static str,
    codes: &[&str],
) -> StoreResult<std::collections::HashSet<String>> {
    let mut found = std::collections::HashSet::new();
    for chunk in codes.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("SELECT code FROM {table} WHERE code IN ({})", marks(1, chunk.len()));
        let rows: Vec<String> =
            chunk.iter().fold(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)), |q, c| q.bind(*c)).fetch_all(&mut *conn).await?;
        found.extend(rows);
    }
    Ok(found)
}

/// A response stored under an idempotency key, replayed for a repeat of the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// What a request wants stored with its change if the work succeeds: the answer under its
/// idempotency key (when it has one), and its audit record (when it is audited).
pub struct Idem<'a, T> {
    /// Caller and route, e.g. `account:admin POST /api/v1/skus`.
    pub scope: String,
    /// The `Idempotency-Key`, when the request gave one.
    pub key: Option<String>,
    /// Who asked and how, recorded with the change in the audit trail.
    pub audit: Option<crate::audit::AuditEntry>,
    /// A fingerprint of the request body: the same key with another body is refused.
    pub request_hash: String,
    /// The status to store for a success.
    pub status: u16,
    /// Renders the success into the stored (and returned) body.
    pub render: &'a (dyn Fn(&T) -> String + Send + Sync),
    /// The body rendered at commit, so the caller answers with it instead of rendering again.
    pub rendered: std::sync::OnceLock<String>,
}

/// One write's turn in the writer's open group transaction (see [`crate::writer`]), which
/// holds the write turn (SQLite's one write connection, or PostgreSQL's schema lock).
/// [`WriteTx::commit`] keeps the work and answers once the group has committed; dropping
/// it undoes the work.
pub struct WriteTx<'a, T> {
    turn: Turn,
    idem: Option<&'a Idem<'a, T>>,
    pub now: Timestamp,
}

impl Db {
    /// Begins a write at `now`, claiming `idem` first. A key already used returns
    /// `Replay` (same request) or `IdempotencyKeyReused` (another request).
    pub(crate) async fn begin<'a, T>(&self, idem: Option<&'a Idem<'a, T>>, now: Timestamp) -> StoreResult<WriteTx<'a, T>> {
        self.begin_unclaimed(now).await?.claim(idem).await
    }

    /// Begins a write at `now` whose key [`WriteTx::claim`] claims later (once the write
    /// knows it will not be refused).
    pub(crate) async fn begin_unclaimed<'a, T: 'a>(&self, now: Timestamp) -> StoreResult<WriteTx<'a, T>> {
        let turn = self.writer.enter().await?;
        Ok(WriteTx { turn, idem: None, now: crate::stored(now) })
    }
}

impl<'a, T> WriteTx<'a, T> {
    /// Claims `idem`'s key for this write. A key already used returns `Replay` (same
    /// request) or `IdempotencyKeyReused` (another request), once the group holding it has
    /// committed; this write is then over.
    pub(crate) async fn claim(mut self, idem: Option<&'a Idem<'a, T>>) -> StoreResult<WriteTx<'a, T>> {
        self.idem = idem;
        let Some((idem, key)) = idem.and_then(|i| i.key.as_ref().map(|k| (i, k))) else { return Ok(self) };
        let now = self.now;
        let claimed = sqlx::query(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at_us) VALUES ($1, $2, $3, 0, '', $4) \
             ON CONFLICT (scope, key) DO NOTHING",
        )
        .bind(&idem.scope)
        .bind(key)
        .bind(&idem.request_hash)
        .bind(us(now))
        .execute(self.conn())
        .await?
        .rows_affected();
        if claimed == 1 {
            return Ok(self);
        }
        let (hash, status, body): (String, i64, String) =
            sqlx::query_as("SELECT request_hash, status, body FROM idempotency_keys WHERE scope = $1 AND key = $2")
                .bind(&idem.scope)
                .bind(key)
                .fetch_one(self.conn())
                .await?;
        // The stored answer may belong to a write of this same group: answer only once the
        // group has committed it.
        self.turn.finish().await?;
        Err(if hash == idem.request_hash {
            StoreError::Replay(StoredResponse { status: status as u16, body })
        } else {
            StoreError::IdempotencyKeyReused
        })
    }
}

impl Db {
    /// Whether `idem`'s key has been used (committed) in its scope, read off the write turn.
    pub(crate) async fn key_used<T>(&self, idem: Option<&Idem<'_, T>>) -> StoreResult<bool> {
        let Some((idem, key)) = idem.and_then(|i| i.key.as_ref().map(|k| (i, k))) else { return Ok(false) };
        self.key_taken(&idem.scope, key).await
    }

    /// Whether `key` has been used (committed) in `scope`: a request that would be answered
    /// from its stored response (a replay, or a key reused), read off the write turn.
    pub async fn key_taken(&self, scope: &str, key: &str) -> StoreResult<bool> {
        let found: Option<i64> = sqlx::query_scalar("SELECT 1 FROM idempotency_keys WHERE scope = $1 AND key = $2")
            .bind(scope)
            .bind(key)
            .fetch_optional(&self.read)
            .await?;
        Ok(found.is_some())
    }
}

impl<T> WriteTx<'_, T> {
    /// The connection to run the work's statements on.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        self.turn.conn()
    }

    /// Appends one event to the outbox, in this transaction.
    pub(crate) async fn emit(&mut self, event_type: EventType, subject: &str, payload: &impl Serialize) -> StoreResult<()> {
        let payload = serde_json::to_string(payload).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query("INSERT INTO outbox (id, event_type, subject, payload, occurred_at_us) VALUES ($1, $2, $3, $4, $5)")
            .bind(Uuid::now_v7().to_string())
            .bind(event_type.as_str())
            .bind(subject)
            .bind(payload)
            .bind(us(self.now))
            .execute(self.turn.conn())
            .await?;
        Ok(())
    }

    /// Appends many events to the outbox in this transaction, in the order given, with a few
    /// multi-row statements: `(type, subject, payload as JSON text)`.
    pub(crate) async fn emit_many(&mut self, events: &[(EventType, String, String)]) -> StoreResult<()> {
        let now = self.now;
        emit_rows(self.turn.conn(), events, now).await
    }

    /// Appends an audit record for a change made outside [`Idem`] (signing in, tokens).
    pub(crate) async fn record(&mut self, audit: Option<&crate::audit::AuditEntry>, status: u16, response: &str) -> StoreResult<()> {
        match audit {
            Some(entry) => crate::audit::append(self.turn.conn(), entry, None, status, response, self.now).await,
            None => Ok(()),
        }
    }

    /// Stores the rendered response under the idempotency key, appends the audit record,
    /// and commits.
    pub(crate) async fn commit(mut self, result: T) -> StoreResult<T> {
        if let Some(idem) = self.idem {
            let body = idem.rendered.get_or_init(|| (idem.render)(&result)).as_str();
            if let Some(key) = &idem.key {
                sqlx::query("UPDATE idempotency_keys SET status = $1, body = $2 WHERE scope = $3 AND key = $4")
                    .bind(i64::from(idem.status))
                    .bind(body)
                    .bind(&idem.scope)
                    .bind(key)
                    .execute(self.turn.conn())
                    .await?;
            }
            if let Some(audit) = &idem.audit {
                crate::audit::append(self.turn.conn(), audit, idem.key.as_deref(), idem.status, body, self.now).await?;
            }
        }
        self.turn.finish().await?;
        Ok(result)
    }
}

/// An event as the outbox takes it: `(type, subject, payload as JSON text)`.
pub(crate) type OutboxRow = (EventType, String, String);

/// Appends `events` to the outbox on `conn` in the order given, with a few multi-row
/// statements: `(type, subject, payload as JSON text)`.
pub(crate) async fn emit_rows(conn: &mut AnyConnection, events: &[(EventType, String, String)], now: Timestamp) -> StoreResult<()> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let sql =
            format!("INSERT INTO outbox (id, event_type, subject, payload, occurred_at_us) VALUES {}", placeholders(conn, chunk.len(), 5));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (event_type, subject, payload) in chunk {
            q = q.bind(Uuid::now_v7().to_string()).bind(event_type.as_str()).bind(subject.as_str()).bind(payload.as_str()).bind(us(now));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A key claimed with its answer already decided (a combined write's, see [`crate::combine`]).
#[derive(Debug, Clone)]
pub(crate) struct Answered {
    pub scope: String,
    pub key: String,
    pub request_hash: String,
    pub status: u16,
    pub body: String,
}

/// Claims many keys with their answers in a few multi-row statements: the `(scope, key)` of
/// each claimed (one already used is left as it was, and out of the answer).
pub(crate) async fn claim_answered(
    conn: &mut AnyConnection,
    claims: &[&Answered],
    now: Timestamp,
) -> StoreResult<std::collections::HashSet<(String, String)>> {
    let mut claimed = std::collections::HashSet::new();
    for chunk in claims.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at_us) VALUES {} \
             ON CONFLICT (scope, key) DO NOTHING RETURNING scope, key",
            placeholders(conn, chunk.len(), 6)
        );
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for c in chunk {
            q = q.bind(&c.scope).bind(&c.key).bind(&c.request_hash).bind(i64::from(c.status)).bind(&c.body).bind(us(now));
        }
        let rows: Vec<(String, String)> = q.fetch_all(&mut *conn).await?;
        claimed.extend(rows);
    }
    Ok(claimed)
}

/// Gives back a key [`claim_answered`] claimed for a write that then was not made.
pub(crate) async fn unclaim(conn: &mut AnyConnection, claim: &Answered) -> StoreResult<()> {
    sqlx::query("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2").bind(&claim.scope).bind(&claim.key).execute(conn).await?;
    Ok(())
}
