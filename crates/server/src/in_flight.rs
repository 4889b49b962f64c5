//! Keyed requests running on this server, so that a repeat of one (a client retrying
//! before its first try was answered) waits for it and then replays its answer — and,
//! past a bounded wait, gets `409 idempotency_key_in_flight` instead of queueing on.
//!
//! A repeat that reaches another server waits for its write turn instead, which the first
//! try holds or has just committed; it replays the answer too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::watch;

/// The keys (scope and key) of the keyed requests running now.
#[derive(Default)]
pub(crate) struct InFlight(Mutex<HashMap<String, watch::Receiver<()>>>);

/// A keyed request marked running; dropping it lets the repeats waiting for it go on.
pub(crate) struct Running<'a> {
    in_flight: &'a InFlight,
    id: String,
    _done: watch::Sender<()>,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        // Only this request can have put `id` in the map: others wait until it is gone.
        self.in_flight.0.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.id);
    }
}

/// A request with the same key was still running after the wait.
#[derive(Debug)]
pub(crate) struct StillRunning;

impl InFlight {
    /// Marks `id` running, first waiting up to `wait` for a request with the same `id`
    /// that is running already.
    pub(crate) async fn start(&self, id: String, wait: Duration) -> Result<Running<'_>, StillRunning> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let mut first = {
                let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
                match map.get(&id) {
                    Some(first) => first.clone(),
                    None => {
                        let (done, running) = watch::channel(());
                        map.insert(id.clone(), running);
                        return Ok(Running { in_flight: self, id, _done: done });
                    }
                }
            };
            // `changed` ends with an error once the first drops its sender.
            if tokio::time::timeout_at(deadline, first.changed()).await.is_err() {
                return Err(StillRunning);
            }
        }
    }
}
