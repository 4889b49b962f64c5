//! The audit trail: every change records who made it (principal and role), when, from
//! where (address, user agent), under which idempotency key, what was asked and what it
//! answered — in the same transaction as the change, and never updated or deleted.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tongjia_domain::DomainError;

use crate::error::StoreResult;
use crate::page::{Page, PageRequest};
use crate::{Db, ts, us};

/// Who asks for a change, and how: recorded with it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditEntry {
    /// `account:<username>`, `member:<mobile>` or `anonymous`.
    pub principal: String,
    pub role: String,
    pub address: String,
    pub user_agent: String,
    /// `METHOD path`.
    pub action: String,
    /// The request body as JSON, secrets (passwords, codes) replaced by `"***"`.
    pub request: String,
}

/// One recorded change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub id: String,
    pub at: Timestamp,
    pub entry: AuditEntry,
    pub idempotency_key: Option<String>,
    pub status: u16,
    /// What the change answered: the resource as it stands after it.
    pub response: String,
}

/// Which changes to list.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub principal: Option<String>,
    /// A path, or the start of one (`/api/v1/skus/NOTE13-BLK`).
    pub resource: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
}

/// Appends one record, in the caller's transaction.
pub(crate) async fn append(
    conn: &mut AnyConnection,
    entry: &AuditEntry,
    key: Option<&str>,
    status: u16,
    response: &str,
    now: Timestamp,
) -> StoreResult<()> {
    append_many(conn, &[Appended { entry, key, status, response }], now).await
}

/// One record to append: who asked and how, under which key, what it answered.
pub(crate) struct Appended<'a> {
    pub entry: &'a AuditEntry,
    pub key: Option<&'a str>,
    pub status: u16,
    pub response: &'a str,
}

/// Appends records in the caller's transaction, in the order given, with a few multi-row statements.
pub(crate) async fn append_many(conn: &mut AnyConnection, records: &[Appended<'_>], now: Timestamp) -> StoreResult<()> {
    for chunk in records.chunks(crate::tx::ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO audit_log (id, at_us, principal, role, address, user_agent, idempotency_key, action, resource, status, request, response) \
             VALUES {}",
            crate::tx::placeholders(conn, chunk.len(), 12)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            let e = r.entry;
            q = q
                .bind(uuid::Uuid::now_v7().to_string())
                .bind(us(now))
                .bind(&e.principal)
                .bind(&e.role)
                .bind(&e.address)
                .bind(&e.user_agent)
                .bind(r.key)
                .bind(&e.action)
                .bind(e.action.split_once(' ').map_or(e.action.as_str(), |(_, path)| path))
                .bind(i64::from(r.status))
                .bind(&e.request)
                .bind(r.response);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

fn from_row(r: &AnyRow) -> StoreResult<AuditRecord> {
    Ok(AuditRecord {
        id: r.try_get("id")?,
        at: ts(r.try_get("at_us")?)?,
        entry: AuditEntry {
            principal: r.try_get("principal")?,
            role: r.try_get("role")?,
            address: r.try_get("address")?,
            user_agent: r.try_get("user_agent")?,
            action: r.try_get("action")?,
            request: r.try_get("request")?,
        },
        idempotency_key: r.try_get("idempotency_key")?,
        status: u16::try_from(r.try_get::<i64, _>("status")?).unwrap_or(0),
        response: r.try_get("response")?,
    })
}

/// `text` with the LIKE wildcards escaped (`\` is the escape).
fn like_prefix(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Db {
    /// Recorded changes, newest first, a page at a time.
    pub async fn audit_trail(&self, filter: &AuditFilter, page: &PageRequest) -> StoreResult<Page<AuditRecord>> {
        let limit = page.limit()?;
        let after = page.after_key()?;
        if let (Some(from), Some(to)) = (filter.from, filter.to)
            && from > to
        {
            return Err(DomainError::invalid("from", "invalid_range", "from is after to").into());
        }
        let rows = sqlx::query(
            "SELECT id, at_us, principal, role, address, user_agent, idempotency_key, action, status, request, response FROM audit_log \
             WHERE ($1 = '' OR id < $1) AND ($2 = '' OR principal = $2) \
             AND ($3 = '' OR resource LIKE $3 ESCAPE '\\') \
             AND at_us >= $4 AND at_us <= $5 ORDER BY id DESC LIMIT $6",
        )
        .bind(&after)
        .bind(filter.principal.as_deref().unwrap_or(""))
        .bind(filter.resource.as_deref().map(like_prefix).unwrap_or_default())
        .bind(filter.from.map_or(i64::MIN, us))
        .bind(filter.to.map_or(i64::MAX, us))
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows.iter().map(from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |r| r.id.clone()))
    }
}
