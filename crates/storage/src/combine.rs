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

use jiff::Timestamp;
use std::collections::HashSet;

use crate::audit::{Appended, AuditEntry, append_many};
use crate::error::{StoreError, StoreResult};
use crate::tx::{Answered, Idem, claim_answered, unclaim};
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
        // Bounded like a write's wait for its turn: past it the write is answered busy (retry
        // with the same key). One not yet taken is then left out; one taken may still be
        // written, and its retry replays it.
        match tokio::time::timeout(writer.wait(), self.queue_and_wait(writer, write, batch)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(StoreError::Busy(sqlx::Error::PoolTimedOut)),
        }
    }

    async fn queue_and_wait<F, Fut>(&self, writer: &Arc<Writer>, write: W, batch: F) -> StoreResult<A>
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

/// What became of a combined write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Combined {
    /// Written and committed, its answer stored under its key.
    Written,
    /// What it was decided on moved since its snapshot: nothing written, to be decided again.
    Moved,
    /// Its key was used meanwhile: nothing written, to be answered as a repeat.
    Taken,
}

/// A combined write's answer, decided before its turn, and what is stored with it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer {
    /// Its key with the answer to store under it, if the request had a key.
    pub key: Option<Answered>,
    /// Its audit record (who, the status, the answer), if audited.
    pub audit: Option<(AuditEntry, u16, String)>,
    /// The rendered answer, for the caller to give (when it asked for one).
    pub body: Option<String>,
}

impl Answer {
    /// The answer to `idem`'s request if it succeeds with `result`: rendered now.
    pub(crate) fn of<T>(idem: Option<&Idem<'_, T>>, result: &T) -> Answer {
        let Some(i) = idem else { return Answer::default() };
        let body = (i.render)(result);
        let key = i.key.as_ref().map(|k| Answered {
            scope: i.scope.clone(),
            key: k.clone(),
            request_hash: i.request_hash.clone(),
            status: i.status,
            body: body.clone(),
        });
        let audit = i.audit.clone().map(|a| (a, i.status, body.clone()));
        Answer { key, audit, body: Some(body) }
    }

    /// Hands the rendered answer to the request, once the write is kept.
    pub(crate) fn give<T>(self, idem: Option<&Idem<'_, T>>) {
        if let (Some(i), Some(body)) = (idem, self.body) {
            let _ = i.rendered.set(body);
        }
    }
}

/// Claims the keys of a batch's answers with the answers stored under them: `Written` for
/// each claimed (or keyless), `Taken` for a key used before or earlier in the batch.
pub(crate) async fn claim_keys(conn: &mut sqlx::AnyConnection, answers: &[&Answer], now: Timestamp) -> StoreResult<Vec<Combined>> {
    let mut outcomes = vec![Combined::Written; answers.len()];
    let mut seen = HashSet::new();
    for (a, o) in answers.iter().zip(outcomes.iter_mut()) {
        if let Some(k) = &a.key
            && !seen.insert((k.scope.as_str(), k.key.as_str()))
        {
            *o = Combined::Taken;
        }
    }
    let claims: Vec<&Answered> =
        answers.iter().zip(&outcomes).filter(|(_, o)| **o == Combined::Written).filter_map(|(a, _)| a.key.as_ref()).collect();
    let claimed = claim_answered(conn, &claims, now).await?;
    for (a, o) in answers.iter().zip(outcomes.iter_mut()) {
        if let Some(k) = &a.key
            && *o == Combined::Written
            && !claimed.contains(&(k.scope.clone(), k.key.clone()))
        {
            *o = Combined::Taken;
        }
    }
    Ok(outcomes)
}

/// Marks a write moved (`outcome`), giving back the key it claimed.
pub(crate) async fn moved(conn: &mut sqlx::AnyConnection, answer: &Answer, outcome: &mut Combined) -> StoreResult<()> {
    *outcome = Combined::Moved;
    match &answer.key {
        Some(k) => unclaim(conn, k).await,
        None => Ok(()),
    }
}

/// Appends the audit records of the writes kept, in order.
pub(crate) async fn audit_kept(
    conn: &mut sqlx::AnyConnection,
    answers: &[&Answer],
    outcomes: &[Combined],
    now: Timestamp,
) -> StoreResult<()> {
    let records: Vec<Appended> = answers
        .iter()
        .zip(outcomes)
        .filter(|(_, o)| **o == Combined::Written)
        .filter_map(|(a, _)| {
            a.audit.as_ref().map(|(entry, status, response)| Appended {
                entry,
                key: a.key.as_ref().map(|k| k.key.as_str()),
                status: *status,
                response,
            })
        })
        .collect();
    append_many(conn, &records, now).await
}

/// Ends a batch's turn: keeps what `decided` wrote and waits for the group's commit (or
/// undoes the turn on an error), then tells each write its outcome.
pub(crate) async fn tell<W>(turn: Turn, batch: Vec<Queued<W, Combined>>, decided: StoreResult<Vec<Combined>>) {
    let told = match decided {
        Ok(outcomes) => {
            let written = outcomes.iter().filter(|o| **o == Combined::Written).count();
            turn.finish_as(written).await.map(|()| outcomes)
        }
        Err(e) => {
            drop(turn);
            Err(e)
        }
    };
    match told {
        Ok(outcomes) => batch.into_iter().zip(outcomes).for_each(|(q, o)| q.tell(Ok(o))),
        Err(e) => batch.into_iter().for_each(|q| q.tell(Err(retryable(&e)))),
    }
}
