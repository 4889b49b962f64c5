//! Payment providers: where online payments are confirmed and refunds go back. A provider
//! verifies its own notifications (signature, freshness) and takes refunds; the order flow
//! decides everything else (the amount against the order, the state it may be paid in).
//! The demo and the tests use the [`simulator`]; a real deployment adds its WeChat Pay or
//! Alipay provider behind the same trait (see `docs/payments.md`).

pub mod refunds;
pub mod simulator;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use jiff::Timestamp;
use tongjia_domain::payments::{Notification, NotificationRefusal};
use tongjia_storage::PendingRefund;

/// One online payment provider.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Checks a notification (its headers and its raw body, exactly as received) and
    /// returns what it says the provider took. Nothing is believed before this.
    fn verify(&self, headers: &HeaderMap, body: &[u8], now: Timestamp) -> Result<Notification, NotificationRefusal>;

    /// Asks the provider to pay `refund` back against the payment it took. Called again
    /// after a failure or a restart, so it must be idempotent on `refund.id` (the provider's
    /// refund number). `Err` leaves the refund pending, to be tried again.
    fn refund(&self, refund: &PendingRefund) -> Result<(), String>;

    /// Pays `amount` for `order_id` as a shopper at the provider's own checkout would, and
    /// returns the notification the provider then sends (headers and body). Only a demo
    /// provider can: a real one's checkout is its own app or page, and its notification
    /// arrives on its own. The notification is verified like any other.
    fn shopper_checkout(&self, _order_id: uuid::Uuid, _amount: tongjia_domain::Fen) -> Option<(HeaderMap, Vec<u8>)> {
        None
    }
}

/// The providers a server accepts, by the name in their notification URL
/// (`/api/v1/payment-notifications/{name}`), which is also the payment's method.
#[derive(Debug, Clone, Default)]
pub struct Providers(BTreeMap<String, Arc<dyn PaymentProvider>>);

impl Providers {
    /// Adds (or replaces) the provider `name`.
    pub fn with(mut self, name: &str, provider: Arc<dyn PaymentProvider>) -> Self {
        self.0.insert(name.to_owned(), provider);
        self
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn PaymentProvider>> {
        self.0.get(name)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}
