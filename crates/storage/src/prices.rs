//! The price book: versions are inserted, never updated; quotes come from the domain.

use jiff::Timestamp;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use tongjia_domain::Fen;
use tongjia_domain::codes::SkuCode;
use tongjia_domain::pricing::{PriceChange, PriceVersion, Quote, quote};

use crate::catalog::unknown_sku;
use crate::error::{StoreResult, parse};
use crate::tx::Idem;
use crate::{Db, ts, us};
use tongjia_domain::events::EventType;

pub(crate) fn version_from_row(r: &AnyRow) -> StoreResult<PriceVersion> {
    Ok(PriceVersion {
        sku_code: parse(SkuCode::parse(r.try_get("sku_code")?))?,
        version: r.try_get("version")?,
        list_price: Fen::new(r.try_get("list_price_fen")?),
        member_price: r.try_get::<Option<i64>, _>("member_price_fen")?.map(Fen::new),
        effective_at: ts(r.try_get("effective_at_us")?)?,
        scheduled_at: ts(r.try_get("scheduled_at_us")?)?,
        note: r.try_get("note")?,
    })
}

pub(crate) async fn versions_of(conn: &mut AnyConnection, sku: &str) -> StoreResult<Vec<PriceVersion>> {
    let rows = sqlx::query(
        "SELECT sku_code, version, list_price_fen, member_price_fen, effective_at_us, scheduled_at_us, note \
         FROM price_versions WHERE sku_code = $1 ORDER BY version",
    )
    .bind(sku)
    .fetch_all(conn)
    .await?;
    rows.iter().map(version_from_row).collect()
}

/// Validates and appends a price version inside an open transaction.
pub(crate) async fn append_version(conn: &mut AnyConnection, change: PriceChange, now: Timestamp) -> StoreResult<PriceVersion> {
    let change = PriceChange { effective_at: change.effective_at.map(crate::stored), ..change.validate(now)? };
    let exists: Option<String> =
        sqlx::query_scalar("SELECT code FROM skus WHERE code = $1").bind(change.sku_code.as_str()).fetch_optional(&mut *conn).await?;
    if exists.is_none() {
        return Err(unknown_sku(change.sku_code.as_str()));
    }
    let latest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM price_versions WHERE sku_code = $1")
        .bind(change.sku_code.as_str())
        .fetch_one(&mut *conn)
        .await?;
    let v = change.into_version(latest.unwrap_or(0), now);
    sqlx::query(
        "INSERT INTO price_versions (sku_code, version, list_price_fen, member_price_fen, effective_at_us, scheduled_at_us, note) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(v.sku_code.as_str())
    .bind(v.version)
    .bind(v.list_price.get())
    .bind(v.member_price.map(Fen::get))
    .bind(us(v.effective_at))
    .bind(us(v.scheduled_at))
    .bind(&v.note)
    .execute(conn)
    .await?;
    Ok(v)
}

impl Db {
    /// Schedules a new price version for a SKU (effective now or later).
    pub async fn schedule_price(&self, change: PriceChange, idem: Option<&Idem<'_, PriceVersion>>) -> StoreResult<PriceVersion> {
        let mut tx = self.begin(idem, self.now()).await?;
        let now = tx.now;
        let v = append_version(tx.conn(), change, now).await?;
        tx.emit(EventType::PriceScheduled, v.sku_code.as_str(), &v).await?;
        tx.commit(v).await
    }

    /// Schedules several price changes in one transaction: all of them, or (the first
    /// refusal) none.
    pub async fn schedule_prices(
        &self,
        changes: Vec<PriceChange>,
        idem: Option<&Idem<'_, Vec<PriceVersion>>>,
    ) -> StoreResult<Vec<PriceVersion>> {
        let mut tx = self.begin(idem, self.now()).await?;
        let now = tx.now;
        let mut out = Vec::with_capacity(changes.len());
        for change in changes {
            let v = append_version(tx.conn(), change, now).await?;
            tx.emit(EventType::PriceScheduled, v.sku_code.as_str(), &v).await?;
            out.push(v);
        }
        tx.commit(out).await
    }

    /// Every version of a SKU's price, oldest first.
    pub async fn price_versions(&self, sku: &SkuCode) -> StoreResult<Vec<PriceVersion>> {
        let mut conn = self.read.acquire().await?;
        versions_of(&mut conn, sku.as_str()).await
    }

    /// The next `limit` versions to take effect after `after`, across all SKUs, soonest
    /// first (what a server's price clock waits for).
    pub async fn upcoming_prices(&self, after: Timestamp, limit: u32) -> StoreResult<Vec<PriceVersion>> {
        let rows = sqlx::query(
            "SELECT sku_code, version, list_price_fen, member_price_fen, effective_at_us, scheduled_at_us, note \
             FROM price_versions WHERE effective_at_us > $1 ORDER BY effective_at_us, sku_code, version LIMIT $2",
        )
        .bind(us(after))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(version_from_row).collect()
    }

    /// The one price of a SKU at `at`, for every channel.
    pub async fn quote(&self, sku: &SkuCode, at: Timestamp, member: bool) -> StoreResult<Quote> {
        let mut conn = self.read.acquire().await?;
        let versions = versions_of(&mut conn, sku.as_str()).await?;
        if versions.is_empty() && crate::catalog::sku_exists(&mut conn, sku.as_str()).await?.is_none() {
            return Err(unknown_sku(sku.as_str()));
        }
        Ok(quote(sku, &versions, at, member)?)
    }
}
