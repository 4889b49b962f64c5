//! Order actions written together ([`crate::combine`]): a payment (or a step of fulfilment)
//! is loaded and decided by the order flow off the turn on a snapshot, and queued with its
//! answer rendered; the batch in the turn checks in two queries that each order and its
//! holds and transfers are still as they were decided on, lets the ledger decide every
//! action's stock commands on one read of the balances, and writes them all — balances,
//! entries, holds, orders, payments, events, audit — with a fixed number of multi-row
//! statements. An action whose order moved meanwhile is told so and decided again.
//!
//! Only actions whose decision touches nothing else are combined (no points, no return, no
//! allocation or line changed, no refund); the rest are decided in the turn ([`super::act`]).

use std::collections::{HashMap, HashSet};

use jiff::Timestamp;
use tongjia_domain::ledger::{LedgerView, Reservation, StockCommand, Transfer};
use tongjia_domain::orders::{Order, OrderCommand, OrderDecision};
use uuid::Uuid;

use super::act::{insert_payments, order_events, update_orders};
use crate::combine::{Answer, Combined, Combiner, Queued, audit_kept, claim_keys, moved, tell};
use crate::error::StoreResult;
use crate::stock::{decide_members, load_reservations, load_transfers};
use crate::tx::{ROWS_PER_STATEMENT, emit_rows, marks};
use crate::us;
use crate::writer::Turn;

/// An action decided off the turn, waiting to be written with others.
pub(crate) struct Action {
    /// The order as loaded, in the domain's terms: what the turn checks is still so.
    pub order: Order,
    pub holds: Vec<Reservation>,
    pub transfers: Vec<Transfer>,
    pub decision: OrderDecision,
    pub now: Timestamp,
    pub answer: Answer,
}

/// The actions of one server waiting to be written together.
pub(crate) type Actions = Combiner<Action, Combined>;

/// Whether `command` may be combined at all: a payment or a step of fulfilment. Cancels,
/// returns, hand-overs and expiries move points, refunds or codes: decided in the turn.
pub(crate) fn combinable(command: &OrderCommand) -> bool {
    matches!(
        command,
        OrderCommand::Pay { .. } | OrderCommand::Fulfil | OrderCommand::Ship | OrderCommand::Deliver | OrderCommand::MarkReady
    )
}

/// Whether `d`, decided on `was`, changes only what a batch writes: the order row, payments
/// and the ledger.
pub(crate) fn writes_alone(was: &Order, d: &OrderDecision) -> bool {
    d.points.is_empty()
        && d.ret.is_none()
        && d.order.allocations == was.allocations
        && d.order.lines == was.lines
        && d.payments.iter().all(|p| p.kind == "payment")
}

/// Writes a batch in `turn`, waits for the group's commit and tells each action.
pub(crate) async fn write_actions(mut turn: Turn, batch: Vec<Queued<Action, Combined>>) {
    let decided = decide_and_write(&mut turn, &batch).await;
    tell(turn, batch, decided).await
}

/// The fields of an order row an action changes, as the turn compares them.
type State = (String, i64, i64, i64, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>, i64);

fn state(o: &Order) -> State {
    (
        o.status.as_str().to_owned(),
        o.paid.get(),
        o.refunded.get(),
        o.points_earned,
        o.points_reversed,
        o.paid_at.map(us),
        o.fulfilled_at.map(us),
        o.completed_at.map(us),
        o.cancelled_at.map(us),
        o.pickup_attempts,
    )
}

/// The stored state of the orders `ids`, a query per 200.
async fn states(conn: &mut sqlx::AnyConnection, ids: &[String]) -> StoreResult<HashMap<String, State>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "SELECT id, status, paid_fen, refunded_fen, points_earned, points_reversed, paid_at_us, fulfilled_at_us, completed_at_us, \
             cancelled_at_us, pickup_attempts FROM orders WHERE id IN ({})",
            marks(1, chunk.len())
        );
        type Row = (String, String, i64, i64, i64, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>, i64);
        let rows: Vec<Row> = chunk.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(id)).fetch_all(&mut *conn).await?;
        for (id, s, p, r, e, v, pa, f, c, x, a) in rows {
            found.insert(id, (s, p, r, e, v, pa, f, c, x, a));
        }
    }
    Ok(found)
}

/// Claims the keys, checks every action's order and holds are as decided on, lets the
/// ledger decide their stock commands on one read and writes the actions kept: each one's
/// outcome, in order.
async fn decide_and_write(turn: &mut Turn, batch: &[Queued<Action, Combined>]) -> StoreResult<Vec<Combined>> {
    let actions: Vec<&Action> = batch.iter().map(|q| &q.write).collect();
    let answers: Vec<&Answer> = actions.iter().map(|a| &a.answer).collect();
    let now = actions.iter().map(|a| a.now).max().unwrap_or_else(Timestamp::now);
    let conn = turn.conn();
    let mut outcomes = claim_keys(conn, &answers, now).await?;
    // One action per order in a batch: a second is decided again once the first is written.
    let mut orders = HashSet::new();
    for i in 0..actions.len() {
        if outcomes[i] == Combined::Written && !orders.insert(actions[i].order.id) {
            moved(conn, answers[i], &mut outcomes[i]).await?;
        }
    }
    let live = |outcomes: &[Combined]| (0..actions.len()).filter(|i| outcomes[*i] == Combined::Written).collect::<Vec<_>>();
    let checking = live(&outcomes);
    let ids: Vec<String> = checking.iter().map(|i| actions[*i].order.id.to_string()).collect();
    let stored = states(conn, &ids).await?;
    let holds: Vec<Uuid> = checking.iter().flat_map(|i| actions[*i].holds.iter().map(|r| r.id)).collect();
    let held = load_reservations(conn, &holds).await?;
    let transfers: Vec<Uuid> = checking.iter().flat_map(|i| actions[*i].transfers.iter().map(|t| t.id)).collect();
    let moving = load_transfers(conn, &transfers).await?;
    for i in checking {
        let a = actions[i];
        let same = stored.get(&a.order.id.to_string()) == Some(&state(&a.order))
            && a.holds.iter().all(|r| held.get(&r.id) == Some(r))
            && a.transfers.iter().all(|t| moving.get(&t.id) == Some(t));
        if !same {
            moved(conn, answers[i], &mut outcomes[i]).await?;
        }
    }
    let deciding = live(&outcomes);
    let view = LedgerView {
        reservations: deciding.iter().flat_map(|i| actions[*i].holds.iter().map(|r| (r.id, r.clone()))).collect(),
        transfers: deciding.iter().flat_map(|i| actions[*i].transfers.iter().map(|t| (t.id, t.clone()))).collect(),
        ..LedgerView::default()
    };
    let members: Vec<(&[StockCommand], Timestamp)> =
        deciding.iter().map(|i| (actions[*i].decision.stock.as_slice(), actions[*i].now)).collect();
    let (stock, decided) = decide_members(conn, &members, view).await?;
    let mut ranges = Vec::with_capacity(deciding.len());
    for (i, d) in deciding.into_iter().zip(decided) {
        match d {
            Ok(range) => ranges.push((i, range)),
            Err(_) => moved(conn, answers[i], &mut outcomes[i]).await?,
        }
    }
    stock.write(conn, now).await?;
    let rows: Vec<(&Order, Timestamp)> = ranges.iter().map(|(i, _)| (&actions[*i].decision.order, actions[*i].now)).collect();
    update_orders(conn, &rows).await?;
    let payments: Vec<_> =
        ranges.iter().flat_map(|(i, _)| actions[*i].decision.payments.iter().map(|p| (actions[*i].order.id, p))).collect();
    insert_payments(conn, &payments, now).await?;
    let mut events = Vec::new();
    for (i, range) in &ranges {
        events.extend(stock.events_of(range.clone())?);
        events.extend(order_events(actions[*i].order.id, &actions[*i].decision.events)?);
    }
    emit_rows(conn, &events, now).await?;
    audit_kept(conn, &answers, &outcomes, now).await?;
    Ok(outcomes)
}
