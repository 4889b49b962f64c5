//! Every action on a placed order, one transaction each: load the order and the facts it
//! needs, let [`tongjia_domain::orders::decide`] decide, write what it decided. Nothing about
//! an order is decided here.

use jiff::Timestamp;
use sqlx::AnyConnection;
use tongjia_domain::codes::LocationCode;
use tongjia_domain::ledger::{LedgerView, Quantity};
use tongjia_domain::orders::{
    Order, OrderAction, OrderCommand, OrderContext, OrderDecision, OrderEvent, OrderPolicy, OrderRefusal, PaymentRow, decide,
};
use tongjia_domain::{DomainError, Fen};
use uuid::Uuid;

use super::acted::{Action, combinable, write_actions, writes_alone};
use super::load::{OrderFacts, load_order, order_facts};
use super::place::{SNAPSHOT_TRIES, json};
use super::plan::open_store;
use super::records::{NewPayment, OrderRecord, PaymentRecord, ReturnRecord};
use crate::combine::{Answer, Combined};
use crate::error::{StoreError, StoreResult};
use crate::stock::decide_together;
use crate::tx::{Idem, ROWS_PER_STATEMENT, WriteTx, placeholders};
use crate::{Db, us};

impl Db {
    /// Records the payment of an order's total (one payment, the exact amount) and holds its
    /// stock until fulfilment. A till sale completes at once; a pickup sourced elsewhere
    /// starts its transfer to the pickup store.
    pub async fn pay_order(
        &self,
        id: Uuid,
        payment: NewPayment,
        policy: &OrderPolicy,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<OrderRecord> {
        let NewPayment { amount, external_reference, method } = payment;
        self.act(id, OrderCommand::Pay { amount, external_reference, method }, policy, idem, self.now()).await
    }

    /// Moves an order along: `fulfil`, `ship`, `complete` (delivered), `mark_ready`. Shipping
    /// or marking ready a paid order starts its fulfilment first.
    pub async fn advance_order(
        &self,
        id: Uuid,
        action: OrderAction,
        policy: &OrderPolicy,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<OrderRecord> {
        let command = match action {
            OrderAction::Fulfil => OrderCommand::Fulfil,
            OrderAction::Ship => OrderCommand::Ship,
            OrderAction::Complete => OrderCommand::Deliver,
            OrderAction::MarkReady => OrderCommand::MarkReady,
            other => {
                return Err(DomainError::invalid("action", "invalid_action", format!("{} is not done this way", other.as_str())).into());
            }
        };
        self.act(id, command, policy, idem, self.now()).await
    }

    /// Hands a pickup order over against its pickup code: the held units become a sale at
    /// the pickup store. A wrong code is refused and counted; five lock the handover.
    pub async fn hand_over_order(
        &self,
        id: Uuid,
        code: &str,
        policy: &OrderPolicy,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<OrderRecord> {
        self.act(id, OrderCommand::HandOver { code: code.to_owned() }, policy, idem, self.now()).await
    }

    /// Cancels an order before it ships: releases what it holds, gives redeemed points back,
    /// and refunds a payment.
    pub async fn cancel_order(&self, id: Uuid, policy: &OrderPolicy, idem: Option<&Idem<'_, OrderRecord>>) -> StoreResult<OrderRecord> {
        self.act(id, OrderCommand::Cancel, policy, idem, self.now()).await
    }

    /// Cancels every unpaid order whose hold has run out at `now`; returns how many.
    pub async fn expire_due_orders(&self, policy: &OrderPolicy, now: Timestamp) -> StoreResult<usize> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM orders WHERE status = 'reserved' AND expires_at_us <= $1 ORDER BY expires_at_us LIMIT 500")
                .bind(us(now))
                .fetch_all(&self.read)
                .await?;
        let mut n = 0;
        for id in ids {
            let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match self.act(id, OrderCommand::Expire, policy, None, now).await {
                Ok(_) => n += 1,
                Err(StoreError::Domain(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Takes back lines of an order at any open store, within the return window.
    pub async fn return_order_lines(
        &self,
        id: Uuid,
        store: &LocationCode,
        lines: &[(i64, Quantity, bool)],
        policy: &OrderPolicy,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<OrderRecord> {
        let command = OrderCommand::Return { store: store.clone(), lines: lines.to_vec() };
        self.act(id, command, policy, idem, self.now()).await
    }

    /// Load → decide → write, in one write transaction. A refusal writes nothing, except
    /// what the domain says stands all the same (a wrong pickup code), in a write of its own.
    async fn act(
        &self,
        id: Uuid,
        command: OrderCommand,
        policy: &OrderPolicy,
        idem: Option<&Idem<'_, OrderRecord>>,
        now: Timestamp,
    ) -> StoreResult<OrderRecord> {
        if combinable(&command) {
            let now = crate::stored(now);
            for _ in 0..SNAPSHOT_TRIES {
                let Some((action, after)) = self.act_off_turn(id, &command, policy, now, idem).await? else { break };
                let answer = action.answer.clone();
                match self.actions.write(&self.writer, action, write_actions).await? {
                    Combined::Written => {
                        answer.give(idem);
                        return Ok(after);
                    }
                    Combined::Taken => break,
                    Combined::Moved => continue,
                }
            }
        }
        let mut tx = self.begin(idem, now).await?;
        let now = tx.now;
        let record = tx.order(id).await?;
        if let OrderCommand::Return { store, .. } = &command {
            open_store(tx.conn(), store, "store_code").await?;
        }
        let facts = order_facts(tx.conn(), &record).await?;
        let ctx = OrderContext { holds: &facts.holds, transfers: &facts.transfers, points_balance: facts.points_balance, policy };
        match decide(&facts.order, &command, &ctx, now, &mut Uuid::now_v7) {
            Ok(decision) => {
                write(&mut tx, &facts, &decision).await?;
                let after = applied(record, &decision, now);
                tx.commit(after.clone()).await?;
                Ok(after)
            }
            Err(OrderRefusal { error, keep: None }) => Err(error.into()),
            Err(OrderRefusal { error, keep: Some(_) }) => {
                drop(tx);
                self.keep_refused(id, &command, policy, now, error).await
            }
        }
    }

    /// An action decided by the order flow on one snapshot of the read pool, with the order
    /// as it will stand, if it can be written together with others; `None` to decide it in
    /// the turn (refused, not found, or a decision that changes more than a batch writes).
    async fn act_off_turn(
        &self,
        id: Uuid,
        command: &OrderCommand,
        policy: &OrderPolicy,
        now: Timestamp,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<Option<(Action, OrderRecord)>> {
        // No snapshot needed: the batch checks in the turn that the order's state, holds and
        // transfers are still what was read here, and these actions change nothing else.
        let mut conn = self.read.acquire().await?;
        let Some(record) = load_order(&mut conn, id).await? else { return Ok(None) };
        let facts = order_facts(&mut conn, &record).await?;
        drop(conn);
        let ctx = OrderContext { holds: &facts.holds, transfers: &facts.transfers, points_balance: facts.points_balance, policy };
        let Ok(decision) = decide(&facts.order, command, &ctx, now, &mut Uuid::now_v7) else { return Ok(None) };
        if !writes_alone(&facts.order, &decision) {
            return Ok(None);
        }
        let after = applied(record, &decision, now);
        let answer = Answer::of(idem, &after);
        let OrderFacts { order, holds, transfers, .. } = facts;
        Ok(Some((Action { order, holds, transfers, decision, now, answer }, after)))
    }

    /// What a refusal keeps all the same (a wrong pickup code counted), written in a turn of
    /// its own without the request's key, and decided again there on the order as it is then:
    /// two wrong codes tried at once count twice, not once.
    async fn keep_refused(
        &self,
        id: Uuid,
        command: &OrderCommand,
        policy: &OrderPolicy,
        now: Timestamp,
        refused: DomainError,
    ) -> StoreResult<OrderRecord> {
        let mut tx = self.begin::<()>(None, now).await?;
        let record = tx.order(id).await?;
        let facts = order_facts(tx.conn(), &record).await?;
        let ctx = OrderContext { holds: &facts.holds, transfers: &facts.transfers, points_balance: facts.points_balance, policy };
        match decide(&facts.order, command, &ctx, now, &mut Uuid::now_v7) {
            // Allowed now where it was refused a moment ago (the order moved on): nothing to
            // keep, and the request is answered with the refusal it met.
            Ok(_) => Err(refused.into()),
            Err(OrderRefusal { error, keep }) => {
                if let Some(kept) = keep {
                    write_order(&mut tx, &kept).await?;
                    tx.commit(()).await?;
                }
                Err(error.into())
            }
        }
    }
}

/// Writes a decision: the ledger's commands first (decided together by the ledger against
/// the order's holds and the balances as they are), then the order, its allocations and
/// lines, payments, the return, points — and every event in one multi-row statement.
async fn write<T>(tx: &mut WriteTx<'_, T>, facts: &OrderFacts, d: &OrderDecision) -> StoreResult<()> {
    let now = tx.now;
    let view = LedgerView {
        reservations: facts.holds.iter().map(|r| (r.id, r.clone())).collect(),
        transfers: facts.transfers.iter().map(|t| (t.id, t.clone())).collect(),
        ..LedgerView::default()
    };
    let stock = decide_together(tx.conn(), &d.stock, view, now).await?.map_err(|(_, e)| StoreError::from(e))?;
    stock.write(tx.conn(), now).await?;
    let mut events = stock.events()?;
    let o = &d.order;
    write_order(tx, o).await?;
    for (a, _) in o.allocations.iter().zip(&facts.order.allocations).filter(|(a, was)| a != was) {
        sqlx::query("UPDATE order_allocations SET location_code = $1, reservation_id = $2, transfer_id = $3 WHERE id = $4")
            .bind(a.location_code.as_str())
            .bind(a.reservation_id.map(|u| u.to_string()))
            .bind(a.transfer_id.map(|u| u.to_string()))
            .bind(a.id.to_string())
            .execute(tx.conn())
            .await?;
    }
    for (l, _) in o.lines.iter().zip(&facts.order.lines).filter(|(l, was)| l.returned_quantity != was.returned_quantity) {
        sqlx::query("UPDATE order_lines SET returned_quantity = $1 WHERE order_id = $2 AND line_no = $3")
            .bind(l.returned_quantity)
            .bind(o.id.to_string())
            .bind(l.line_no)
            .execute(tx.conn())
            .await?;
    }
    let payments: Vec<(Uuid, &PaymentRow)> = d.payments.iter().map(|p| (o.id, p)).collect();
    insert_payments(tx.conn(), &payments, now).await?;
    if let Some(r) = &d.ret {
        write_return(tx, o.id, r).await?;
    }
    if let Some(mobile) = &o.customer {
        let mut locations = o.locations();
        if let Some(r) = d.ret.as_ref().filter(|r| !locations.contains(&r.store)) {
            locations.push(r.store.clone());
        }
        for m in &d.points {
            events.extend(tx.points(mobile, o.id, m.delta, m.reason, &locations).await?);
        }
    }
    events.extend(order_events(o.id, &d.events)?);
    tx.emit_many(&events).await
}

/// An order's events as the outbox takes them, in order.
pub(super) fn order_events(order: Uuid, events: &[OrderEvent]) -> StoreResult<Vec<(tongjia_domain::events::EventType, String, String)>> {
    let subject = order.to_string();
    events
        .iter()
        .map(|e| {
            let payload = match e {
                OrderEvent::Moved(p) => json(p)?,
                OrderEvent::Refunded(p) => json(p)?,
                OrderEvent::Returned(p) => json(p)?,
            };
            Ok((e.event_type(), subject.clone(), payload))
        })
        .collect()
}

/// The order as stored after `d` was written at `now`, without reading it back: the order's
/// new state, its payments and return appended.
pub(super) fn applied(mut r: OrderRecord, d: &OrderDecision, now: Timestamp) -> OrderRecord {
    let o = &d.order;
    r.status = o.status;
    r.paid = o.paid;
    r.refunded = o.refunded;
    r.points_earned = o.points_earned;
    r.points_reversed = o.points_reversed;
    r.paid_at = o.paid_at;
    r.fulfilled_at = o.fulfilled_at;
    r.completed_at = o.completed_at;
    r.cancelled_at = o.cancelled_at;
    r.pickup_attempts = o.pickup_attempts;
    for (stored, a) in r.allocations.iter_mut().zip(&o.allocations) {
        stored.location_code = a.location_code.to_string();
        stored.reservation_id = a.reservation_id;
        stored.transfer_id = a.transfer_id;
    }
    for (stored, l) in r.lines.iter_mut().zip(&o.lines) {
        stored.returned_quantity = l.returned_quantity;
    }
    r.payments.extend(d.payments.iter().map(|p| PaymentRecord {
        id: p.id,
        kind: p.kind.to_owned(),
        amount: p.amount,
        external_reference: p.external_reference.clone(),
        method: p.method.clone(),
        recorded_at: now,
        state: p.state.to_owned(),
    }));
    if let Some(ret) = &d.ret {
        let mut lines: Vec<(i64, i64, bool, Fen)> = ret.lines.iter().map(|l| (l.line_no, l.quantity.get(), l.damaged, l.refund)).collect();
        lines.sort_by_key(|l| l.0);
        r.returns.push(ReturnRecord {
            id: ret.id,
            store_code: ret.store.to_string(),
            refund: ret.refund,
            points_restored: ret.points_restored,
            points_reversed: ret.points_reversed,
            lines,
            recorded_at: now,
        });
    }
    r
}

/// The order row: every field an action may change.
async fn write_order<T>(tx: &mut WriteTx<'_, T>, o: &Order) -> StoreResult<()> {
    let now = tx.now;
    update_orders(tx.conn(), &[(o, now)]).await
}

/// The order rows of many orders, each as decided at its time: every field an action may
/// change, a multi-row statement per 200.
pub(super) async fn update_orders(conn: &mut AnyConnection, orders: &[(&Order, Timestamp)]) -> StoreResult<()> {
    for chunk in orders.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "UPDATE orders SET status = v.column2, paid_fen = v.column3, refunded_fen = v.column4, points_earned = v.column5, \
             points_reversed = v.column6, paid_at_us = v.column7, fulfilled_at_us = v.column8, completed_at_us = v.column9, \
             cancelled_at_us = v.column10, pickup_attempts = v.column11, updated_at_us = v.column12 FROM (VALUES {}) AS v \
             WHERE orders.id = v.column1",
            placeholders(conn, chunk.len(), 12)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (o, now) in chunk {
            q = q
                .bind(o.id.to_string())
                .bind(o.status.as_str())
                .bind(o.paid.get())
                .bind(o.refunded.get())
                .bind(o.points_earned)
                .bind(o.points_reversed)
                .bind(o.paid_at.map(us))
                .bind(o.fulfilled_at.map(us))
                .bind(o.completed_at.map(us))
                .bind(o.cancelled_at.map(us))
                .bind(o.pickup_attempts)
                .bind(us(*now));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Payment rows `(order, payment)`, recorded at `now`, a multi-row statement per 200.
pub(super) async fn insert_payments(conn: &mut AnyConnection, payments: &[(Uuid, &PaymentRow)], now: Timestamp) -> StoreResult<()> {
    for chunk in payments.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO payments (id, order_id, kind, amount_fen, external_reference, method, recorded_at_us, state) VALUES {}",
            placeholders(conn, chunk.len(), 8)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (order, p) in chunk {
            q = q
                .bind(p.id.to_string())
                .bind(order.to_string())
                .bind(p.kind)
                .bind(p.amount.get())
                .bind(&p.external_reference)
                .bind(&p.method)
                .bind(us(now))
                .bind(p.state);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn write_return<T>(tx: &mut WriteTx<'_, T>, order: Uuid, r: &tongjia_domain::orders::ReturnRow) -> StoreResult<()> {
    sqlx::query("INSERT INTO returns (id, order_id, store_code, refund_fen, points_restored, points_reversed, recorded_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(r.id.to_string())
        .bind(order.to_string())
        .bind(r.store.as_str())
        .bind(r.refund.get())
        .bind(r.points_restored)
        .bind(r.points_reversed)
        .bind(us(tx.now))
        .execute(tx.conn())
        .await?;
    for l in &r.lines {
        sqlx::query("INSERT INTO return_lines (return_id, line_no, quantity, damaged, refund_fen) VALUES ($1, $2, $3, $4, $5)")
            .bind(r.id.to_string())
            .bind(l.line_no)
            .bind(l.quantity.get())
            .bind(l.damaged)
            .bind(l.refund.get())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}
