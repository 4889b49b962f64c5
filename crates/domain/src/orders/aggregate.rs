//! The order as an aggregate: every action on a placed order is decided here, by
//! [`decide`], from the order, the command and the facts storage loaded ([`OrderContext`]):
//! the new state of the order, the stock commands it implies (each one then decided by the
//! ledger), points moves, payment rows, a return record and the events to publish. Storage
//! loads, this decides, storage writes — nothing about an order is decided in SQL.

use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use super::{
    Fulfilment, OrderAction, OrderLine, OrderPolicy, OrderStatus, ReturnLine, fulfil_holds, keep_holds_for_payment, next_status,
    paid_hold_until, plan_return, points_to_reverse, release_holds,
};
use crate::codes::{LocationCode, Owner};
use crate::error::{DomainError, DomainResult};
use crate::events::{EventType, OrderMoved, OrderRefunded, OrderReturned};
use crate::ledger::{Quantity, RESERVATION_TTL_SECONDS_MAX, Reservation, StockCommand, StockKey, Transfer, TransferStatus};
use crate::money::Fen;
use crate::payments;

/// Wrong pickup codes allowed before a handover locks.
pub const PICKUP_ATTEMPTS_MAX: i64 = 5;

/// Units of a line held (or travelling) for an order at one location and owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Allocation {
    pub id: Uuid,
    pub line_no: i64,
    pub location_code: LocationCode,
    pub owner: Owner,
    pub quantity: Quantity,
    pub reservation_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
}

/// A placed order, as the order flow decides on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: Uuid,
    pub fulfilment: Fulfilment,
    pub status: OrderStatus,
    /// The member's mobile, for members.
    pub customer: Option<String>,
    /// The store it was placed at (None: online).
    pub store: Option<LocationCode>,
    pub pickup_store: Option<LocationCode>,
    pub pickup_code: Option<String>,
    pub pickup_attempts: i64,
    pub lines: Vec<OrderLine>,
    pub allocations: Vec<Allocation>,
    pub total: Fen,
    pub paid: Fen,
    pub refunded: Fen,
    pub points_redeemed: i64,
    pub points_earned: i64,
    pub points_reversed: i64,
    /// How the order was paid (refunds go back the same way).
    pub payment_method: Option<String>,
    /// The provider's or the till's reference of that payment (a refund names it).
    pub payment_reference: Option<String>,
    pub expires_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub fulfilled_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
}

impl Order {
    /// The locations the order touches — its store, its pickup store, where its stock is
    /// held — each once: whose staff and partner see its events.
    pub fn locations(&self) -> Vec<LocationCode> {
        let mut out: Vec<LocationCode> = self.store.iter().chain(&self.pickup_store).cloned().collect();
        for a in &self.allocations {
            if !out.contains(&a.location_code) {
                out.push(a.location_code.clone());
            }
        }
        out.dedup();
        out
    }
}

/// What can be done to a placed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCommand {
    /// The payment of the order's total: exactly that amount, within the hold.
    Pay {
        amount: Fen,
        external_reference: String,
        method: String,
    },
    Fulfil,
    /// Shipped (a paid order first moves to fulfilling).
    Ship,
    /// Delivered after shipping.
    Deliver,
    /// A pickup is ready at its store (a paid order first moves to fulfilling).
    MarkReady,
    HandOver {
        code: String,
    },
    Cancel,
    /// The sweeper's cancellation of an unpaid order past its hold.
    Expire,
    /// Units of lines come back at `store` (already checked to be an open store).
    Return {
        store: LocationCode,
        lines: Vec<(i64, Quantity, bool)>,
    },
}

/// The facts storage loads for a decision.
#[derive(Debug, Clone, Copy)]
pub struct OrderContext<'a> {
    /// The reservations the allocations name, in allocation order.
    pub holds: &'a [Reservation],
    /// The transfers the allocations name.
    pub transfers: &'a [Transfer],
    /// The member's points balance now (0 for guests).
    pub points_balance: i64,
    pub policy: &'a OrderPolicy,
}

/// A change to the member's points, with its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PointsMove {
    pub delta: i64,
    pub reason: &'static str,
}

/// A payment or refund row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRow {
    pub id: Uuid,
    /// `payment` or `refund`.
    pub kind: &'static str,
    pub amount: Fen,
    pub external_reference: String,
    pub method: String,
    /// [`payments::SETTLED`], or [`payments::PENDING`] for an online refund its provider has
    /// not yet accepted.
    pub state: &'static str,
}

/// A return taken at a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnRow {
    pub id: Uuid,
    pub store: LocationCode,
    pub refund: Fen,
    pub points_restored: i64,
    pub points_reversed: i64,
    pub lines: Vec<ReturnLine>,
}

/// What an order action publishes besides the ledger's own stock events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// `order.<status>`: the order moved.
    Moved(OrderMoved),
    Refunded(OrderRefunded),
    Returned(OrderReturned),
}

impl OrderEvent {
    pub fn event_type(&self) -> EventType {
        match self {
            OrderEvent::Moved(m) => EventType::order_moved(m.status),
            OrderEvent::Refunded(_) => EventType::OrderRefunded,
            OrderEvent::Returned(_) => EventType::OrderReturned,
        }
    }
}

/// Everything an order action decided; storage writes all of it in one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDecision {
    /// The order after the action (status, money, points, allocations, lines, times).
    pub order: Order,
    /// Stock commands to run through the ledger, in order.
    pub stock: Vec<StockCommand>,
    pub points: Vec<PointsMove>,
    pub payments: Vec<PaymentRow>,
    pub ret: Option<ReturnRow>,
    pub events: Vec<OrderEvent>,
}

/// A refused action; `keep` is a change that stands all the same (a wrong pickup code counts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRefusal {
    pub error: DomainError,
    pub keep: Option<Box<Order>>,
}

impl From<DomainError> for OrderRefusal {
    fn from(error: DomainError) -> Self {
        OrderRefusal { error, keep: None }
    }
}

/// Decides `command` on `order` at `now`. `ids` hands out new ids (transfers, holds, rows).
pub fn decide(
    order: &Order,
    command: &OrderCommand,
    ctx: &OrderContext<'_>,
    now: Timestamp,
    ids: &mut dyn FnMut() -> Uuid,
) -> Result<OrderDecision, OrderRefusal> {
    let mut d = Draft {
        d: OrderDecision { order: order.clone(), stock: vec![], points: vec![], payments: vec![], ret: None, events: vec![] },
        now,
    };
    match command {
        OrderCommand::Pay { amount, external_reference, method } => d.pay(*amount, external_reference, method, ctx, ids)?,
        OrderCommand::Fulfil => d.moved(OrderAction::Fulfil)?,
        OrderCommand::Ship => {
            d.start_fulfilment(OrderAction::Ship)?;
            next_status(order.fulfilment, d.d.order.status, OrderAction::Ship)?;
            d.fulfil(ctx)?;
            d.moved(OrderAction::Ship)?;
        }
        OrderCommand::Deliver => d.complete(OrderAction::Complete, ctx.policy)?,
        OrderCommand::MarkReady => {
            d.start_fulfilment(OrderAction::MarkReady)?;
            next_status(order.fulfilment, d.d.order.status, OrderAction::MarkReady)?;
            d.receive_transfers(ctx, ids)?;
            d.moved(OrderAction::MarkReady)?;
        }
        OrderCommand::HandOver { code } => {
            d.check_code(code)?;
            d.fulfil(ctx)?;
            d.complete(OrderAction::HandOver, ctx.policy)?;
        }
        OrderCommand::Cancel => d.cancel(OrderAction::Cancel, ctx, ids)?,
        OrderCommand::Expire => d.cancel(OrderAction::Expire, ctx, ids)?,
        OrderCommand::Return { store, lines } => d.take_back(store, lines, ctx, ids)?,
    }
    Ok(d.d)
}

/// A decision being built on the order's running state.
struct Draft {
    d: OrderDecision,
    now: Timestamp,
}

impl Draft {
    fn order(&mut self) -> &mut Order {
        &mut self.d.order
    }

    /// Moves the order by `action`, stamping its time and publishing `order.<status>`.
    fn moved(&mut self, action: OrderAction) -> DomainResult<()> {
        let now = self.now;
        let o = self.order();
        let to = next_status(o.fulfilment, o.status, action)?;
        match to {
            OrderStatus::Paid => o.paid_at = Some(now),
            OrderStatus::Completed => o.completed_at = Some(now),
            OrderStatus::Cancelled => o.cancelled_at = Some(now),
            _ => {}
        }
        o.status = to;
        let (order_id, locations) = (o.id, o.locations());
        self.d.events.push(OrderEvent::Moved(OrderMoved { order_id, status: to, action, locations }));
        Ok(())
    }

    /// Shipping or marking ready a paid order moves it through fulfilling first; when the
    /// step after fulfilment is not allowed, the refusal names the order's real status.
    fn start_fulfilment(&mut self, action: OrderAction) -> DomainResult<()> {
        let o = &self.d.order;
        if o.status != OrderStatus::Paid {
            return Ok(());
        }
        if next_status(o.fulfilment, OrderStatus::Fulfilling, action).is_err() {
            next_status(o.fulfilment, o.status, action)?;
        }
        self.moved(OrderAction::Fulfil)
    }

    fn pay(
        &mut self,
        amount: Fen,
        reference: &str,
        method: &str,
        ctx: &OrderContext<'_>,
        ids: &mut dyn FnMut() -> Uuid,
    ) -> DomainResult<()> {
        let o = self.d.order.clone();
        next_status(o.fulfilment, o.status, OrderAction::Pay)?;
        if self.now >= o.expires_at {
            return Err(DomainError::conflict(
                "order_expired",
                format!("order {} was held until {} and is no longer payable", o.id, o.expires_at),
            ));
        }
        if amount != o.total {
            return Err(
                DomainError::rule("payment_amount_mismatch", format!("the order's total is {}, not {amount}", o.total)).at("amount_fen")
            );
        }
        let row = PaymentRow {
            id: ids(),
            kind: "payment",
            amount,
            external_reference: reference.to_owned(),
            method: method.to_owned(),
            state: payments::SETTLED,
        };
        self.d.payments.push(row);
        self.order().paid = amount;
        self.order().payment_method = Some(method.to_owned());
        self.order().payment_reference = Some(reference.to_owned());
        self.moved(OrderAction::Pay)?;
        if o.fulfilment == Fulfilment::CarryOut {
            self.fulfil(ctx)?;
            return self.complete(OrderAction::Complete, ctx.policy);
        }
        self.d.stock.extend(keep_holds_for_payment(o.id, ctx.holds, ctx.policy, self.now)?);
        if let Some(pickup) = o.pickup_store.clone() {
            self.start_transfers(&pickup, ids)?;
        }
        Ok(())
    }

    /// After payment of a pickup sourced elsewhere: the held units leave for the pickup store.
    fn start_transfers(&mut self, pickup: &LocationCode, ids: &mut dyn FnMut() -> Uuid) -> DomainResult<()> {
        let lines = self.d.order.lines.clone();
        for a in self.d.order.allocations.iter_mut().filter(|a| &a.location_code != pickup) {
            let Some(reservation_id) = a.reservation_id else { continue };
            let sku_code = sku_of(&lines, a.line_no)?;
            let transfer_id = ids();
            self.d.stock.push(StockCommand::Release { reservation_id });
            self.d.stock.push(StockCommand::TransferOut {
                transfer_id,
                from: StockKey { location_code: a.location_code.clone(), sku_code, owner: a.owner.clone() },
                to_location_code: pickup.clone(),
                quantity: a.quantity,
            });
            a.reservation_id = None;
            a.transfer_id = Some(transfer_id);
        }
        Ok(())
    }

    /// When staff mark a pickup ready: transfers in transit arrive and are held for the order
    /// at the pickup store for the paid hold.
    fn receive_transfers(&mut self, ctx: &OrderContext<'_>, ids: &mut dyn FnMut() -> Uuid) -> DomainResult<()> {
        let pickup = self
            .d
            .order
            .pickup_store
            .clone()
            .ok_or_else(|| DomainError::conflict("pickup_store_missing", "a pickup order names its store"))?;
        let until = paid_hold_until(ctx.policy, self.now);
        // A hold is placed for at most the ledger's longest hold, then extended to the paid hold.
        let first = self.now.checked_add(jiff::SignedDuration::from_secs(RESERVATION_TTL_SECONDS_MAX)).unwrap_or(self.now).min(until);
        let (id, lines) = (self.d.order.id, self.d.order.lines.clone());
        for a in self.d.order.allocations.iter_mut() {
            let Some(transfer_id) = a.transfer_id else { continue };
            if ctx.transfers.iter().any(|t| t.id == transfer_id && t.status == TransferStatus::InTransit) {
                self.d.stock.push(StockCommand::TransferIn { transfer_id });
            }
            let reservation_id = ids();
            let key = StockKey { location_code: pickup.clone(), sku_code: sku_of(&lines, a.line_no)?, owner: a.owner.clone() };
            let reference = Some(format!("order {id}"));
            self.d.stock.push(StockCommand::Reserve { reservation_id, key, quantity: a.quantity, expires_at: first, reference });
            if until > first {
                self.d.stock.push(StockCommand::Extend { reservation_id, expires_at: until });
            }
            a.location_code = pickup.clone();
            a.reservation_id = Some(reservation_id);
        }
        Ok(())
    }

    /// The goods leave: the holds become sales (none may be lost).
    fn fulfil(&mut self, ctx: &OrderContext<'_>) -> DomainResult<()> {
        let holds: Vec<Reservation> = self.current_holds(ctx);
        self.d.stock.extend(fulfil_holds(self.d.order.id, &holds, ctx.policy, self.now)?);
        self.order().fulfilled_at = Some(self.now);
        Ok(())
    }

    /// The holds the order's allocations name now (those it had when loaded).
    fn current_holds(&self, ctx: &OrderContext<'_>) -> Vec<Reservation> {
        let ids: Vec<Uuid> = self.d.order.allocations.iter().filter_map(|a| a.reservation_id).collect();
        ctx.holds.iter().filter(|r| ids.contains(&r.id)).cloned().collect()
    }

    /// Completes the order: a member earns points on what was paid.
    fn complete(&mut self, action: OrderAction, policy: &OrderPolicy) -> DomainResult<()> {
        self.moved(action)?;
        if self.d.order.customer.is_some() {
            let earned = policy.points.earned(self.d.order.paid);
            self.order().points_earned = earned;
            self.points(earned, "earned on a completed order");
        }
        Ok(())
    }

    fn points(&mut self, delta: i64, reason: &'static str) {
        if delta != 0 && self.d.order.customer.is_some() {
            self.d.points.push(PointsMove { delta, reason });
        }
    }

    /// A handover needs the pickup code; each wrong one counts, and five lock the handover.
    fn check_code(&mut self, code: &str) -> Result<(), OrderRefusal> {
        let o = self.d.order.clone();
        next_status(o.fulfilment, o.status, OrderAction::HandOver)?;
        if o.pickup_attempts >= PICKUP_ATTEMPTS_MAX {
            return Err(DomainError::conflict(
                "pickup_code_locked",
                format!("{PICKUP_ATTEMPTS_MAX} wrong pickup codes: the handover is locked; cancel and reorder"),
            )
            .into());
        }
        if o.pickup_code.as_deref() == Some(code) {
            return Ok(());
        }
        let left = PICKUP_ATTEMPTS_MAX - o.pickup_attempts - 1;
        let error = DomainError::rule("wrong_pickup_code", format!("the pickup code does not match this order ({left} tries left)"))
            .at("pickup_code");
        Err(OrderRefusal { error, keep: Some(Box::new(Order { pickup_attempts: o.pickup_attempts + 1, ..o })) })
    }

    /// Cancels before shipping: releases what is held, gives redeemed points back, refunds a
    /// payment. An expiry only once the hold has run out.
    fn cancel(&mut self, action: OrderAction, ctx: &OrderContext<'_>, ids: &mut dyn FnMut() -> Uuid) -> DomainResult<()> {
        let o = self.d.order.clone();
        next_status(o.fulfilment, o.status, action)?;
        if action == OrderAction::Expire && self.now < o.expires_at {
            return Err(DomainError::conflict("order_not_expired", format!("order {} is held until {}", o.id, o.expires_at)));
        }
        self.d.stock.extend(release_holds(&self.current_holds(ctx)));
        self.points(o.points_redeemed, "redeemed points given back on cancellation");
        if o.paid.get() > 0 {
            self.refund(o.paid, "cancellation".to_owned(), ids(), None);
        }
        self.moved(action)
    }

    /// Records a refund the way the payment came: to its method (its provider), naming the
    /// payment's reference; a counter refund is paid out at once, an online one waits for
    /// its provider.
    /// `at`: the store taking a return, which sees the refund's event too.
    fn refund(&mut self, amount: Fen, why: String, id: Uuid, at: Option<&LocationCode>) {
        let method = self.d.order.payment_method.clone().unwrap_or_else(|| "original".to_owned());
        let external_reference = self.d.order.payment_reference.clone().unwrap_or_default();
        let state = payments::refund_state(&method);
        let row = PaymentRow { id, kind: "refund", amount, external_reference, method: method.clone(), state };
        self.d.payments.push(row);
        let o = self.order();
        o.refunded = Fen::new(o.refunded.get() + amount.get());
        let (order_id, locations) = (o.id, with(o.locations(), at));
        self.d.events.push(OrderEvent::Refunded(OrderRefunded { order_id, amount, why, method, locations }));
    }

    /// Takes back lines at any store within the return window: refunds the price paid,
    /// restocks the returning store under the owner the line was sold from (sellable or
    /// damaged), restores redeemed points and takes back what the refund had earned — never
    /// below zero.
    fn take_back(
        &mut self,
        store: &LocationCode,
        requests: &[(i64, Quantity, bool)],
        ctx: &OrderContext<'_>,
        ids: &mut dyn FnMut() -> Uuid,
    ) -> DomainResult<()> {
        let o = self.d.order.clone();
        if !matches!(o.status, OrderStatus::Shipped | OrderStatus::Completed) {
            return Err(DomainError::conflict("order_not_returnable", format!("a {} order cannot be returned", o.status.as_str())));
        }
        let plan = plan_return(&o.lines, o.fulfilled_at, ctx.policy.return_window_days, self.now, requests)?;
        let refund: i64 = plan.iter().map(|r| r.refund.get()).sum();
        let restored: i64 = plan.iter().map(|r| r.points_restored).sum();
        let reversed = points_to_reverse(o.points_earned, o.paid, o.refunded, Fen::new(refund));
        for r in &plan {
            let owner = o.allocations.iter().find(|a| a.line_no == r.line_no).map_or(Owner::Brand, |a| a.owner.clone());
            let key = StockKey { location_code: store.clone(), sku_code: sku_of(&o.lines, r.line_no)?, owner };
            self.d.stock.push(StockCommand::Return {
                key,
                quantity: r.quantity,
                reference: Some(format!("return of order {}", o.id)),
                damaged: r.damaged,
            });
            if let Some(line) = self.order().lines.iter_mut().find(|l| l.line_no == r.line_no) {
                line.returned_quantity += r.quantity.get();
            }
        }
        let return_id = ids();
        if refund > 0 {
            self.refund(Fen::new(refund), format!("return {return_id}"), ids(), Some(store));
        }
        // Points already spent cannot be taken back below zero.
        let taken = if o.customer.is_some() { reversed.min(ctx.points_balance + restored) } else { 0 };
        self.points(restored, "redeemed points given back on a return");
        self.points(-taken, "earned points taken back on a return");
        self.order().points_reversed += taken;
        self.d.ret = Some(ReturnRow {
            id: return_id,
            store: store.clone(),
            refund: Fen::new(refund),
            points_restored: restored,
            points_reversed: taken,
            lines: plan.clone(),
        });
        let locations = with(o.locations(), Some(store));
        self.d.events.push(OrderEvent::Returned(OrderReturned {
            order_id: o.id,
            return_id,
            store_code: store.clone(),
            lines: plan,
            locations,
        }));
        Ok(())
    }
}

/// `locations` and `extra`, each once.
fn with(mut locations: Vec<LocationCode>, extra: Option<&LocationCode>) -> Vec<LocationCode> {
    if let Some(l) = extra.filter(|l| !locations.contains(l)) {
        locations.push(l.clone());
    }
    locations
}

fn sku_of(lines: &[OrderLine], line_no: i64) -> DomainResult<crate::codes::SkuCode> {
    lines
        .iter()
        .find(|l| l.line_no == line_no)
        .map(|l| l.sku_code.clone())
        .ok_or_else(|| DomainError::conflict("allocation_without_line", format!("no line {line_no}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{PartnerCode, SkuCode};
    use crate::customer::PointsRule;
    use crate::ledger::ReservationStatus;
    use crate::orders::price_lines;
    use crate::pricing::Quote;

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_900_000_000 + s).unwrap()
    }
    fn loc(c: &str) -> LocationCode {
        LocationCode::parse(c).unwrap()
    }
    fn partner() -> Owner {
        Owner::Partner(PartnerCode::parse("P1").unwrap())
    }
    /// A member's order of 2 units at 10,000 fen with 100 points redeemed, held at WH by a
    /// partner's consigned stock.
    fn order(fulfilment: Fulfilment, status: OrderStatus) -> (Order, Vec<Reservation>) {
        let sku = SkuCode::parse("A").unwrap();
        let quote = Quote {
            sku_code: sku.clone(),
            at: ts(0),
            unit_price: Fen::new(10_000),
            list_price: Fen::new(10_000),
            member_price: None,
            price_version: 1,
            effective_at: ts(0),
        };
        let lines = price_lines(&[(sku.clone(), Quantity::new(2).unwrap())], &[quote], 100, &PointsRule::default()).unwrap();
        let hold = Reservation {
            id: Uuid::from_u128(9),
            key: StockKey { location_code: loc("WH"), sku_code: sku, owner: partner() },
            quantity: Quantity::new(2).unwrap(),
            expires_at: ts(900),
            status: ReservationStatus::Active,
            reference: None,
        };
        let allocation = Allocation {
            id: Uuid::from_u128(3),
            line_no: 1,
            location_code: loc("WH"),
            owner: partner(),
            quantity: Quantity::new(2).unwrap(),
            reservation_id: Some(hold.id),
            transfer_id: None,
        };
        let order = Order {
            id: Uuid::from_u128(1),
            fulfilment,
            status,
            customer: Some("13800138000".into()),
            pickup_store: (fulfilment == Fulfilment::Pickup).then(|| loc("S1")),
            pickup_code: Some("123456".into()),
            pickup_attempts: 0,
            lines,
            allocations: vec![allocation],
            total: Fen::new(19_900),
            paid: Fen::new(0),
            refunded: Fen::new(0),
            points_redeemed: 100,
            points_earned: 0,
            points_reversed: 0,
            payment_method: None,
            payment_reference: None,
            store: None,
            expires_at: ts(900),
            paid_at: None,
            fulfilled_at: None,
            completed_at: None,
            cancelled_at: None,
        };
        (order, vec![hold])
    }
    fn run(order: &Order, holds: &[Reservation], cmd: OrderCommand, now: Timestamp, balance: i64) -> Result<OrderDecision, OrderRefusal> {
        let policy = OrderPolicy::default();
        let ctx = OrderContext { holds, transfers: &[], points_balance: balance, policy: &policy };
        let mut n = 100;
        decide(order, &cmd, &ctx, now, &mut || {
            n += 1;
            Uuid::from_u128(n)
        })
    }
    fn pay(amount: i64) -> OrderCommand {
        OrderCommand::Pay { amount: Fen::new(amount), external_reference: "wx".into(), method: "wechat_pay".into() }
    }

    #[test]
    fn payment_is_the_exact_total_within_the_hold() {
        let (o, holds) = order(Fulfilment::Delivery, OrderStatus::Reserved);
        assert_eq!(run(&o, &holds, pay(19_899), ts(10), 0).unwrap_err().error.code, "payment_amount_mismatch");
        assert_eq!(run(&o, &holds, pay(19_900), ts(900), 0).unwrap_err().error.code, "order_expired");
        let d = run(&o, &holds, pay(19_900), ts(10), 0).unwrap();
        assert_eq!((d.order.status, d.order.paid), (OrderStatus::Paid, Fen::new(19_900)));
        assert_eq!(
            d.stock,
            vec![StockCommand::Extend { reservation_id: holds[0].id, expires_at: paid_hold_until(&OrderPolicy::default(), ts(10)) }]
        );
        assert_eq!(d.payments[0].kind, "payment");
    }

    #[test]
    fn shipping_moves_through_fulfilling_and_sells_the_hold() {
        let (o, holds) = order(Fulfilment::Delivery, OrderStatus::Paid);
        let d = run(&o, &holds, OrderCommand::Ship, ts(10), 0).unwrap();
        let moved: Vec<OrderStatus> =
            d.events.iter().filter_map(|e| if let OrderEvent::Moved(m) = e { Some(m.status) } else { None }).collect();
        assert_eq!(moved, vec![OrderStatus::Fulfilling, OrderStatus::Shipped]);
        assert!(matches!(d.stock[..], [StockCommand::Commit { .. }]));
        assert_eq!(d.order.fulfilled_at, Some(ts(10)));
        let (pickup, holds) = order(Fulfilment::Pickup, OrderStatus::Paid);
        assert_eq!(run(&pickup, &holds, OrderCommand::Ship, ts(10), 0).unwrap_err().error.code, "illegal_transition");
        let lost = [Reservation { status: ReservationStatus::Expired, ..holds[0].clone() }];
        assert_eq!(run(&o, &lost, OrderCommand::Ship, ts(10), 0).unwrap_err().error.code, "order_hold_lost");
    }

    #[test]
    fn wrong_pickup_codes_count_and_lock_the_handover() {
        let (mut o, holds) = order(Fulfilment::Pickup, OrderStatus::ReadyForPickup);
        let wrong = run(&o, &holds, OrderCommand::HandOver { code: "000000".into() }, ts(10), 0).unwrap_err();
        assert_eq!(wrong.error.code, "wrong_pickup_code");
        assert_eq!(wrong.keep.unwrap().pickup_attempts, 1, "the wrong guess sticks");
        o.pickup_attempts = PICKUP_ATTEMPTS_MAX;
        let locked = run(&o, &holds, OrderCommand::HandOver { code: "123456".into() }, ts(10), 0).unwrap_err();
        assert_eq!((locked.error.code, locked.keep), ("pickup_code_locked", None));
        o.pickup_attempts = 0;
        let done = run(&o, &holds, OrderCommand::HandOver { code: "123456".into() }, ts(10), 0).unwrap();
        assert_eq!(done.order.status, OrderStatus::Completed);
    }

    #[test]
    fn returns_restock_the_owner_sold_from_and_never_take_points_below_zero() {
        let (mut o, holds) = order(Fulfilment::Delivery, OrderStatus::Shipped);
        o.paid = o.total;
        o.points_earned = 199;
        o.fulfilled_at = Some(ts(0));
        let ret = OrderCommand::Return { store: loc("T1"), lines: vec![(1, Quantity::new(2).unwrap(), false)] };
        let d = run(&o, &holds, ret.clone(), ts(10), 50).unwrap();
        match &d.stock[..] {
            [StockCommand::Return { key, .. }] => assert_eq!((key.location_code.as_str(), &key.owner), ("T1", &partner())),
            other => panic!("{other:?}"),
        }
        assert_eq!(d.order.refunded, Fen::new(19_900));
        // 100 points restored, 199 earned to take back but only 150 held: 150 taken.
        assert_eq!(d.points.iter().map(|p| p.delta).collect::<Vec<_>>(), vec![100, -150]);
        assert_eq!(d.order.points_reversed, 150);
        for status in [OrderStatus::Reserved, OrderStatus::Paid, OrderStatus::Cancelled] {
            let (o, holds) = order(Fulfilment::Delivery, status);
            assert_eq!(run(&o, &holds, ret.clone(), ts(10), 0).unwrap_err().error.code, "order_not_returnable");
        }
    }

    #[test]
    fn cancelling_gives_back_what_was_held_redeemed_and_paid() {
        let (mut o, holds) = order(Fulfilment::Delivery, OrderStatus::Paid);
        o.paid = o.total;
        o.payment_method = Some("alipay".into());
        o.payment_reference = Some("4200001".into());
        let d = run(&o, &holds, OrderCommand::Cancel, ts(10), 0).unwrap();
        assert_eq!(d.stock, vec![StockCommand::Release { reservation_id: holds[0].id }]);
        assert_eq!(d.points, vec![PointsMove { delta: 100, reason: "redeemed points given back on cancellation" }]);
        assert_eq!((d.payments[0].kind, d.payments[0].method.as_str(), d.order.refunded), ("refund", "alipay", o.total));
        // Back through the provider that took it, naming its transaction, until it accepts.
        assert_eq!((d.payments[0].external_reference.as_str(), d.payments[0].state), ("4200001", payments::PENDING));
        o.payment_method = Some("cash".into());
        let d = run(&o, &holds, OrderCommand::Cancel, ts(10), 0).unwrap();
        assert_eq!(d.payments[0].state, payments::SETTLED, "cash is paid back over the counter");
        assert_eq!(run(&o, &holds, OrderCommand::Expire, ts(10), 0).unwrap_err().error.code, "illegal_transition");
        let (unpaid, holds) = order(Fulfilment::Delivery, OrderStatus::Reserved);
        assert_eq!(run(&unpaid, &holds, OrderCommand::Expire, ts(10), 0).unwrap_err().error.code, "order_not_expired");
        assert_eq!(run(&unpaid, &holds, OrderCommand::Expire, ts(900), 0).unwrap().order.status, OrderStatus::Cancelled);
    }
}
