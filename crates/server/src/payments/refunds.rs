//! The refund job: every `interval`, each online refund still pending is handed to the
//! provider that took its payment and, once accepted, marked settled. A refund whose
//! provider fails (or is not configured on this server) stays pending and is tried again;
//! providers take a refund once under its id, so two servers sending it is harmless.

use std::time::Duration;
use tokio::sync::watch;
use tongjia_storage::{Db, StoreResult};

use super::Providers;

/// Refunds handed over per round, at most.
const REFUNDS_PER_ROUND: u32 = 100;

/// Hands the pending refunds to their providers; returns how many were accepted.
pub async fn send_pending(db: &Db, providers: &Providers) -> StoreResult<usize> {
    let mut accepted = 0;
    for refund in db.pending_refunds(REFUNDS_PER_ROUND).await? {
        let Some(provider) = providers.get(&refund.provider).cloned() else {
            tracing::warn!(refund_id = %refund.id, provider = %refund.provider, "a refund waits for a provider this server does not have");
            continue;
        };
        let (id, order_id) = (refund.id, refund.order_id);
        match tokio::task::spawn_blocking(move || provider.refund(&refund)).await {
            Ok(Ok(())) => {
                if db.settle_refund(id).await? {
                    accepted += 1;
                    tracing::info!(refund_id = %id, %order_id, "refund accepted by its provider");
                }
            }
            Ok(Err(e)) => tracing::warn!(refund_id = %id, error = %e, "the provider refused the refund for now; it is tried again"),
            Err(e) => tracing::warn!(refund_id = %id, error = %e, "sending a refund failed; it is tried again"),
        }
    }
    Ok(accepted)
}

/// Sends pending refunds every `interval` until `stop` turns true.
pub(crate) async fn run(db: Db, providers: Providers, interval: Duration, mut stop: watch::Receiver<bool>) {
    if providers.names().next().is_none() {
        return;
    }
    let mut tick = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = tick.tick() => if let Err(e) = send_pending(&db, &providers).await {
                tracing::warn!(error = %e, "refund round failed");
            },
            _ = stop.changed() => return,
        }
    }
}
