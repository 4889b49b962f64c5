//! The sweep: unpaid orders past their hold are cancelled, and every reservation whose time
//! is up is ended or renewed as the order flow decides ([`tongjia_domain::orders::when_due`]).
//! The server runs it every few seconds; tests run it on a simulated clock.

use jiff::Timestamp;
use tongjia_domain::orders::OrderPolicy;

use crate::Db;
use crate::error::{StoreError, StoreResult};

/// Reservations looked at per batch, at most.
const SWEEP_BATCH_MAX: u32 = 500;

impl Db {
    /// Cancels every unpaid order past its hold at `now`, then ends every reservation due at
    /// `now` (in batches): an expiry, or a renewal of a paid order's hold. Returns how many
    /// orders and reservations it ended or renewed.
    pub async fn sweep(&self, policy: &OrderPolicy, now: Timestamp) -> StoreResult<usize> {
        let mut swept = self.expire_due_orders(policy, now).await?;
        loop {
            let due = self.due_reservations(now, SWEEP_BATCH_MAX).await?;
            let batch = due.len();
            let mut moved = 0;
            for id in due {
                match self.sweep_reservation(id, policy, now).await {
                    Ok(Some(_)) => moved += 1,
                    Ok(None) => {}
                    // Committed or released meanwhile: nothing to do.
                    Err(StoreError::Domain(e)) => tracing::debug!(%id, code = e.code, "reservation not swept"),
                    Err(e) => return Err(e),
                }
            }
            swept += moved;
            // A full batch where nothing moved would come back unchanged: stop until the next sweep.
            if batch < SWEEP_BATCH_MAX as usize || moved == 0 {
                return Ok(swept);
            }
        }
    }
}
