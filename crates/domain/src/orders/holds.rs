//! Stock held for an order: who may move it, and what happens when its time is up.
//!
//! An unpaid order holds its stock for the order hold; once paid, for as long as it awaits
//! fulfilment. A paid order's hold is never expired: when its time comes it is renewed for
//! another paid hold ([`when_due`]), and fulfilment refuses a hold that is not active instead
//! of skipping it ([`fulfil_holds`]).

use jiff::{SignedDuration, Timestamp};
use uuid::Uuid;

use super::{OrderPolicy, OrderStatus};
use crate::error::{DomainError, DomainResult};
use crate::ledger::{Reservation, ReservationStatus, StockCommand};

/// The order a reservation is held for, as storage found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrderHold {
    pub order_id: Uuid,
    pub status: OrderStatus,
}

/// Whether a stock command from outside the order flow (the stock API, an expiry) may act on
/// a reservation or transfer that belongs to the order `hold`: an order's hold is released,
/// committed and extended only by the order's own actions, and never expired while the order
/// is paid; goods in transit for a paid order are received only by the order (marking it
/// ready receives them and holds them for it), never as free stock someone else could take.
pub fn check_outside_command(cmd: &StockCommand, hold: Option<&OrderHold>) -> DomainResult<()> {
    let Some(hold) = hold else { return Ok(()) };
    match cmd {
        StockCommand::TransferIn { transfer_id } if hold.status.awaits_fulfilment() => Err(DomainError::conflict(
            "transfer_belongs_to_order",
            format!(
                "transfer {transfer_id} carries goods for paid order {}: mark the order ready to receive them and hold them for it",
                hold.order_id
            ),
        )),
        StockCommand::Release { reservation_id }
        | StockCommand::Commit { reservation_id, .. }
        | StockCommand::Extend { reservation_id, .. } => Err(DomainError::conflict(
            "reservation_belongs_to_order",
            format!("reservation {reservation_id} holds stock for order {}: act on the order", hold.order_id),
        )),
        StockCommand::Expire { reservation_id } if hold.status.awaits_fulfilment() => Err(DomainError::conflict(
            "reservation_held_for_paid_order",
            format!(
                "reservation {reservation_id} holds stock for paid order {}: it is kept until the order is fulfilled or cancelled",
                hold.order_id
            ),
        )),
        _ => Ok(()),
    }
}

/// Until when a paid order's stock is held from `now`.
pub fn paid_hold_until(policy: &OrderPolicy, now: Timestamp) -> Timestamp {
    now.checked_add(SignedDuration::from_secs(policy.paid_hold_seconds)).unwrap_or(now)
}

/// What the sweeper does with a reservation whose time is up at `now`: nothing if it is no
/// longer active or not yet due; a renewal for a paid order awaiting fulfilment; otherwise
/// an expiry.
pub fn when_due(reservation: &Reservation, hold: Option<&OrderHold>, policy: &OrderPolicy, now: Timestamp) -> Option<StockCommand> {
    if reservation.status != ReservationStatus::Active || now < reservation.expires_at {
        return None;
    }
    Some(match hold {
        Some(h) if h.status.awaits_fulfilment() => {
            StockCommand::Extend { reservation_id: reservation.id, expires_at: paid_hold_until(policy, now) }
        }
        _ => StockCommand::Expire { reservation_id: reservation.id },
    })
}

/// Refuses an order action whose holds are not all active: the goods are no longer held.
fn check_held(order_id: Uuid, holds: &[Reservation]) -> DomainResult<()> {
    match holds.iter().find(|r| r.status != ReservationStatus::Active) {
        Some(r) => Err(DomainError::conflict(
            "order_hold_lost",
            format!(
                "order {order_id}: the hold {} on {} at {} is {}, so its goods are no longer held for it",
                r.id,
                r.key.sku_code,
                r.key.location_code,
                r.status.as_str()
            ),
        )),
        None => Ok(()),
    }
}

/// The stock commands that keep an order's holds once it is paid: each extended to the paid
/// hold. A hold that is no longer active is refused.
pub fn keep_holds_for_payment(
    order_id: Uuid,
    holds: &[Reservation],
    policy: &OrderPolicy,
    now: Timestamp,
) -> DomainResult<Vec<StockCommand>> {
    check_held(order_id, holds)?;
    let until = paid_hold_until(policy, now);
    Ok(holds.iter().filter(|r| r.expires_at < until).map(|r| StockCommand::Extend { reservation_id: r.id, expires_at: until }).collect())
}

/// The stock commands that turn an order's holds into sales when the goods leave: a commit
/// per hold, after a renewal for one whose time has passed unswept. A hold that is no longer
/// active is refused, never skipped.
pub fn fulfil_holds(order_id: Uuid, holds: &[Reservation], policy: &OrderPolicy, now: Timestamp) -> DomainResult<Vec<StockCommand>> {
    check_held(order_id, holds)?;
    let reference = Some(format!("order {order_id}"));
    let mut out = vec![];
    for r in holds {
        if now >= r.expires_at {
            out.push(StockCommand::Extend { reservation_id: r.id, expires_at: paid_hold_until(policy, now) });
        }
        out.push(StockCommand::Commit { reservation_id: r.id, reference: reference.clone() });
    }
    Ok(out)
}

/// The stock commands that give an order's holds back on cancellation: a release of each one
/// still active (one an expiry already ended has nothing left to give back).
pub fn release_holds(holds: &[Reservation]) -> Vec<StockCommand> {
    holds.iter().filter(|r| r.status == ReservationStatus::Active).map(|r| StockCommand::Release { reservation_id: r.id }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{LocationCode, Owner, SkuCode};
    use crate::ledger::{Quantity, StockKey};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + s).unwrap()
    }
    fn hold(status: ReservationStatus, expires: i64) -> Reservation {
        Reservation {
            id: Uuid::from_u128(7),
            key: StockKey {
                location_code: LocationCode::parse("WH").unwrap(),
                sku_code: SkuCode::parse("A").unwrap(),
                owner: Owner::Brand,
            },
            quantity: Quantity::new(1).unwrap(),
            expires_at: ts(expires),
            status,
            reference: None,
        }
    }
    fn order(status: OrderStatus) -> OrderHold {
        OrderHold { order_id: Uuid::from_u128(1), status }
    }

    #[test]
    fn goods_in_transit_for_a_paid_order_are_received_only_by_it() {
        let receive = StockCommand::TransferIn { transfer_id: Uuid::from_u128(9) };
        for status in [OrderStatus::Paid, OrderStatus::Fulfilling, OrderStatus::ReadyForPickup] {
            assert_eq!(check_outside_command(&receive, Some(&order(status))).unwrap_err().code, "transfer_belongs_to_order");
        }
        for status in [OrderStatus::Cancelled, OrderStatus::Completed] {
            assert!(check_outside_command(&receive, Some(&order(status))).is_ok(), "{status:?}: the goods are the store's");
        }
        assert!(check_outside_command(&receive, None).is_ok());
    }

    #[test]
    fn a_paid_orders_hold_is_renewed_never_expired() {
        let policy = OrderPolicy::default();
        let r = hold(ReservationStatus::Active, 60);
        for status in [OrderStatus::Paid, OrderStatus::Fulfilling, OrderStatus::ReadyForPickup] {
            let cmd = when_due(&r, Some(&order(status)), &policy, ts(61)).unwrap();
            assert_eq!(cmd, StockCommand::Extend { reservation_id: r.id, expires_at: paid_hold_until(&policy, ts(61)) });
            let expire = StockCommand::Expire { reservation_id: r.id };
            assert_eq!(check_outside_command(&expire, Some(&order(status))).unwrap_err().code, "reservation_held_for_paid_order");
        }
        for status in [OrderStatus::Placed, OrderStatus::Reserved, OrderStatus::Cancelled] {
            assert_eq!(when_due(&r, Some(&order(status)), &policy, ts(61)), Some(StockCommand::Expire { reservation_id: r.id }));
        }
        assert_eq!(when_due(&r, None, &policy, ts(60)), Some(StockCommand::Expire { reservation_id: r.id }));
        assert_eq!(when_due(&r, None, &policy, ts(59)), None, "not yet due");
        assert_eq!(when_due(&hold(ReservationStatus::Committed, 0), None, &policy, ts(61)), None);
    }

    #[test]
    fn an_orders_hold_moves_only_with_the_order() {
        let id = Uuid::from_u128(7);
        for cmd in [
            StockCommand::Release { reservation_id: id },
            StockCommand::Commit { reservation_id: id, reference: None },
            StockCommand::Extend { reservation_id: id, expires_at: ts(1) },
        ] {
            assert_eq!(check_outside_command(&cmd, Some(&order(OrderStatus::Reserved))).unwrap_err().code, "reservation_belongs_to_order");
            check_outside_command(&cmd, None).unwrap();
        }
        check_outside_command(&StockCommand::Expire { reservation_id: id }, Some(&order(OrderStatus::Reserved))).unwrap();
    }

    #[test]
    fn fulfilment_refuses_a_lost_hold_and_renews_a_lapsed_one() {
        let policy = OrderPolicy::default();
        let lost = [hold(ReservationStatus::Active, 60), hold(ReservationStatus::Expired, 60)];
        assert_eq!(fulfil_holds(Uuid::nil(), &lost, &policy, ts(0)).unwrap_err().code, "order_hold_lost");
        assert_eq!(keep_holds_for_payment(Uuid::nil(), &lost, &policy, ts(0)).unwrap_err().code, "order_hold_lost");
        let live = [hold(ReservationStatus::Active, 60)];
        assert_eq!(fulfil_holds(Uuid::nil(), &live, &policy, ts(0)).unwrap().len(), 1);
        let lapsed = fulfil_holds(Uuid::nil(), &live, &policy, ts(60)).unwrap();
        assert!(matches!(lapsed[..], [StockCommand::Extend { .. }, StockCommand::Commit { .. }]));
        let kept = keep_holds_for_payment(Uuid::nil(), &live, &policy, ts(10)).unwrap();
        assert_eq!(kept, vec![StockCommand::Extend { reservation_id: live[0].id, expires_at: paid_hold_until(&policy, ts(10)) }]);
    }
}
