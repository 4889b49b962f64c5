//! One order flow for every channel: the lifecycle as a state machine, order lines priced
//! from the price book (never by the client), points redeemed and earned, and returns.

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::codes::SkuCode;
use crate::customer::PointsRule;
use crate::error::{DomainError, DomainResult};
use crate::ledger::Quantity;
use crate::money::Fen;
use crate::pricing::{Channel, Quote};

mod aggregate;
mod holds;
mod placement;
pub use aggregate::{
    Allocation, Order, OrderCommand, OrderContext, OrderDecision, OrderEvent, OrderRefusal, PICKUP_ATTEMPTS_MAX, PaymentRow, PointsMove,
    ReturnRow, decide,
};
pub use holds::{OrderHold, check_outside_command, fulfil_holds, keep_holds_for_payment, paid_hold_until, release_holds, when_due};
pub use placement::{SourcingPool, check_member, split_by_owner};

/// How the goods of an order reach the shopper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fulfilment {
    /// Delivered from a warehouse or shipped from a store.
    Delivery,
    /// Picked up at a chosen store (BOPIS).
    Pickup,
    /// A till sale: the goods leave the store at once.
    CarryOut,
    /// Ordered at a store, delivered from elsewhere.
    EndlessAisle,
}

impl Fulfilment {
    pub const ALL: [Fulfilment; 4] = [Self::Delivery, Self::Pickup, Self::CarryOut, Self::EndlessAisle];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivery => "delivery",
            Self::Pickup => "pickup",
            Self::CarryOut => "carry_out",
            Self::EndlessAisle => "endless_aisle",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL.into_iter().find(|f| f.as_str() == raw).ok_or_else(|| {
            DomainError::invalid("fulfilment", "invalid_fulfilment", format!("'{raw}' is not delivery, pickup, carry_out or endless_aisle"))
        })
    }
    /// Whether the goods travel to a destination address.
    pub fn ships(self) -> bool {
        matches!(self, Self::Delivery | Self::EndlessAisle)
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Placed,
    Reserved,
    Paid,
    Fulfilling,
    Shipped,
    ReadyForPickup,
    Completed,
    Cancelled,
}

impl OrderStatus {
    /// Paid and not yet handed over or shipped: its stock stays held, whatever the clock.
    pub fn awaits_fulfilment(self) -> bool {
        matches!(self, Self::Paid | Self::Fulfilling | Self::ReadyForPickup)
    }
    pub const ALL: [OrderStatus; 8] =
        [Self::Placed, Self::Reserved, Self::Paid, Self::Fulfilling, Self::Shipped, Self::ReadyForPickup, Self::Completed, Self::Cancelled];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Placed => "placed",
            Self::Reserved => "reserved",
            Self::Paid => "paid",
            Self::Fulfilling => "fulfilling",
            Self::Shipped => "shipped",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
        }
    }
    pub fn parse(raw: &str) -> DomainResult<Self> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw)
            .ok_or_else(|| DomainError::invalid("status", "invalid_status", format!("'{raw}' is not an order status")))
    }
}

/// Something that moves an order along.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderAction {
    Reserve,
    Pay,
    Fulfil,
    Ship,
    MarkReady,
    HandOver,
    /// Delivered (after shipping), or a till sale handed over at payment.
    Complete,
    Cancel,
    /// Unpaid past its hold: cancelled by the sweeper.
    Expire,
}

impl OrderAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reserve => "reserve",
            Self::Pay => "pay",
            Self::Fulfil => "fulfil",
            Self::Ship => "ship",
            Self::MarkReady => "mark_ready",
            Self::HandOver => "hand_over",
            Self::Complete => "complete",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
        }
    }
}

/// The lifecycle: which action takes an order of this fulfilment from `from` to where.
/// Anything else is an illegal transition (409).
pub fn next_status(fulfilment: Fulfilment, from: OrderStatus, action: OrderAction) -> DomainResult<OrderStatus> {
    use Fulfilment as F;
    use OrderAction as A;
    use OrderStatus as S;
    let to = match (from, action, fulfilment) {
        (S::Placed, A::Reserve, _) => Some(S::Reserved),
        (S::Reserved, A::Pay, _) => Some(S::Paid),
        (S::Paid, A::Complete, F::CarryOut) => Some(S::Completed),
        (S::Paid, A::Fulfil, F::Delivery | F::EndlessAisle | F::Pickup) => Some(S::Fulfilling),
        (S::Fulfilling, A::Ship, F::Delivery | F::EndlessAisle) => Some(S::Shipped),
        (S::Fulfilling, A::MarkReady, F::Pickup) => Some(S::ReadyForPickup),
        (S::ReadyForPickup, A::HandOver, F::Pickup) => Some(S::Completed),
        (S::Shipped, A::Complete, F::Delivery | F::EndlessAisle) => Some(S::Completed),
        (S::Placed | S::Reserved | S::Paid | S::Fulfilling | S::ReadyForPickup, A::Cancel, _) => Some(S::Cancelled),
        (S::Reserved, A::Expire, _) => Some(S::Cancelled),
        _ => None,
    };
    to.ok_or_else(|| {
        DomainError::conflict(
            "illegal_transition",
            format!("a {} order that is {} cannot {}", fulfilment.as_str(), from.as_str(), action.as_str().replace('_', " ")),
        )
    })
}

/// One priced order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// 1, 2, 3… within the order.
    pub line_no: i64,
    pub sku_code: SkuCode,
    pub quantity: Quantity,
    /// From the price book at order time: the member price for members when set.
    #[serde(rename = "unit_price_fen")]
    pub unit_price: Fen,
    #[serde(rename = "list_price_fen")]
    pub list_price: Fen,
    pub price_version: i64,
    /// Points redeemed against this line and what they took off.
    pub points_redeemed: i64,
    #[serde(rename = "discount_fen")]
    pub discount: Fen,
    /// What the shopper pays for the line: unit price × quantity − discount.
    #[serde(rename = "paid_fen")]
    pub paid: Fen,
    pub returned_quantity: i64,
}

/// What the shopper pays for priced lines: the sum of what each line pays.
pub fn total_paid(lines: &[OrderLine]) -> Fen {
    Fen::new(lines.iter().map(|l| l.paid.get()).sum())
}

/// An order's sums from its priced lines: before points, what points took off, and what
/// the shopper pays (`subtotal − discount`, the same as [`total_paid`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderSums {
    pub subtotal: Fen,
    pub discount: Fen,
    pub total: Fen,
}

/// The sums of `lines`.
pub fn order_sums(lines: &[OrderLine]) -> OrderSums {
    let discount = Fen::new(lines.iter().map(|l| l.discount.get()).sum());
    let total = total_paid(lines);
    OrderSums { subtotal: Fen::new(total.get() + discount.get()), discount, total }
}

/// Prices lines from quotes (one per line, same order) and spreads a points redemption over
/// them in proportion to their value (the remainder on the most valuable line).
pub fn price_lines(lines: &[(SkuCode, Quantity)], quotes: &[Quote], redeem_points: i64, rule: &PointsRule) -> DomainResult<Vec<OrderLine>> {
    if lines.is_empty() {
        return Err(DomainError::invalid("lines", "no_lines", "an order needs at least one line"));
    }
    if lines.len() > ORDER_LINES_MAX {
        return Err(DomainError::invalid("lines", "too_many_lines", format!("at most {ORDER_LINES_MAX} lines")));
    }
    if redeem_points < 0 {
        return Err(DomainError::invalid("redeem_points", "invalid_points", "points to redeem cannot be negative"));
    }
    let totals: Vec<i64> = lines
        .iter()
        .zip(quotes)
        .map(|((_, q), quote)| {
            quote
                .unit_price
                .checked_mul(q.get())
                .map(Fen::get)
                .ok_or_else(|| DomainError::invalid("lines", "total_too_large", "the line total is too large"))
        })
        .collect::<DomainResult<_>>()?;
    let subtotal: i64 = totals.iter().sum();
    if rule.value(redeem_points).get() > subtotal {
        return Err(DomainError::rule(
            "redemption_exceeds_total",
            format!("{redeem_points} points are worth more than the order's {}", Fen::new(subtotal)),
        ));
    }
    let mut points: Vec<i64> = totals
        .iter()
        .map(|t| if subtotal == 0 { 0 } else { (i128::from(redeem_points) * i128::from(*t) / i128::from(subtotal)) as i64 })
        .collect();
    let remainder = redeem_points - points.iter().sum::<i64>();
    if let Some(max) = (0..totals.len()).max_by(|a, b| totals[*a].cmp(&totals[*b]).then(b.cmp(a))) {
        points[max] += remainder;
    }
    Ok(lines
        .iter()
        .zip(quotes)
        .zip(totals.iter().zip(points))
        .enumerate()
        .map(|(i, (((sku, q), quote), (total, pts)))| {
            let discount = rule.value(pts);
            OrderLine {
                line_no: i as i64 + 1,
                sku_code: sku.clone(),
                quantity: *q,
                unit_price: quote.unit_price,
                list_price: quote.list_price,
                price_version: quote.price_version,
                points_redeemed: pts,
                discount,
                paid: Fen::new(total - discount.get()),
                returned_quantity: 0,
            }
        })
        .collect())
}

/// The rules an order runs under; the same in every channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderPolicy {
    pub points: PointsRule,
    /// How long an unpaid order holds its stock.
    pub hold_seconds: i64,
    /// Days after fulfilment a line may be returned.
    pub return_window_days: i64,
    /// How long a paid order's stock stays held awaiting fulfilment.
    pub paid_hold_seconds: i64,
}

impl Default for OrderPolicy {
    fn default() -> Self {
        OrderPolicy {
            points: PointsRule::default(),
            hold_seconds: HOLD_SECONDS_DEFAULT,
            return_window_days: RETURN_WINDOW_DAYS_DEFAULT,
            paid_hold_seconds: 30 * 24 * 3600,
        }
    }
}

/// Checks that channel, fulfilment, destination and pickup store fit together.
pub fn check_shape(channel: &Channel, fulfilment: Fulfilment, has_destination: bool, has_pickup_store: bool) -> DomainResult<()> {
    if matches!(fulfilment, Fulfilment::CarryOut | Fulfilment::EndlessAisle) && *channel == Channel::Online {
        return Err(DomainError::invalid(
            "fulfilment",
            "fulfilment_needs_store",
            format!("{} orders are placed at a store: give store_code", fulfilment.as_str()),
        ));
    }
    match (fulfilment.ships(), has_destination) {
        (true, false) => return Err(DomainError::invalid("destination", "destination_required", "a delivery needs a destination")),
        (false, true) => return Err(DomainError::invalid("destination", "destination_not_allowed", "only deliveries take a destination")),
        _ => {}
    }
    match (fulfilment == Fulfilment::Pickup, has_pickup_store) {
        (true, false) => {
            Err(DomainError::invalid("pickup_store_code", "pickup_store_required", "a pickup order names the store to pick up at"))
        }
        (false, true) => {
            Err(DomainError::invalid("pickup_store_code", "pickup_store_not_allowed", "only pickup orders name a pickup store"))
        }
        _ => Ok(()),
    }
}

/// The most lines one order may have.
pub const ORDER_LINES_MAX: usize = 100;
/// How long an unpaid order holds its stock, by default.
pub const HOLD_SECONDS_DEFAULT: i64 = 15 * 60;
/// Days after fulfilment a line may be returned, by default.
pub const RETURN_WINDOW_DAYS_DEFAULT: i64 = 7;

/// What returning some units of one line gives back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReturnLine {
    pub line_no: i64,
    pub quantity: Quantity,
    /// The price paid for these units (their share of the line, after points).
    #[serde(rename = "refund_fen")]
    pub refund: Fen,
    /// Redeemed points given back for these units.
    pub points_restored: i64,
    pub damaged: bool,
}

/// Plans a return: each requested (line, quantity, damaged) within what is left to return,
/// within the window after fulfilment. Refunds are exact shares: returning a line unit by
/// unit refunds exactly what the line cost.
pub fn plan_return(
    lines: &[OrderLine],
    fulfilled_at: Option<Timestamp>,
    window_days: i64,
    now: Timestamp,
    requests: &[(i64, Quantity, bool)],
) -> DomainResult<Vec<ReturnLine>> {
    let Some(fulfilled_at) = fulfilled_at else {
        return Err(DomainError::conflict("order_not_returnable", "only goods that have been handed over or shipped can be returned"));
    };
    let deadline = fulfilled_at.checked_add(SignedDuration::from_hours(24 * window_days)).unwrap_or(fulfilled_at);
    if now > deadline {
        return Err(DomainError::rule("return_window_closed", format!("the {window_days}-day return window closed at {deadline}")));
    }
    if requests.is_empty() {
        return Err(DomainError::invalid("lines", "no_lines", "name at least one line to return"));
    }
    let mut returned: Vec<i64> = lines.iter().map(|l| l.returned_quantity).collect();
    let mut out = vec![];
    for (i, (line_no, q, damaged)) in requests.iter().enumerate() {
        if requests[..i].iter().any(|(earlier, _, _)| earlier == line_no) {
            return Err(DomainError::invalid(
                "lines",
                "duplicate_line",
                format!("line {line_no} is named twice: name each line once (its sellable and damaged units are two returns)"),
            ));
        }
        let idx = lines
            .iter()
            .position(|l| l.line_no == *line_no)
            .ok_or_else(|| DomainError::invalid("lines", "unknown_line", format!("the order has no line {line_no}")))?;
        let line = &lines[idx];
        let left = line.quantity.get() - returned[idx];
        if q.get() > left {
            return Err(DomainError::rule(
                "return_exceeds_purchase",
                format!("line {line_no}: {} to return but only {left} of {} bought are left to return", q.get(), line.quantity.get()),
            )
            .at("lines"));
        }
        let share = |amount: i64, upto: i64| (i128::from(amount) * i128::from(upto) / i128::from(line.quantity.get())) as i64;
        let before = returned[idx];
        let after = before + q.get();
        out.push(ReturnLine {
            line_no: *line_no,
            quantity: *q,
            refund: Fen::new(share(line.paid.get(), after) - share(line.paid.get(), before)),
            points_restored: share(line.points_redeemed, after) - share(line.points_redeemed, before),
            damaged: *damaged,
        });
        returned[idx] = after;
    }
    Ok(out)
}

/// Earned points to take back for a refund: the same share of what the order earned as the
/// refunds so far are of what was paid (cumulative, so the total never exceeds the earnings).
pub fn points_to_reverse(earned: i64, paid_total: Fen, refunded_before: Fen, refunded_now: Fen) -> i64 {
    if paid_total.get() <= 0 {
        return 0;
    }
    let share = |refunded: i64| (i128::from(earned) * i128::from(refunded.min(paid_total.get())) / i128::from(paid_total.get())) as i64;
    share(refunded_before.get() + refunded_now.get()) - share(refunded_before.get())
}

/// A six-digit pickup code from 64 bits of randomness.
pub fn pickup_code(random: u64) -> String {
    format!("{:06}", random % 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sku(s: &str) -> SkuCode {
        SkuCode::parse(s).unwrap()
    }
    fn quote(s: &str, fen: i64, v: i64) -> Quote {
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        Quote {
            sku_code: sku(s),
            at: t,
            unit_price: Fen::new(fen),
            list_price: Fen::new(fen),
            member_price: None,
            price_version: v,
            effective_at: t,
        }
    }
    fn q(n: i64) -> Quantity {
        Quantity::new(n).unwrap()
    }

    #[test]
    fn each_fulfilment_has_its_path_to_completion() {
        use OrderAction as A;
        use OrderStatus as S;
        let walk = |f: Fulfilment, actions: &[A]| actions.iter().try_fold(S::Placed, |s, a| next_status(f, s, *a));
        assert_eq!(walk(Fulfilment::Delivery, &[A::Reserve, A::Pay, A::Fulfil, A::Ship, A::Complete]).unwrap(), S::Completed);
        assert_eq!(walk(Fulfilment::EndlessAisle, &[A::Reserve, A::Pay, A::Fulfil, A::Ship, A::Complete]).unwrap(), S::Completed);
        assert_eq!(walk(Fulfilment::Pickup, &[A::Reserve, A::Pay, A::Fulfil, A::MarkReady, A::HandOver]).unwrap(), S::Completed);
        assert_eq!(walk(Fulfilment::CarryOut, &[A::Reserve, A::Pay, A::Complete]).unwrap(), S::Completed);
    }

    #[test]
    fn illegal_transitions_are_conflicts() {
        use OrderAction as A;
        use OrderStatus as S;
        assert_eq!(next_status(Fulfilment::Delivery, S::Cancelled, A::Pay).unwrap_err().code, "illegal_transition");
        assert_eq!(next_status(Fulfilment::Delivery, S::Shipped, A::Cancel).unwrap_err().code, "illegal_transition");
        assert_eq!(next_status(Fulfilment::Pickup, S::Fulfilling, A::Ship).unwrap_err().code, "illegal_transition");
        assert_eq!(next_status(Fulfilment::CarryOut, S::Paid, A::Fulfil).unwrap_err().code, "illegal_transition");
        assert_eq!(next_status(Fulfilment::Delivery, S::Paid, A::Expire).unwrap_err().code, "illegal_transition");
        assert_eq!(next_status(Fulfilment::Delivery, S::Paid, A::Cancel).unwrap(), S::Cancelled);
    }

    #[test]
    fn redemption_spreads_over_lines_and_sums_exactly() {
        let lines = [(sku("A"), q(1)), (sku("B"), q(2))];
        let priced = price_lines(&lines, &[quote("A", 10_000, 1), quote("B", 4_999, 3)], 1_001, &PointsRule::default()).unwrap();
        assert_eq!(priced.iter().map(|l| l.points_redeemed).sum::<i64>(), 1_001);
        assert_eq!(priced.iter().map(|l| l.paid.get()).sum::<i64>(), 10_000 + 9_998 - 1_001);
        assert_eq!(priced[1].price_version, 3);
        let e = price_lines(&lines, &[quote("A", 100, 1), quote("B", 100, 1)], 301, &PointsRule::default()).unwrap_err();
        assert_eq!(e.code, "redemption_exceeds_total");
    }

    #[test]
    fn returns_are_bounded_by_what_was_bought_and_the_window() {
        let t = Timestamp::from_second(1_800_000_000).unwrap();
        let lines = price_lines(&[(sku("A"), q(3))], &[quote("A", 1_000, 1)], 100, &PointsRule::default()).unwrap();
        let plan = plan_return(&lines, Some(t), 7, t, &[(1, q(2), false)]).unwrap();
        assert_eq!(plan[0].refund, Fen::new(1_933));
        assert_eq!(plan_return(&lines, Some(t), 7, t, &[(1, q(4), false)]).unwrap_err().code, "return_exceeds_purchase");
        assert_eq!(plan_return(&lines, Some(t), 7, t, &[(1, q(1), false), (1, q(1), true)]).unwrap_err().code, "duplicate_line");
        assert_eq!(plan_return(&lines, Some(t), 7, t, &[(9, q(1), false)]).unwrap_err().code, "unknown_line");
        let late = t.checked_add(SignedDuration::from_hours(24 * 7 + 1)).unwrap();
        assert_eq!(plan_return(&lines, Some(t), 7, late, &[(1, q(1), false)]).unwrap_err().code, "return_window_closed");
        assert_eq!(plan_return(&lines, None, 7, t, &[(1, q(1), false)]).unwrap_err().code, "order_not_returnable");
    }

    proptest! {
        /// Returning a line in any split refunds exactly what it cost and restores exactly its points.
        #[test]
        fn piecewise_returns_refund_the_line_exactly(qty in 1i64..20, price in 1i64..100_000, pts in 0i64..1_000, cuts in prop::collection::vec(1i64..5, 1..20)) {
            let t = Timestamp::from_second(1_800_000_000).unwrap();
            let pts = pts.min(price * qty);
            let mut lines = price_lines(&[(sku("A"), q(qty))], &[quote("A", price, 1)], pts, &PointsRule::default()).unwrap();
            let (mut refund, mut restored) = (0, 0);
            for c in cuts {
                let left = lines[0].quantity.get() - lines[0].returned_quantity;
                if left == 0 { break; }
                let n = c.min(left);
                let plan = plan_return(&lines, Some(t), 7, t, &[(1, q(n), false)]).unwrap();
                refund += plan[0].refund.get();
                restored += plan[0].points_restored;
                lines[0].returned_quantity += n;
            }
            if lines[0].returned_quantity == qty {
                prop_assert_eq!(refund, lines[0].paid.get());
                prop_assert_eq!(restored, lines[0].points_redeemed);
            } else {
                prop_assert!(refund <= lines[0].paid.get());
            }
        }

        #[test]
        fn reversed_points_never_exceed_what_was_earned(earned in 0i64..10_000, paid in 1i64..1_000_000, parts in prop::collection::vec(0i64..400_000, 1..10)) {
            let mut before = 0;
            let mut total = 0;
            for p in parts {
                let now = p.min(paid - before);
                total += points_to_reverse(earned, Fen::new(paid), Fen::new(before), Fen::new(now));
                before += now;
            }
            prop_assert!(total <= earned);
            if before == paid { prop_assert_eq!(total, earned); }
        }
    }
}
