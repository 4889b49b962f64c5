//! One reader per server follows the outbox and hands every new event to the open event
//! streams: it publishes the head `seq` in a `watch` channel and each batch of new events on
//! a `broadcast` channel. A stream that has caught up takes its events from there and filters
//! them in memory, so a write costs one read per server, however many stores hold a feed
//! open; only a stream catching up (a resume, or one that fell behind the channel) reads the
//! outbox itself, through an index that returns only the events it delivers. It reads the
//! database, so commits made through any server reach every server's streams.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tongjia_storage::{Db, Event};

/// How often the outbox is read: the most an event waits before its streams have it.
pub(crate) const HEAD_POLL_INTERVAL: Duration = Duration::from_millis(200);
/// Events read at once.
const FEED_BATCH_MAX: u32 = 500;
/// Batches kept for a stream that is slow to take them; one further behind catches up from
/// the outbox instead.
const FEED_BATCHES_KEPT: usize = 256;

/// New events in `seq` order, in batches as the reader found them.
pub(crate) type Batch = Arc<Vec<Event>>;

/// Who read the outbox: the server's one reader (`feed`) or a stream catching up (`stream`).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReaderLabels {
    reader: &'static str,
}

/// Reads of the outbox and the rows they returned, by reader.
#[derive(Clone)]
pub(crate) struct OutboxReads {
    reads: Family<ReaderLabels, Counter>,
    rows: Family<ReaderLabels, Counter>,
}

impl OutboxReads {
    pub(crate) fn new(registry: &mut Registry) -> Self {
        let reads = Family::<ReaderLabels, Counter>::default();
        registry.register(
            "outbox_reads",
            "Queries of the outbox, by reader (feed: the server's one reader; stream: a stream catching up)",
            reads.clone(),
        );
        let rows = Family::<ReaderLabels, Counter>::default();
        registry.register("outbox_rows_read", "Outbox rows those queries returned, by reader", rows.clone());
        OutboxReads { reads, rows }
    }

    /// Reads events after `after_seq` (of one type, or all), counting the read.
    pub(crate) async fn read(
        &self,
        db: &Db,
        reader: &'static str,
        after_seq: i64,
        event_type: Option<&str>,
        limit: u32,
    ) -> tongjia_storage::StoreResult<Vec<Event>> {
        let labels = ReaderLabels { reader };
        self.reads.get_or_create(&labels).inc();
        let events = db.events_after(after_seq, event_type, limit).await?;
        self.rows.get_or_create(&labels).inc_by(events.len() as u64);
        Ok(events)
    }
}

/// The channels the reader fills; streams subscribe to `batches`.
pub(crate) struct Feed {
    pub(crate) head: watch::Sender<i64>,
    pub(crate) batches: broadcast::Sender<Batch>,
}

impl Feed {
    pub(crate) fn new() -> Feed {
        Feed { head: watch::channel(0).0, batches: broadcast::channel(FEED_BATCHES_KEPT).0 }
    }
}

/// Follows the outbox from its head at start, every interval, until `stop` turns true.
pub(crate) async fn run(db: Db, feed: Arc<Feed>, reads: OutboxReads, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(HEAD_POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen: Option<i64> = None;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let Some(after) = seen else {
                    match db.outbox_head().await {
                        Ok(head) => {
                            seen = Some(head);
                            feed.head.send_replace(head);
                        }
                        Err(e) => tracing::warn!(error = %e, "could not read the outbox head"),
                    }
                    continue;
                };
                seen = Some(follow(&db, &feed, &reads, after).await);
            }
            _ = stop.changed() => return,
        }
    }
}

/// Publishes every event after `after`, batch by batch; returns the last `seq` published.
async fn follow(db: &Db, feed: &Feed, reads: &OutboxReads, mut after: i64) -> i64 {
    loop {
        match reads.read(db, "feed", after, None, FEED_BATCH_MAX).await {
            Ok(events) if events.is_empty() => return after,
            Ok(events) => {
                let full = events.len() == FEED_BATCH_MAX as usize;
                after = events.last().map_or(after, |e| e.seq);
                // A store opened, moved or closed by any server: this server's copy of the
                // network is read again at its next use.
                if events.iter().any(|e| e.event_type.starts_with("location")) {
                    db.network_changed();
                }
                // The batch first, then the head: a stream woken by the head finds its batch.
                let _no_stream_open = feed.batches.send(Arc::new(events));
                feed.head.send_replace(after);
                if !full {
                    return after;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the outbox");
                return after;
            }
        }
    }
}
