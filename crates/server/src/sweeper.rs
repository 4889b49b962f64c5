//! The background sweeper: cancels unpaid orders past their hold and releases reservations
//! whose time is up.

use jiff::Timestamp;
use std::time::Duration;
use tokio::sync::watch;
use tongjia_domain::ledger::StockCommand;
use tongjia_storage::{Db, StoreError, StoreResult};

/// Reservations expired per sweep, at most.
const SWEEP_BATCH_MAX: u32 = 500;

/// Cancels every unpaid order past its hold, then expires every reservation due at `now`
/// (in batches); returns how many orders and reservations it ended.
pub async fn sweep_expired(db: &Db, now: Timestamp) -> StoreResult<usize> {
    let mut expired = db.expire_due_orders(now).await?;
    loop {
        let due = db.due_reservations(now, SWEEP_BATCH_MAX).await?;
        let batch = due.len();
        for id in due {
            match db.execute_at(StockCommand::Expire { reservation_id: id }, None, now).await {
                Ok(_) => expired += 1,
                // Committed or released meanwhile: nothing to do.
                Err(StoreError::Domain(e)) => tracing::debug!(%id, code = e.code, "reservation not expired"),
                Err(e) => return Err(e),
            }
        }
        if batch < SWEEP_BATCH_MAX as usize {
            return Ok(expired);
        }
    }
}

/// Sweeps every `interval` until `stop` turns true.
pub(crate) async fn run(db: Db, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => match sweep_expired(&db, Timestamp::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "released expired reservations"),
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            },
            _ = stop.changed() => return,
        }
    }
}
