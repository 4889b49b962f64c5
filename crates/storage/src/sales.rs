//! Figures for the console: paid orders summed by channel, by store kind and by day, orders
//! counted by state, units on hand by SKU and every price version. Reads only; what a figure
//! is worth (the price stock is valued at) is the domain's to decide.

use jiff::Timestamp;
use tongjia_domain::Fen;
use tongjia_domain::pricing::PriceVersion;

use crate::error::StoreResult;
use crate::{Db, us};

/// Paid orders of one kind (a channel, a store kind): how many, what they paid, what was
/// refunded since.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SalesRow {
    pub key: String,
    pub orders: i64,
    pub paid: Fen,
    pub refunded: Fen,
}

/// A microsecond day: 86,400 s.
const DAY_US: i64 = 86_400_000_000;

fn rows(raw: Vec<(String, i64, i64, i64)>) -> Vec<SalesRow> {
    raw.into_iter()
        .map(|(key, orders, paid, refunded)| SalesRow { key, orders, paid: Fen::new(paid), refunded: Fen::new(refunded) })
        .collect()
}

impl Db {
    /// Orders paid since `since`, by channel (`online`, `store`).
    pub async fn sales_by_channel(&self, since: Timestamp) -> StoreResult<Vec<SalesRow>> {
        let raw = sqlx::query_as(
            "SELECT channel, COUNT(*), CAST(SUM(paid_fen) AS BIGINT), CAST(SUM(refunded_fen) AS BIGINT) FROM orders \
             WHERE paid_at_us >= $1 GROUP BY channel ORDER BY channel",
        )
        .bind(us(since))
        .fetch_all(&self.read)
        .await?;
        Ok(rows(raw))
    }

    /// Orders paid since `since`, by the kind of store they were placed at (`online` for
    /// none).
    pub async fn sales_by_store_kind(&self, since: Timestamp) -> StoreResult<Vec<SalesRow>> {
        let raw = sqlx::query_as(
            "SELECT COALESCE(l.kind, 'online') AS k, COUNT(*), CAST(SUM(o.paid_fen) AS BIGINT), CAST(SUM(o.refunded_fen) AS BIGINT) \
             FROM orders o LEFT JOIN locations l ON l.code = o.store_code WHERE o.paid_at_us >= $1 GROUP BY COALESCE(l.kind, 'online') ORDER BY k",
        )
        .bind(us(since))
        .fetch_all(&self.read)
        .await?;
        Ok(rows(raw))
    }

    /// Orders paid since `since`, by day (days counted from the epoch, shifted by
    /// `offset_secs`: 28,800 for China's days), net of refunds: (day, orders, net paid).
    pub async fn sales_by_day(&self, since: Timestamp, offset_secs: i64) -> StoreResult<Vec<(i64, i64, Fen)>> {
        let raw: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT day, COUNT(*), CAST(SUM(net) AS BIGINT) FROM \
             (SELECT (paid_at_us + $1) / $2 AS day, paid_fen - refunded_fen AS net FROM orders WHERE paid_at_us >= $3) paid \
             GROUP BY day ORDER BY day",
        )
        .bind(offset_secs * 1_000_000)
        .bind(DAY_US)
        .bind(us(since))
        .fetch_all(&self.read)
        .await?;
        Ok(raw.into_iter().map(|(d, n, f)| (d, n, Fen::new(f))).collect())
    }

    /// Orders by state.
    pub async fn orders_by_status(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT status, COUNT(*) FROM orders GROUP BY status ORDER BY status").fetch_all(&self.read).await?)
    }

    /// Units on hand in the whole network, by SKU.
    pub async fn units_by_sku(&self) -> StoreResult<Vec<(String, i64)>> {
        Ok(sqlx::query_as("SELECT sku_code, CAST(SUM(on_hand) AS BIGINT) FROM stock_positions GROUP BY sku_code ORDER BY sku_code")
            .fetch_all(&self.read)
            .await?)
    }

    /// Every price version of every SKU (the size of the catalogue's history).
    pub async fn every_price_version(&self) -> StoreResult<Vec<PriceVersion>> {
        let rows = sqlx::query(
            "SELECT sku_code, version, list_price_fen, member_price_fen, effective_at_us, scheduled_at_us, note \
             FROM price_versions ORDER BY sku_code, version",
        )
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(crate::prices::version_from_row).collect()
    }
}
