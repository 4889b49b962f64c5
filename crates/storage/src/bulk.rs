//! Bulk writes (the imports): every row in one transaction, all or nothing.
//!
//! The first pass runs the rows straight through, as fast as one write can go. Only when
//! a rule refuses a row does a second pass run, each row behind its own savepoint, so that
//! every refused row is reported (up to [`REFUSALS_MAX`]), not only the first — and then
//! nothing is written. [`Bulk::Check`] runs that second pass alone: every refusal, nothing
//! written, whatever the outcome.

use std::fmt;
use std::future::Future;

use crate::Db;
use crate::error::{StoreError, StoreResult};
use crate::tx::WriteTx;

/// Refused rows collected at most by one bulk write.
pub const REFUSALS_MAX: usize = 1000;

/// Whether a bulk write keeps its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bulk {
    /// Write every row, or nothing if any row is refused.
    Write,
    /// Run every row and report every refusal, then write nothing (a dry run).
    Check,
}

/// The rows a bulk write refused, each with its index in the input (an index equal to the
/// number of rows means the write as a whole: its closing event or its commit). Nothing
/// was written.
#[derive(Debug)]
pub struct Refusals(pub Vec<(usize, StoreError)>);

impl Refusals {
    fn one(index: usize) -> impl FnOnce(StoreError) -> Self {
        move |e| Self(vec![(index, e)])
    }
}

impl fmt::Display for Refusals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some((index, first)) = self.0.first() else { return write!(f, "refused") };
        write!(f, "row {index}: {first}")?;
        if self.0.len() > 1 {
            write!(f, " (and {} more refused rows)", self.0.len() - 1)?;
        }
        Ok(())
    }
}

impl std::error::Error for Refusals {}

/// One kind of bulk write: what runs before the rows, for each row, and after them, all
/// in the same transaction.
pub(crate) trait BulkRows: Sync {
    /// Per-pass state shared by the rows (a cache of references already checked). It must
    /// hold only what the database had before the pass, as a refused row is undone.
    type State: Default + Send;

    fn len(&self) -> usize;

    /// Work before the first row (not fenced: a refusal here refuses the whole write);
    /// none unless a kind needs it.
    fn prelude(&self, _tx: &mut WriteTx<'static, ()>) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }

    fn row(&self, tx: &mut WriteTx<'static, ()>, index: usize, state: &mut Self::State) -> impl Future<Output = StoreResult<()>> + Send;
    /// Every row at once, decided together and written with a few set-based statements,
    /// where a kind can (`None`: row by row). A refusal names its row; the fenced second pass
    /// then runs row by row as ever, to report every refusal.
    fn at_once(&self, _tx: &mut WriteTx<'static, ()>) -> impl Future<Output = Option<Result<(), (usize, StoreError)>>> + Send {
        async { None }
    }

    /// Work after the last row (the import's closing event); none unless a kind needs it.
    fn close(&self, _tx: &mut WriteTx<'static, ()>) -> impl Future<Output = StoreResult<()>> + Send {
        async { Ok(()) }
    }
}

/// How one pass over the rows ended.
enum Pass {
    /// Every row went through (the transaction is still open, nothing committed).
    Through(WriteTx<'static, ()>),
    /// Unfenced: the first refusal, work undone.
    Refused(usize, StoreError),
    /// Fenced: every refusal (at least one), work undone.
    Refusals(Vec<(usize, StoreError)>),
}

impl Db {
    /// Runs `rows` as one bulk write (see the module's doc).
    pub(crate) async fn bulk<B: BulkRows>(&self, rows: &B, mode: Bulk, mut progress: impl FnMut(usize) + Send) -> Result<usize, Refusals> {
        let mut pass = self.pass(rows, mode == Bulk::Check, &mut progress).await?;
        if let Pass::Refused(index, e) = pass {
            // Only a rule's refusal is worth a second pass: it may be one row of many.
            if !matches!(e, StoreError::Domain(_)) || rows.len() == 1 {
                return Err(Refusals(vec![(index, e)]));
            }
            pass = self.pass(rows, true, &mut progress).await?;
        }
        match pass {
            Pass::Refused(index, e) => Err(Refusals(vec![(index, e)])),
            Pass::Refusals(refused) => Err(Refusals(refused)),
            Pass::Through(tx) if mode == Bulk::Check => {
                drop(tx);
                Ok(rows.len())
            }
            Pass::Through(mut tx) => {
                rows.close(&mut tx).await.map_err(Refusals::one(rows.len()))?;
                tx.commit(()).await.map_err(Refusals::one(rows.len()))?;
                Ok(rows.len())
            }
        }
    }

    /// One pass over the rows; `fenced` runs each behind a savepoint and goes on after a
    /// refusal. A pass with refusals is undone before it returns.
    async fn pass<B: BulkRows>(&self, rows: &B, fenced: bool, progress: &mut (impl FnMut(usize) + Send)) -> Result<Pass, Refusals> {
        let mut tx = self.begin::<()>(None, self.now()).await.map_err(Refusals::one(0))?;
        rows.prelude(&mut tx).await.map_err(Refusals::one(0))?;
        if !fenced {
            match rows.at_once(&mut tx).await {
                Some(Ok(())) => {
                    progress(rows.len());
                    return Ok(Pass::Through(tx));
                }
                Some(Err((index, e))) => return Ok(Pass::Refused(index, e)),
                None => {}
            }
        }
        let mut state = B::State::default();
        let mut refused = vec![];
        for index in 0..rows.len() {
            if fenced {
                fence(&mut tx, "SAVEPOINT bulk_row").await.map_err(Refusals::one(index))?;
            }
            match rows.row(&mut tx, index, &mut state).await {
                Ok(()) if fenced => fence(&mut tx, "RELEASE SAVEPOINT bulk_row").await.map_err(Refusals::one(index))?,
                Ok(()) => {}
                Err(e) if !fenced => return Ok(Pass::Refused(index, e)),
                Err(e @ StoreError::Domain(_)) => {
                    fence(&mut tx, "ROLLBACK TO SAVEPOINT bulk_row").await.map_err(Refusals::one(index))?;
                    fence(&mut tx, "RELEASE SAVEPOINT bulk_row").await.map_err(Refusals::one(index))?;
                    refused.push((index, e));
                    if refused.len() >= REFUSALS_MAX {
                        break;
                    }
                }
                // The database itself failed: nothing more to learn from the other rows.
                Err(e) => return Err(Refusals(vec![(index, e)])),
            }
            progress(index + 1);
        }
        Ok(if refused.is_empty() { Pass::Through(tx) } else { Pass::Refusals(refused) })
    }
}

async fn fence(tx: &mut WriteTx<'static, ()>, statement: &'static str) -> StoreResult<()> {
    sqlx::query(statement).execute(tx.conn()).await?;
    Ok(())
}
