//! One watcher per server keeps the outbox's head `seq` in a `watch` channel, so that idle
//! event streams wait on it instead of each polling the database: an idle server asks the
//! database one cheap question per interval, however many stores hold a stream open. It
//! reads the database, so commits made through any server wake every server's streams.

use std::time::Duration;
use tokio::sync::watch;
use tongjia_storage::Db;

/// How often the head is read: the most an event waits before its streams wake.
pub(crate) const HEAD_POLL_INTERVAL: Duration = Duration::from_millis(200);

/// Reads the head every interval and publishes it when it moves, until `stop` turns true.
pub(crate) async fn run(db: Db, head: watch::Sender<i64>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(HEAD_POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => match db.outbox_head().await {
                Ok(seq) => {
                    head.send_if_modified(|known| {
                        let moved = seq > *known;
                        *known = (*known).max(seq);
                        moved
                    });
                }
                Err(e) => tracing::warn!(error = %e, "could not read the outbox head"),
            },
            _ = stop.changed() => return,
        }
    }
}
