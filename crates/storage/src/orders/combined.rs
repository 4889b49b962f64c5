//! Placements written together ([`crate::combine`]): the placements queued for the write
//! turn are decided on one read of the ledger — each one's holds all or none, against the
//! balances the ones before it left — and written with a fixed number of multi-row
//! statements whatever their number: keys claimed with their answers, orders, lines, the
//! ledger's entries, balances and holds, allocations, events, audit records.
//!
//! Each was decided off the turn on a snapshot, so its answer (the order, reserved) is known
//! before the turn and stored with its key in the claim. A placement whose stock moved since
//! its snapshot is told so and decided again; one whose key was used meanwhile goes the way
//! of a replay.

use std::collections::HashSet;

use jiff::Timestamp;
use tongjia_domain::ledger::StockCommand;

use super::place::{placed_events, write_rows};
use super::records::OrderRecord;
use crate::audit::{Appended, AuditEntry, append_many};
use crate::combine::{Combiner, Queued};
use crate::error::StoreResult;
use crate::stock::decide_members;
use crate::tx::{Answered, claim_answered, emit_rows, unclaim};
use crate::writer::{Turn, retryable};

/// A placement decided off the turn, waiting to be written with others.
pub(crate) struct Placement {
    /// The order as it stands once written (reserved).
    pub order: OrderRecord,
    /// One `Reserve` per allocation, in allocation order.
    pub holds: Vec<StockCommand>,
    pub now: Timestamp,
    /// Its key with the answer to store under it, if the request had a key.
    pub key: Option<Answered>,
    /// Its audit record (with the answer), if audited.
    pub audit: Option<(AuditEntry, u16, String)>,
}

/// What became of a combined placement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placed {
    /// Written and committed, its answer stored under its key.
    Written,
    /// The stock moved since its snapshot: nothing written, to be decided again.
    Moved,
    /// Its key was used meanwhile: nothing written, to be answered as a repeat.
    Taken,
}

/// The placements of one server waiting to be written together.
pub(crate) type Placements = Combiner<Placement, Placed>;

/// Writes a batch in `turn`, waits for the group's commit and tells each placement.
pub(crate) async fn write_placements(mut turn: Turn, batch: Vec<Queued<Placement, Placed>>) {
    let decided = decide_and_write(&mut turn, &batch).await;
    let told = match decided {
        Ok(outcomes) => {
            let written = outcomes.iter().filter(|o| **o == Placed::Written).count();
            match turn.finish_as(written).await {
                Ok(()) => Ok(outcomes),
                Err(e) => Err(e),
            }
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

/// Claims the keys, decides every placement's holds on one read and writes the placements
/// kept: each one's outcome, in order.
async fn decide_and_write(turn: &mut Turn, batch: &[Queued<Placement, Placed>]) -> StoreResult<Vec<Placed>> {
    let placements: Vec<&Placement> = batch.iter().map(|q| &q.write).collect();
    let now = placements.iter().map(|p| p.now).max().unwrap_or_else(Timestamp::now);
    let conn = turn.conn();
    let mut outcomes = vec![Placed::Written; placements.len()];
    // A key twice in one batch: the second is a repeat of the first.
    let mut seen = HashSet::new();
    for (p, o) in placements.iter().zip(outcomes.iter_mut()) {
        if let Some(k) = &p.key
            && !seen.insert((k.scope.as_str(), k.key.as_str()))
        {
            *o = Placed::Taken;
        }
    }
    let claims: Vec<&Answered> =
        placements.iter().zip(&outcomes).filter(|(_, o)| **o == Placed::Written).filter_map(|(p, _)| p.key.as_ref()).collect();
    let claimed = claim_answered(conn, &claims, now).await?;
    for (p, o) in placements.iter().zip(outcomes.iter_mut()) {
        if let Some(k) = &p.key
            && *o == Placed::Written
            && !claimed.contains(&(k.scope.clone(), k.key.clone()))
        {
            *o = Placed::Taken;
        }
    }
    let deciding: Vec<usize> = (0..placements.len()).filter(|i| outcomes[*i] == Placed::Written).collect();
    let members: Vec<(&[StockCommand], Timestamp)> =
        deciding.iter().map(|i| (placements[*i].holds.as_slice(), placements[*i].now)).collect();
    let (holds, decided) = decide_members(conn, &members).await?;
    let mut ranges = Vec::with_capacity(deciding.len());
    for (i, d) in deciding.iter().zip(decided) {
        match d {
            Ok(range) => ranges.push((*i, range)),
            Err(_) => {
                outcomes[*i] = Placed::Moved;
                if let Some(k) = &placements[*i].key {
                    unclaim(conn, k).await?;
                }
            }
        }
    }
    let written: Vec<&OrderRecord> = ranges.iter().map(|(i, _)| &placements[*i].order).collect();
    write_rows(conn, &written, &holds, now).await?;
    let mut events = Vec::new();
    for (i, range) in &ranges {
        let (placed, moved) = placed_events(&placements[*i].order, &holds, range.clone())?;
        events.extend(placed);
        events.push(moved);
    }
    emit_rows(conn, &events, now).await?;
    let audits: Vec<Appended> = ranges
        .iter()
        .filter_map(|(i, _)| {
            let p = placements[*i];
            p.audit.as_ref().map(|(entry, status, response)| Appended {
                entry,
                key: p.key.as_ref().map(|k| k.key.as_str()),
                status: *status,
                response,
            })
        })
        .collect();
    append_many(conn, &audits, now).await?;
    Ok(outcomes)
}
