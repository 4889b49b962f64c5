//! Online refunds waiting for the provider that took the payment. The order flow records a
//! refund `pending` in the same transaction as the cancellation or return that owes it; the
//! server's refund job hands each to its provider (under the refund's own id, which a
//! provider takes once however often it is sent) and marks it `settled` once accepted.

use jiff::Timestamp;
use sqlx::Row;
use tongjia_domain::Fen;
use tongjia_domain::payments::{PENDING, SETTLED};
use uuid::Uuid;

use crate::error::StoreResult;
use crate::orders::id_of;
use crate::{Db, ts};

/// A refund owed through an online provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRefund {
    /// The refund's id: the provider's idempotency key for it.
    pub id: Uuid,
    pub order_id: Uuid,
    /// The provider that took the payment.
    pub provider: String,
    /// The provider's transaction id of the payment being refunded.
    pub payment_reference: String,
    pub amount: Fen,
    pub recorded_at: Timestamp,
}

impl Db {
    /// The oldest refunds still waiting for their provider, at most `limit`.
    pub async fn pending_refunds(&self, limit: u32) -> StoreResult<Vec<PendingRefund>> {
        let rows = sqlx::query(
            "SELECT id, order_id, method, external_reference, amount_fen, recorded_at_us FROM payments \
             WHERE state = $1 ORDER BY recorded_at_us, id LIMIT $2",
        )
        .bind(PENDING)
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(PendingRefund {
                    id: id_of(r.try_get("id")?)?,
                    order_id: id_of(r.try_get("order_id")?)?,
                    provider: r.try_get("method")?,
                    payment_reference: r.try_get("external_reference")?,
                    amount: Fen::new(r.try_get("amount_fen")?),
                    recorded_at: ts(r.try_get("recorded_at_us")?)?,
                })
            })
            .collect()
    }

    /// Marks a refund accepted by its provider. Returns whether it was still pending.
    pub async fn settle_refund(&self, id: Uuid) -> StoreResult<bool> {
        let mut tx = self.begin::<bool>(None, self.now()).await?;
        let done = sqlx::query("UPDATE payments SET state = $1 WHERE id = $2 AND state = $3")
            .bind(SETTLED)
            .bind(id.to_string())
            .bind(PENDING)
            .execute(tx.conn())
            .await?
            .rows_affected();
        tx.commit(done == 1).await
    }
}
