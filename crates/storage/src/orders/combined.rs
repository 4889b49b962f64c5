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

use jiff::Timestamp;
use tongjia_domain::ledger::StockCommand;

use super::place::{placed_events, write_rows};
use super::records::OrderRecord;
use crate::combine::{Answer, Combined, Combiner, Queued, audit_kept, claim_keys, moved, tell};
use crate::error::StoreResult;
use crate::stock::decide_members;
use crate::tx::emit_rows;
use crate::writer::Turn;

/// A placement decided off the turn, waiting to be written with others.
pub(crate) struct Placement {
    /// The order as it stands once written (reserved).
    pub order: OrderRecord,
    /// One `Reserve` per allocation, in allocation order.
    pub holds: Vec<StockCommand>,
    pub now: Timestamp,
    pub answer: Answer,
}

/// The placements of one server waiting to be written together.
pub(crate) type Placements = Combiner<Placement, Combined>;

/// Writes a batch in `turn`, waits for the group's commit and tells each placement.
pub(crate) async fn write_placements(mut turn: Turn, batch: Vec<Queued<Placement, Combined>>) {
    let decided = decide_and_write(&mut turn, &batch).await;
    tell(turn, batch, decided).await
}

/// Claims the keys, decides every placement's holds on one read and writes the placements
/// kept: each one's outcome, in order.
async fn decide_and_write(turn: &mut Turn, batch: &[Queued<Placement, Combined>]) -> StoreResult<Vec<Combined>> {
    let placements: Vec<&Placement> = batch.iter().map(|q| &q.write).collect();
    let answers: Vec<&Answer> = placements.iter().map(|p| &p.answer).collect();
    let now = placements.iter().map(|p| p.now).max().unwrap_or_else(Timestamp::now);
    let conn = turn.conn();
    let mut outcomes = claim_keys(conn, &answers, now).await?;
    let deciding: Vec<usize> = (0..placements.len()).filter(|i| outcomes[*i] == Combined::Written).collect();
    let members: Vec<(&[StockCommand], Timestamp)> =
        deciding.iter().map(|i| (placements[*i].holds.as_slice(), placements[*i].now)).collect();
    let (holds, decided) = decide_members(conn, &members, Default::default()).await?;
    let mut ranges = Vec::with_capacity(deciding.len());
    for (i, d) in deciding.into_iter().zip(decided) {
        match d {
            Ok(range) => ranges.push((i, range)),
            Err(_) => moved(conn, answers[i], &mut outcomes[i]).await?,
        }
    }
    let written: Vec<&OrderRecord> = ranges.iter().map(|(i, _)| &placements[*i].order).collect();
    write_rows(conn, &written, &holds, now).await?;
    let mut events = Vec::new();
    for (i, range) in &ranges {
        let (placed, reserved) = placed_events(&placements[*i].order, &holds, range.clone())?;
        events.extend(placed);
        events.push(reserved);
    }
    emit_rows(conn, &events, now).await?;
    audit_kept(conn, &answers, &outcomes, now).await?;
    Ok(outcomes)
}
