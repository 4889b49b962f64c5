//! Customers and orders. An order is placed (`plan.rs` decides it off the write turn: priced
//! from the price book, sourced, split by owner; `place.rs` holds and writes it in the turn)
//! and then moved by actions (`act.rs`), each one load → decide
//! ([`tongjia_domain::orders::decide`]) → write, in one transaction. `records.rs` is what the
//! API sees, `load.rs` reads orders in a fixed number of queries.

mod act;
mod acted;
mod combined;
mod load;
mod place;
mod plan;
mod records;

pub(crate) use acted::Actions;
pub(crate) use combined::Placements;
pub(crate) use load::id_of;
use load::{load_order, load_orders};
pub use records::{
    AllocationRecord, CustomerRecord, Destination, NewOrder, NewPayment, OrderFilter, OrderRecord, PaymentRecord, PointsEntry, ReturnRecord,
};

use tongjia_domain::customer::Mobile;
use tongjia_domain::orders::OrderStatus;
use uuid::Uuid;

use crate::error::{StoreError, StoreResult};
use crate::page::{Page, PageRequest};
use crate::{Db, ts};

impl Db {
    pub async fn order(&self, id: Uuid) -> StoreResult<Option<OrderRecord>> {
        let mut conn = self.read.acquire().await?;
        load_order(&mut conn, id).await
    }

    /// A member's account, created on first sight.
    pub async fn customer(&self, mobile: &Mobile) -> StoreResult<Option<CustomerRecord>> {
        let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.mobile, c.points_balance, c.created_at_us, (SELECT COUNT(*) FROM orders o WHERE o.customer_mobile = c.mobile) \
             FROM customers c WHERE c.mobile = $1",
        )
        .bind(mobile.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(|(mobile, points_balance, created, order_count)| {
            Ok(CustomerRecord { mobile, points_balance, order_count, created_at: ts(created)? })
        })
        .transpose()
    }

    /// Orders, newest first, filtered (a member's history in every channel, a store's
    /// orders, the pickups waiting at a store, orders in a status).
    pub async fn orders(&self, f: &OrderFilter, page: &PageRequest) -> StoreResult<Page<OrderRecord>> {
        let limit = page.limit()?;
        let after = page.after_key()?;
        let status = f.status.map(OrderStatus::as_str);
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM orders WHERE ($1 = '' OR id < $2) AND ($3 IS NULL OR customer_mobile = $4) AND ($5 IS NULL OR store_code = $6) \
             AND ($7 IS NULL OR pickup_store_code = $8) AND ($9 IS NULL OR status = $10) ORDER BY id DESC LIMIT $11",
        )
        .bind(&after)
        .bind(&after)
        .bind(f.customer.as_ref().map(|m| m.as_str().to_owned()))
        .bind(f.customer.as_ref().map(|m| m.as_str().to_owned()))
        .bind(&f.store_code)
        .bind(&f.store_code)
        .bind(&f.pickup_store_code)
        .bind(&f.pickup_store_code)
        .bind(status)
        .bind(status)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let ids =
            ids.iter().map(|id| Uuid::parse_str(id).map_err(|e| StoreError::Corrupt(e.to_string()))).collect::<StoreResult<Vec<_>>>()?;
        let mut conn = self.read.acquire().await?;
        let orders = load_orders(&mut conn, &ids).await?;
        Ok(Page::from_rows(orders, limit, |o| o.id.to_string()))
    }

    /// Every change to a member's points, oldest first.
    pub async fn points_history(&self, mobile: &Mobile, page: &PageRequest) -> StoreResult<Page<PointsEntry>> {
        let limit = page.limit()?;
        let after: i64 = page.after_seq()?;
        let rows: Vec<(i64, Option<String>, i64, String, i64)> = sqlx::query_as(
            "SELECT seq, order_id, delta, reason, recorded_at_us FROM points_entries WHERE mobile = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(mobile.as_str())
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows
            .into_iter()
            .map(|(seq, order_id, delta, reason, at)| Ok(PointsEntry { seq, order_id, delta, reason, recorded_at: ts(at)? }))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |p| p.seq.to_string()))
    }
}
