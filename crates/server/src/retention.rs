//! The retention job: every interval, [`Db::purge`] removes idempotency keys past their window
//! and trims the outbox past its own, a few bounded passes at a time, counted in `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::time::Duration;
use tokio::sync::watch;
use tongjia_storage::{Db, PURGE_BATCH, Retention};

/// Passes one run makes at most while passes remove full batches (a backlog after a long
/// stop is worked off over several runs).
const PASSES_PER_RUN: usize = 10;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TableLabels {
    table: &'static str,
}

/// Rows the job removed, by table.
#[derive(Clone)]
pub(crate) struct RetentionMetrics {
    removed: Family<TableLabels, Counter>,
    runs: Counter,
}

impl RetentionMetrics {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let removed = Family::<TableLabels, Counter>::default();
        registry.register("retention_removed", "Rows removed past their retention, by table (idempotency_keys, outbox, credentials: expired sessions and member codes, old failed sign-ins)", removed.clone());
        let runs = Counter::default();
        registry.register("retention_runs", "Runs of the retention job on this server", runs.clone());
        RetentionMetrics { removed, runs }
    }
}

/// Purges every `interval` until `stop` turns true.
pub(crate) async fn run(db: Db, keep: Retention, interval: Duration, metrics: RetentionMetrics, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                metrics.runs.inc();
                for _ in 0..PASSES_PER_RUN {
                    match db.purge(&keep, db.now()).await {
                        Ok(r) => {
                            metrics.removed.get_or_create(&TableLabels { table: "idempotency_keys" }).inc_by(r.idempotency_keys);
                            metrics.removed.get_or_create(&TableLabels { table: "outbox" }).inc_by(r.events);
                            metrics.removed.get_or_create(&TableLabels { table: "credentials" }).inc_by(r.credentials);
                            if r.idempotency_keys < u64::from(PURGE_BATCH) && r.events < u64::from(PURGE_BATCH) {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "retention pass failed");
                            break;
                        }
                    }
                }
            }
            _ = stop.changed() => return,
        }
    }
}
