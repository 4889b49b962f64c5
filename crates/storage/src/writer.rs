//! Group commit: the writer every write transaction goes through.
//!
//! Writes take turns (see the crate docs). Instead of one database transaction per write,
//! writes that queue up behind each other share one: each runs in its turn inside the
//! group's open transaction, fenced by a savepoint so that a refused or failed write undoes
//! only itself, and the group commits once — when nobody is waiting any more, or after
//! [`GROUP_MAX`] writes. Every write answers only after its group has committed, so an
//! answer is never given for a change that could still be lost; if the commit fails, every
//! write of the group fails with a retryable error and nothing of it is kept.
//!
//! One commit (one `fsync`, one hold of PostgreSQL's write lock) then serves many writes,
//! which is what lets a flash sale go past one commit per reservation. Under light load a
//! group is one write, exactly as before.

use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::backend::Backend;
use crate::error::{StoreError, StoreResult};

/// Writes one group takes before it commits even though more are waiting, which bounds
/// how long a write waits for its answer.
pub(crate) const GROUP_MAX: usize = 64;

/// Why a group did not commit, handed to each of its writes.
#[derive(Debug, Clone)]
struct Failure {
    busy: bool,
    message: Arc<str>,
}

impl Failure {
    fn of(e: &StoreError) -> Failure {
        Failure { busy: matches!(e, StoreError::Busy(_)), message: e.to_string().into() }
    }

    /// A retryable error: nothing of the write was kept.
    fn error(&self) -> StoreError {
        let e = sqlx::Error::Protocol(format!("the write's group did not commit: {}", self.message));
        if self.busy { StoreError::Busy(e) } else { StoreError::Unavailable(e) }
    }
}

type Outcome = watch::Sender<Option<Result<(), Failure>>>;

/// The open transaction of a group and the writes it holds so far.
struct Group {
    tx: Transaction<'static, Any>,
    members: usize,
    outcome: Arc<Outcome>,
}

impl Group {
    /// Commits and tells every write of the group how it went.
    async fn commit(self) {
        let result = if self.members == 0 { self.tx.rollback().await } else { self.tx.commit().await };
        let result = result.map_err(|e| Failure::of(&StoreError::from(e)));
        self.outcome.send_replace(Some(result));
    }

    /// Rolls the whole group back: none of its writes is kept.
    async fn abort(self, why: &StoreError) {
        let _ = self.tx.rollback().await;
        self.outcome.send_replace(Some(Err(Failure::of(why))));
    }
}

/// The writer of one [`crate::Db`]: the open group (if any) behind a fair lock, and how
/// many writes wait for it.
pub(crate) struct Writer {
    slot: Arc<Mutex<Option<Group>>>,
    waiting: AtomicUsize,
    pool: AnyPool,
    backend: Backend,
    /// How long a write waits for its turn before it is refused as busy.
    wait: Duration,
}

impl Writer {
    pub(crate) fn new(pool: AnyPool, backend: Backend, wait: Duration) -> Arc<Writer> {
        Arc::new(Writer { slot: Arc::new(Mutex::new(None)), waiting: AtomicUsize::new(0), pool, backend, wait })
    }

    /// Waits for this write's turn and opens it: in the open group behind a savepoint, or
    /// as the first write of a new group (which begins the transaction and takes the
    /// engine's write turn).
    pub(crate) async fn enter(self: &Arc<Self>) -> StoreResult<Turn> {
        let mut ticket = Ticket { writer: self.clone(), admitted: false };
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = tokio::time::timeout(self.wait, self.slot.clone().lock_owned())
            .await
            .map_err(|_| StoreError::Busy(sqlx::Error::PoolTimedOut))?;
        ticket.admit();
        let mut turn = Turn { guard: Some(guard), writer: self.clone(), savepoint: false };
        let slot = turn.guard.as_mut().expect("held until finished");
        if slot.is_none() {
            let mut tx = self.pool.begin().await?;
            self.backend.take_write_turn(&mut tx).await?;
            **slot = Some(Group { tx, members: 0, outcome: Arc::new(watch::channel(None).0) });
        } else {
            // Set first: if this is interrupted, the turn is undone as a savepoint.
            turn.savepoint = true;
            sqlx::query("SAVEPOINT member").execute(turn.conn()).await?;
        }
        Ok(turn)
    }

    /// Hands the turn on, or commits the group if no write is waiting or it is full. The
    /// commit runs in a task of its own, so a caller that goes away cannot cut it short.
    fn settle(&self, mut slot: OwnedMutexGuard<Option<Group>>) {
        let full = slot.as_ref().is_some_and(|g| g.members >= GROUP_MAX);
        if (full || self.waiting.load(Ordering::SeqCst) == 0)
            && let Some(group) = slot.take()
        {
            tokio::spawn(group.commit());
        }
        drop(slot);
    }

    /// Undoes a turn that ended without [`Turn::finish`]: back to its savepoint, or, for
    /// the first write of a group (no savepoint) or if that fails, the whole group.
    async fn undo(&self, mut slot: OwnedMutexGuard<Option<Group>>, savepoint: bool) {
        if let Some(group) = slot.as_mut() {
            let undone = if savepoint {
                match sqlx::query("ROLLBACK TO SAVEPOINT member").execute(&mut *group.tx).await {
                    Ok(_) => sqlx::query("RELEASE SAVEPOINT member").execute(&mut *group.tx).await.map(drop),
                    Err(e) => Err(e),
                }
            } else {
                Err(sqlx::Error::Protocol("the group's first write did not finish".into()))
            };
            if let Err(e) = undone
                && let Some(group) = slot.take()
            {
                group.abort(&StoreError::from(e)).await;
            }
        }
        self.settle(slot);
    }
}

/// A write waiting for its turn. If it goes away before it is admitted (its caller gave
/// up), whoever holds the turn may have left the group open for it: commit it then.
struct Ticket {
    writer: Arc<Writer>,
    admitted: bool,
}

impl Ticket {
    fn admit(&mut self) {
        self.admitted = true;
        self.writer.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.admitted {
            return;
        }
        self.writer.waiting.fetch_sub(1, Ordering::SeqCst);
        let writer = self.writer.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                let slot = writer.slot.clone().lock_owned().await;
                writer.settle(slot);
            });
        }
    }
}

/// One write's turn in the open group. [`Turn::finish`] keeps its work and waits for the
/// group's commit; dropping it undoes its work.
pub(crate) struct Turn {
    guard: Option<OwnedMutexGuard<Option<Group>>>,
    writer: Arc<Writer>,
    savepoint: bool,
}

impl Turn {
    /// The connection of the group's transaction.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        let group = self.guard.as_mut().and_then(|slot| slot.as_mut()).expect("a turn holds an open group");
        &mut group.tx
    }

    /// Keeps this write's work, hands the turn on and waits until the group has committed.
    pub(crate) async fn finish(mut self) -> StoreResult<()> {
        if self.savepoint {
            sqlx::query("RELEASE SAVEPOINT member").execute(self.conn()).await?;
        }
        let mut slot = self.guard.take().expect("held until finished");
        let group = slot.as_mut().expect("a turn holds an open group");
        group.members += 1;
        let mut outcome = group.outcome.subscribe();
        self.writer.settle(slot);
        let result = outcome.wait_for(Option::is_some).await.map(|o| o.clone());
        match result {
            Ok(Some(Ok(()))) => Ok(()),
            Ok(Some(Err(failure))) => Err(failure.error()),
            // The commit task ended without a word: treat the write as not acknowledged.
            Ok(None) | Err(_) => Err(Failure { busy: false, message: "commit interrupted".into() }.error()),
        }
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        let Some(slot) = self.guard.take() else { return };
        let (writer, savepoint) = (self.writer.clone(), self.savepoint);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn(async move { writer.undo(slot, savepoint).await })),
            // No runtime left (shutting down): dropping the transaction rolls it back.
            Err(_) => drop(slot),
        }
    }
}
