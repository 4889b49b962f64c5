//! Flat combining: writes of one kind that queue up for the write turn are written together,
//! by whichever of them reaches the turn first.
//!
//! Group commit shares one transaction among the writes that queue up, but each still runs
//! its own statements one round trip after another while every other write waits for the
//! turn. A combined write instead queues what it has decided off the turn (see
//! [`crate::orders`]) and waits; one of the waiting writes leads: it takes the turn, takes
//! every write queued by then and hands them to the kind's batch writer, which decides them
//! all on one read of the ledger and writes them with a fixed number of multi-row statements
//! in one turn of the group — then tells each write its own outcome once the group has
//! committed. The others find their write already taken and wait for its outcome.
//!
//! The batch runs in a task of its own: a leader whose caller goes away (a closed
//! connection) cannot cut short the writes of the others. A queued write whose caller went
//! away before it was taken is left out.

use std::future::Future;
use std::sync::Arc;
use tokio::sync::oneshot;

use crate::error::{StoreError, StoreResult};
use crate::writer::{Turn, Writer, retryable};

/// Writes one batch takes at most; the rest wait for the next leader.
pub(crate) const BATCH_MAX: usize = 256;

/// A write queued for its batch: `answer` is where its outcome goes.
pub(crate) struct Queued<W, A> {
    pub(crate) write: W,
    pub(crate) answer: oneshot::Sender<StoreResult<A>>,
}

impl<W, A> Queued<W, A> {
    /// Tells the write its outcome (nobody may be listening any more: then nothing).
    pub(crate) fn tell(self, outcome: StoreResult<A>) {
        let _ = self.answer.send(outcome);
    }
}

/// The writes of one kind waiting to be combined, and who leads.
pub(crate) struct Combiner<W, A> {
    queue: std::sync::Mutex<Vec<Queued<W, A>>>,
    lead: tokio::sync::Mutex<()>,
}

impl<W, A> Default for Combiner<W, A> {
    fn default() -> Self {
        Combiner { queue: std::sync::Mutex::new(Vec::new()), lead: tokio::sync::Mutex::new(()) }
    }
}

impl<W: Send + 'static, A: Send + 'static> Combiner<W, A> {
    /// Queues `write` and returns its outcome: written by a batch this call leads (taking the
    /// turn from `writer` and spawning `batch` on everything queued) or one another leads.
    pub(crate) async fn write<F, Fut>(&self, writer: &Arc<Writer>, write: W, batch: F) -> StoreResult<A>
    where
        F: FnOnce(Turn, Vec<Queued<W, A>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (answer, mut outcome) = oneshot::channel();
        self.lock().push(Queued { write, answer });
        let gone = || StoreError::Unavailable(sqlx::Error::Protocol("the write's batch ended without an answer".into()));
        tokio::select! {
            biased;
            told = &mut outcome => return told.unwrap_or_else(|_| Err(gone())),
            lead = self.lead.lock() => {
                if !self.lock().is_empty() {
                    let turn = writer.enter().await;
                    let taken = self.take();
                    drop(lead);
                    match turn {
                        Ok(turn) => drop(tokio::spawn(batch(turn, taken))),
                        Err(e) => taken.into_iter().for_each(|q| q.tell(Err(retryable(&e)))),
                    }
                }
            }
        }
        outcome.await.unwrap_or_else(|_| Err(gone()))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Queued<W, A>>> {
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Up to [`BATCH_MAX`] queued writes whose callers still wait, oldest first.
    fn take(&self) -> Vec<Queued<W, A>> {
        let mut queue = self.lock();
        queue.retain(|q| !q.answer.is_closed());
        let n = queue.len().min(BATCH_MAX);
        queue.drain(..n).collect()
    }
}
