//! The background sweeper: every few seconds, [`Db::sweep`] cancels unpaid orders past their
//! hold and ends or renews the reservations whose time is up.

use std::time::Duration;
use tokio::sync::watch;
use tongjia_domain::orders::OrderPolicy;
use tongjia_storage::{Db, StoreResult};

/// One sweep at `now` (see [`Db::sweep`]); returns how many orders and holds it moved.
pub async fn sweep_expired(db: &Db, policy: &OrderPolicy, now: jiff::Timestamp) -> StoreResult<usize> {
    db.sweep(policy, now).await
}

/// Sweeps every `interval` until `stop` turns true.
pub(crate) async fn run(db: Db, policy: OrderPolicy, interval: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => match db.sweep(&policy, db.now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(swept = n, "ended or renewed due holds"),
                Err(e) => tracing::warn!(error = %e, "sweep failed"),
            },
            _ = stop.changed() => return,
        }
    }
}
