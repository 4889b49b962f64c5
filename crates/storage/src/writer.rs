//! Group commit: the writer every write transaction goes through.
//!
//! Writes take turns (see the crate docs). Instead of one database transaction per write,
//! writes that queue up behind each other share one: each runs in its turn inside the
//! group's open transaction, fenced by a savepoint so that a refused or failed write undoes
//! only itself, and the group commits once — when nobody is waiting any more, or after
//! [`GROUP_MAX`] turns. Every write answers only after its group has committed, so an
//! answer is never given for a change that could still be lost; if the commit fails, every
//! write of the group fails with a retryable error and nothing of it is kept.
//!
//! One commit (one `fsync`, one hold of PostgreSQL's write lock) then serves many writes,
//! which is what lets a flash sale go past one commit per reservation. Under light load a
//! group is one write, exactly as before.

use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::backend::Backend;
use crate::error::{StoreError, StoreResult};

/// Writes one group takes before it commits even though more are waiting, which bounds
/// how long a write waits for its answer. Every turn but the first is a savepoint, so a
/// group also stays within the 64 subtransactions PostgreSQL caches per transaction (more
/// would slow every other session's snapshots).
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

    fn interrupted() -> Failure {
        Failure { busy: false, message: "commit interrupted".into() }
    }

    /// A retryable error: nothing of the write was kept.
    fn error(&self) -> StoreError {
        let e = sqlx::Error::Protocol(format!("the write's group did not commit: {}", self.message));
        if self.busy { StoreError::Busy(e) } else { StoreError::Unavailable(e) }
    }
}

/// A retryable copy of `e` for each write of a batch it failed (nothing of them was kept).
pub(crate) fn retryable(e: &StoreError) -> StoreError {
    Failure::of(e).error()
}

type Outcome = watch::Sender<Option<Result<(), Failure>>>;

/// The open transaction of a group and the writes it holds so far.
struct Group {
    tx: Transaction<'static, Any>,
    /// Writes kept so far.
    members: usize,
    /// Turns kept so far (a combined batch is one turn of many writes).
    kept: usize,
    /// Turns taken so far, kept or undone: what [`GROUP_MAX`] bounds, so that a stream of
    /// refused writes cannot hold a group (and the answers of its kept writes) open.
    turns: usize,
    /// Groups are numbered from 1 in the order they begin (and therefore end).
    generation: u64,
    outcome: Arc<Outcome>,
    /// The group before this one, whose outcome is told first.
    previous: Option<Arc<Outcome>>,
}

impl Group {
    /// Ends the group — commits it, or rolls it back for `failure` — then, once the group
    /// before it has been told, records the outcome and tells each of its writes.
    async fn end(self, failure: Option<StoreError>, record: Arc<Record>) {
        let result = match failure {
            None if self.members > 0 => self.tx.commit().await.map_err(|e| Failure::of(&StoreError::from(e))),
            None => self.tx.rollback().await.map_err(|e| Failure::of(&StoreError::from(e))),
            Some(why) => {
                let _ = self.tx.rollback().await;
                Err(Failure::of(&why))
            }
        };
        if let Some(previous) = &self.previous {
            let _ = previous.subscribe().wait_for(Option::is_some).await;
        }
        if result.is_ok() && self.members > 0 {
            record.groups.fetch_add(1, Ordering::Relaxed);
            record.writes.fetch_add(self.members as u64, Ordering::Relaxed);
            record.turns.fetch_add(self.kept as u64, Ordering::Relaxed);
        }
        record.ended.send_modify(|e| {
            e.upto = e.upto.max(self.generation);
            if result.is_err() {
                e.last_failed = self.generation;
            }
        });
        self.outcome.send_replace(Some(result));
    }
}

/// Which groups have ended, in order.
#[derive(Debug, Clone, Copy, Default)]
struct Ended {
    /// Every group up to this generation has ended.
    upto: u64,
    /// The newest group that failed (0: none).
    last_failed: u64,
}

/// What the writer records of ended groups (shared with the tasks that end them).
#[derive(Debug, Default)]
struct Record {
    groups: AtomicU64,
    turns: AtomicU64,
    writes: AtomicU64,
    ended: watch::Sender<Ended>,
}

/// Group commits of one server since it started: `writes / groups` is the mean group size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupCommits {
    /// Transactions committed, each holding one or more writes.
    pub groups: u64,
    /// Turns committed in them: a write's own, or a combined batch's (`writes / turns` is
    /// the mean batch size, see `combine`).
    pub turns: u64,
    /// Writes committed in them.
    pub writes: u64,
}

/// The groups begun before some write: see [`crate::Db::refusal_stands`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteMark(u64);

/// What the writer's lock guards: the open group, if any, and the newest group's outcome.
#[derive(Default)]
struct Slot {
    open: Option<Group>,
    newest: Option<Arc<Outcome>>,
}

/// The writer of one [`crate::Db`]: the open group (if any) behind a fair lock, and how
/// many writes wait for it.
pub(crate) struct Writer {
    slot: Arc<Mutex<Slot>>,
    waiting: AtomicUsize,
    /// Groups begun so far.
    begun: AtomicU64,
    record: Arc<Record>,
    pool: AnyPool,
    backend: Backend,
    /// How long a write waits for its turn before it is refused as busy.
    wait: Duration,
}

impl Writer {
    pub(crate) fn new(pool: AnyPool, backend: Backend, wait: Duration) -> Arc<Writer> {
        Arc::new(Writer {
            slot: Arc::default(),
            waiting: AtomicUsize::new(0),
            begun: AtomicU64::new(0),
            record: Arc::default(),
            pool,
            backend,
            wait,
        })
    }

    /// How long a write waits for its turn before it is refused as busy.
    pub(crate) fn wait(&self) -> Duration {
        self.wait
    }

    pub(crate) fn group_commits(&self) -> GroupCommits {
        GroupCommits {
            groups: self.record.groups.load(Ordering::Relaxed),
            turns: self.record.turns.load(Ordering::Relaxed),
            writes: self.record.writes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn mark(&self) -> WriteMark {
        WriteMark(self.begun.load(Ordering::SeqCst))
    }

    /// Waits until every group begun by now has ended; fails if one begun since `mark`
    /// (or open at it) failed.
    pub(crate) async fn ended_well_since(&self, mark: WriteMark) -> StoreResult<()> {
        let upto = self.begun.load(Ordering::SeqCst);
        let mut ended = self.record.ended.subscribe();
        let ended = *ended.wait_for(|e| e.upto >= upto).await.map_err(|_| Failure::interrupted().error())?;
        if ended.last_failed >= mark.0.max(1) {
            return Err(Failure { busy: false, message: "a write it was decided beside was not kept".into() }.error());
        }
        Ok(())
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
        if slot.open.is_none() {
            let mut tx = self.pool.begin().await?;
            self.backend.take_write_turn(&mut tx).await?;
            let outcome = Arc::new(watch::channel(None).0);
            let previous = slot.newest.replace(outcome.clone());
            let generation = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
            slot.open = Some(Group { tx, members: 0, kept: 0, turns: 1, generation, outcome, previous });
        } else {
            if let Some(group) = slot.open.as_mut() {
                group.turns += 1;
            }
            // Set first: if this is interrupted, the turn is undone as a savepoint.
            turn.savepoint = true;
            sqlx::query("SAVEPOINT member").execute(turn.conn()).await?;
        }
        Ok(turn)
    }

    /// Hands the turn on, or commits the group if no write is waiting or it is full. The
    /// commit runs in a task of its own, so a caller that goes away cannot cut it short.
    fn settle(&self, mut slot: OwnedMutexGuard<Slot>) {
        let full = slot.open.as_ref().is_some_and(|g| g.turns >= GROUP_MAX);
        if (full || self.waiting.load(Ordering::SeqCst) == 0)
            && let Some(group) = slot.open.take()
        {
            tokio::spawn(group.end(None, self.record.clone()));
        }
        drop(slot);
    }

    /// Undoes a turn that ended without [`Turn::finish`]: back to its savepoint; or, for
    /// the first write of a group (no savepoint, nothing else in the group), the group's
    /// transaction. If going back to the savepoint fails, the whole group fails.
    async fn undo(&self, mut slot: OwnedMutexGuard<Slot>, savepoint: bool) {
        if !savepoint {
            if let Some(group) = slot.open.take() {
                group.end(None, self.record.clone()).await;
            }
        } else if let Some(group) = slot.open.as_mut() {
            let undone = match sqlx::query("ROLLBACK TO SAVEPOINT member").execute(&mut *group.tx).await {
                Ok(_) => sqlx::query("RELEASE SAVEPOINT member").execute(&mut *group.tx).await.map(drop),
                Err(e) => Err(e),
            };
            if let Err(e) = undone
                && let Some(group) = slot.open.take()
            {
                group.end(Some(StoreError::from(e)), self.record.clone()).await;
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
    guard: Option<OwnedMutexGuard<Slot>>,
    writer: Arc<Writer>,
    savepoint: bool,
}

impl Turn {
    /// The connection of the group's transaction.
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        let group = self.guard.as_mut().and_then(|slot| slot.open.as_mut()).expect("a turn holds an open group");
        &mut group.tx
    }

    /// Keeps this write's work, hands the turn on and waits until the group has committed.
    pub(crate) async fn finish(self) -> StoreResult<()> {
        self.finish_as(1).await
    }

    /// [`Turn::finish`] for a turn that wrote `writes` writes together (a combined batch).
    pub(crate) async fn finish_as(mut self, writes: usize) -> StoreResult<()> {
        if self.savepoint {
            sqlx::query("RELEASE SAVEPOINT member").execute(self.conn()).await?;
        }
        let mut slot = self.guard.take().expect("held until finished");
        let group = slot.open.as_mut().expect("a turn holds an open group");
        group.members += writes;
        group.kept += usize::from(writes > 0);
        let mut outcome = group.outcome.subscribe();
        self.writer.settle(slot);
        let result = outcome.wait_for(Option::is_some).await.map(|o| o.clone());
        match result {
            Ok(Some(Ok(()))) => Ok(()),
            Ok(Some(Err(failure))) => Err(failure.error()),
            // The commit task ended without a word: treat the write as not acknowledged.
            Ok(None) | Err(_) => Err(Failure::interrupted().error()),
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
