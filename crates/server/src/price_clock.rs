//! One clock per server tells the open tills the moment a price changes: it knows the next
//! price versions to take effect (read at start, then learnt from `price.scheduled` events on
//! the outbox feed, whichever server scheduled them) and, at each one's effective time,
//! publishes it on a broadcast channel the tills' streams follow. A change scheduled to take
//! effect at once is published as soon as its event arrives (within the feed's poll).

use jiff::Timestamp;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, watch};
use tongjia_domain::events::EventType;
use tongjia_domain::pricing::PriceVersion;
use tongjia_storage::Db;

use crate::outbox_watch::Feed;

/// Upcoming versions held at once; past the last of them the clock reads the next ones.
const UPCOMING_MAX: u32 = 10_000;
/// Versions kept for a till stream slow to take them (it then reloads its lines anyway).
const PUBLISHED_KEPT: usize = 1024;
/// The longest the clock sleeps before it looks again (a clock of the database's).
const WAKE_AT_LEAST_EVERY: Duration = Duration::from_secs(30);

/// A SKU's price version: its code and number.
type VersionKey = (String, i64);

/// Versions whose reach (the stores whose tills got them) is remembered.
const REACH_KEPT: usize = 1024;

/// The price versions taking effect now, as they do, and which stores' open tills this
/// server has told of each (a console behind several servers sees its own server's count).
pub(crate) struct PriceClock {
    pub(crate) effective: broadcast::Sender<Arc<PriceVersion>>,
    reach: std::sync::Mutex<std::collections::VecDeque<(VersionKey, std::collections::HashSet<String>)>>,
}

impl PriceClock {
    pub(crate) fn new() -> PriceClock {
        PriceClock { effective: broadcast::channel(PUBLISHED_KEPT).0, reach: Default::default() }
    }

    /// Notes that an open till at `store` was sent `v`.
    pub(crate) fn delivered(&self, v: &PriceVersion, store: &str) {
        let key = (v.sku_code.to_string(), v.version);
        let mut reach = self.reach.lock().unwrap_or_else(|e| e.into_inner());
        match reach.iter_mut().find(|(k, _)| *k == key) {
            Some((_, stores)) => {
                stores.insert(store.to_owned());
            }
            None => {
                if reach.len() >= REACH_KEPT {
                    reach.pop_front();
                }
                reach.push_back((key, std::iter::once(store.to_owned()).collect()));
            }
        }
    }

    /// How many stores' open tills this server has sent version `version` of `sku`.
    pub(crate) fn reach(&self, sku: &str, version: i64) -> usize {
        let reach = self.reach.lock().unwrap_or_else(|e| e.into_inner());
        reach.iter().find(|((s, n), _)| s == sku && *n == version).map_or(0, |(_, stores)| stores.len())
    }
}

/// What the clock waits for: versions by (effective time, SKU, version), and how far the
/// list reaches (None: every upcoming version is in it).
#[derive(Default)]
struct Upcoming {
    due: BTreeMap<(Timestamp, String, i64), PriceVersion>,
    horizon: Option<Timestamp>,
}

impl Upcoming {
    async fn load(db: &Db, now: Timestamp) -> Upcoming {
        match db.upcoming_prices(now, UPCOMING_MAX).await {
            Ok(versions) => {
                let horizon = (versions.len() == UPCOMING_MAX as usize).then(|| versions.last().map(|v| v.effective_at)).flatten();
                let due = versions.into_iter().map(|v| ((v.effective_at, v.sku_code.to_string(), v.version), v)).collect();
                Upcoming { due, horizon }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the price clock could not read upcoming prices");
                Upcoming { due: BTreeMap::new(), horizon: Some(now) }
            }
        }
    }

    /// Learns of a newly scheduled version (past the horizon it is read again later).
    fn learn(&mut self, v: PriceVersion) {
        if self.horizon.is_none_or(|h| v.effective_at <= h) {
            self.due.insert((v.effective_at, v.sku_code.to_string(), v.version), v);
        }
    }

    /// The versions due at `now`, taken off the list.
    fn take_due(&mut self, now: Timestamp) -> Vec<PriceVersion> {
        let later = self.due.split_off(&(now, String::from("\u{10FFFF}"), i64::MAX));
        std::mem::replace(&mut self.due, later).into_values().collect()
    }

    /// How long until the next version is due (or the horizon is reached).
    fn wait(&self, now: Timestamp) -> Duration {
        let next = self.due.keys().next().map(|k| k.0).into_iter().chain(self.horizon).min();
        next.map_or(WAKE_AT_LEAST_EVERY, |t| Duration::try_from(t.duration_since(now)).unwrap_or(Duration::ZERO).min(WAKE_AT_LEAST_EVERY))
    }
}

/// Runs the clock until `stop` turns true.
pub(crate) async fn run(db: Db, feed: Arc<Feed>, clock: Arc<PriceClock>, mut stop: watch::Receiver<bool>) {
    let mut scheduled = feed.batches.subscribe();
    let mut upcoming = Upcoming::load(&db, db.now()).await;
    loop {
        let now = db.now();
        for v in upcoming.take_due(now) {
            let _no_till_open = clock.effective.send(Arc::new(v));
        }
        if upcoming.horizon.is_some_and(|h| h <= now) {
            upcoming = Upcoming::load(&db, now).await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(upcoming.wait(now)) => {}
            batch = scheduled.recv() => match batch {
                Ok(batch) => {
                    let priced = batch.iter().filter(|e| e.event_type == EventType::PriceScheduled.as_str());
                    for v in priced.filter_map(|e| serde_json::from_value::<PriceVersion>(e.payload.clone()).ok()) {
                        upcoming.learn(v);
                    }
                }
                // Fell behind the feed: what it missed is in the database.
                Err(broadcast::error::RecvError::Lagged(_)) => upcoming = Upcoming::load(&db, db.now()).await,
                Err(broadcast::error::RecvError::Closed) => return,
            },
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tongjia_domain::Fen;
    use tongjia_domain::codes::SkuCode;

    fn version(sku: &str, n: i64, at: Timestamp) -> PriceVersion {
        PriceVersion {
            sku_code: SkuCode::parse(sku).unwrap(),
            version: n,
            list_price: Fen::new(100),
            member_price: None,
            effective_at: at,
            scheduled_at: at,
            note: None,
        }
    }

    #[test]
    fn versions_come_due_in_time_order_and_a_change_effective_at_once_is_due_at_once() {
        let t0: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let later = t0.checked_add(jiff::SignedDuration::from_secs(60)).unwrap();
        let mut u = Upcoming::default();
        u.learn(version("B", 2, later));
        u.learn(version("A", 1, t0));
        assert_eq!(u.wait(t0), Duration::ZERO);
        let due = u.take_due(t0);
        assert_eq!(due.iter().map(|v| v.sku_code.to_string()).collect::<Vec<_>>(), ["A"]);
        assert_eq!(u.wait(t0), Duration::from_secs(30), "at most the wake-up interval");
        assert_eq!(u.take_due(later).len(), 1);
        assert!(u.due.is_empty());
    }

    #[test]
    fn reach_counts_each_store_once() {
        let clock = PriceClock::new();
        let v = version("A", 2, "2027-01-01T00:00:00Z".parse().unwrap());
        for store in ["T-1", "T-2", "T-1"] {
            clock.delivered(&v, store);
        }
        assert_eq!((clock.reach("A", 2), clock.reach("A", 1)), (2, 0));
    }

    #[test]
    fn past_the_horizon_a_version_is_left_for_the_next_read() {
        let t0: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        let mut u = Upcoming { due: BTreeMap::new(), horizon: Some(t0) };
        u.learn(version("A", 1, t0.checked_add(jiff::SignedDuration::from_secs(1)).unwrap()));
        assert!(u.due.is_empty());
        assert_eq!(u.wait(t0), Duration::ZERO, "the horizon is reached: read again");
    }
}
