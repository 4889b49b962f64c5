//! How money arrives and leaves an order. A payment is never claimed: it is either taken at
//! a till (cash or a card terminal, recorded by the store's staff) or confirmed by an online
//! provider's signed notification. A refund goes back the way the money came: a counter
//! refund is paid out there and then; an online refund is `pending` until the provider that
//! took the payment has accepted it.

use jiff::Timestamp;
use uuid::Uuid;

use crate::Fen;

/// Methods a till records itself: the money is in its drawer or on its card terminal.
pub const COUNTER_METHODS: [&str; 2] = ["cash", "card"];

/// How far a notification's signed time may lie from the server's clock, either way; an
/// older one is refused, so a captured notification cannot be replayed later.
pub const NOTIFICATION_TOLERANCE_SECS: i64 = 300;

/// A payment or a refund that is done.
pub const SETTLED: &str = "settled";
/// An online refund the provider has not yet accepted.
pub const PENDING: &str = "pending";

/// Whether `method` is taken at a till rather than through an online provider.
pub fn is_counter(method: &str) -> bool {
    COUNTER_METHODS.contains(&method)
}

/// The state a new refund to `method` starts in.
pub fn refund_state(method: &str) -> &'static str {
    if is_counter(method) { SETTLED } else { PENDING }
}

/// A provider's word, after its signature was verified, that it took a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The provider's own id of the transaction: a notification repeated with it has one effect.
    pub transaction_id: String,
    pub order_id: Uuid,
    pub amount: Fen,
}

/// Why a notification is not believed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationRefusal {
    /// The signature does not match the body under the provider's secret or key.
    BadSignature,
    /// Signed too long ago (or in the future): a replay, or a clock far off.
    Stale,
    /// Signed, but not a notification this server understands.
    Malformed(String),
}

/// Checks a notification's signed time against the server's clock.
pub fn check_fresh(signed_at: Timestamp, now: Timestamp) -> Result<(), NotificationRefusal> {
    let apart = (now.as_second() - signed_at.as_second()).abs();
    if apart > NOTIFICATION_TOLERANCE_SECS { Err(NotificationRefusal::Stale) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_refunds_settle_at_once_and_online_ones_wait_for_their_provider() {
        assert_eq!(refund_state("cash"), SETTLED);
        assert_eq!(refund_state("card"), SETTLED);
        assert_eq!(refund_state("simulator"), PENDING);
        assert!(!is_counter("wechat_pay"));
    }

    #[test]
    fn a_notification_is_fresh_for_five_minutes_either_way() {
        let now = Timestamp::from_second(1_800_000_000).unwrap();
        let at = |s: i64| Timestamp::from_second(1_800_000_000 + s).unwrap();
        assert!(check_fresh(at(-300), now).is_ok() && check_fresh(at(300), now).is_ok());
        assert_eq!(check_fresh(at(-301), now), Err(NotificationRefusal::Stale));
        assert_eq!(check_fresh(at(301), now), Err(NotificationRefusal::Stale));
    }
}
