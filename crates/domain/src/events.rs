//! Every fact the engine publishes: one [`EventType`] per fact, the outbox's and the event
//! stream's one vocabulary (the SSE stream is a public API: `docs/events.md` lists every type
//! with its payload, and a test keeps the list complete). Payloads the order flow owns are
//! typed here ([`OrderMoved`], [`OrderRefunded`], [`OrderReturned`], [`PointsChanged`]).

use serde::{Serialize, Serializer};
use uuid::Uuid;

use crate::codes::LocationCode;
use crate::money::Fen;
use crate::orders::{OrderAction, OrderStatus, ReturnLine};

macro_rules! event_types {
    ($($variant:ident => $name:literal,)+) => {
        /// The type of a published event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventType { $($variant,)+ }
        impl EventType {
            /// Every event type, in catalogue order.
            pub const ALL: &'static [EventType] = &[$(EventType::$variant,)+];
            /// The name consumers filter and subscribe on (`?event_type=`).
            pub fn as_str(self) -> &'static str {
                match self { $(EventType::$variant => $name,)+ }
            }
            /// An event type by its name; an unknown name is refused (`invalid_event_type`).
            pub fn parse(raw: &str) -> $crate::error::DomainResult<Self> {
                Self::ALL.iter().copied().find(|t| t.as_str() == raw).ok_or_else(|| {
                    $crate::error::DomainError::invalid("event_type", "invalid_event_type", format!("'{raw}' is not an event type (docs/events.md lists them)"))
                })
            }
        }
    };
}

event_types! {
    ProductCreated => "product.created",
    SkuCreated => "sku.created",
    SkuUpdated => "sku.updated",
    CatalogImported => "catalog.imported",
    PriceScheduled => "price.scheduled",
    PartnerCreated => "partner.created",
    LocationCreated => "location.created",
    LocationUpdated => "location.updated",
    LocationsImported => "locations.imported",
    StockReceived => "stock.received",
    StockAdjusted => "stock.adjusted",
    StockCounted => "stock.counted",
    StockSold => "stock.sold",
    StockReturned => "stock.returned",
    StockReturnedDamaged => "stock.returned_damaged",
    StockDamagedDisposed => "stock.damaged_disposed",
    StockReserved => "stock.reserved",
    StockReservationExtended => "stock.reservation_extended",
    StockReleased => "stock.released",
    StockReservationExpired => "stock.reservation_expired",
    StockCommitted => "stock.committed",
    StockTransferShipped => "stock.transfer_shipped",
    StockTransferReceived => "stock.transfer_received",
    StockSafetyStockSet => "stock.safety_stock_set",
    StockLoaded => "stock.loaded",
    OrderPlaced => "order.placed",
    OrderReserved => "order.reserved",
    OrderPaid => "order.paid",
    OrderFulfilling => "order.fulfilling",
    OrderShipped => "order.shipped",
    OrderReadyForPickup => "order.ready_for_pickup",
    OrderCompleted => "order.completed",
    OrderCancelled => "order.cancelled",
    OrderRefunded => "order.refunded",
    OrderReturned => "order.returned",
    PointsChanged => "points.changed",
}

impl EventType {
    /// `order.<status>`: the event an order publishes on reaching `status`.
    pub fn order_moved(status: OrderStatus) -> EventType {
        match status {
            OrderStatus::Placed => EventType::OrderPlaced,
            OrderStatus::Reserved => EventType::OrderReserved,
            OrderStatus::Paid => EventType::OrderPaid,
            OrderStatus::Fulfilling => EventType::OrderFulfilling,
            OrderStatus::Shipped => EventType::OrderShipped,
            OrderStatus::ReadyForPickup => EventType::OrderReadyForPickup,
            OrderStatus::Completed => EventType::OrderCompleted,
            OrderStatus::Cancelled => EventType::OrderCancelled,
        }
    }
}

/// Who an event is for, beyond headquarters (which sees every event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The catalogue, the price book and the store network: public facts, for every
    /// signed-in subscriber (a till follows every price change).
    Everyone,
    /// Stock at, or an order touching, the locations the event names (`locations`, the
    /// stock entries' `location_code`s): for the staff and the partner of those locations.
    Locations,
}

impl EventType {
    /// Who this type of event is for.
    pub fn audience(self) -> Audience {
        let name = self.as_str();
        if name.starts_with("stock.") || name.starts_with("order.") || name.starts_with("points.") {
            Audience::Locations
        } else {
            Audience::Everyone
        }
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for EventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// `order.<status>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderMoved {
    pub order_id: Uuid,
    pub status: OrderStatus,
    pub action: OrderAction,
    /// The locations the order touches (its store, pickup store, stock locations): whose
    /// subscribers see the event.
    pub locations: Vec<LocationCode>,
}

/// `order.refunded`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderRefunded {
    pub order_id: Uuid,
    #[serde(rename = "amount_fen")]
    pub amount: Fen,
    pub why: String,
    /// The payment's method or provider the refund goes back to.
    pub method: String,
    /// The locations the order touches.
    pub locations: Vec<LocationCode>,
}

/// `order.returned`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderReturned {
    pub order_id: Uuid,
    pub return_id: Uuid,
    pub store_code: LocationCode,
    pub lines: Vec<ReturnLine>,
    /// The locations the order touches.
    pub locations: Vec<LocationCode>,
}

/// `points.changed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PointsChanged {
    pub mobile: String,
    pub order_id: Uuid,
    pub delta: i64,
    pub reason: String,
    /// The locations the order touches.
    pub locations: Vec<LocationCode>,
}

/// `catalog.imported`: how many SKUs one import wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CatalogImported {
    pub skus: usize,
}

/// `locations.imported`: how many locations one import wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LocationsImported {
    pub locations: usize,
}

/// `stock.loaded`: opening stock loaded in bulk onto positions that held nothing (a large
/// demo network): one event per batch instead of a `stock.received` per position. A consumer
/// that keeps balances reads the listed locations' balances again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StockLoaded {
    /// The locations whose positions the batch created, in code order.
    pub locations: Vec<LocationCode>,
    /// Positions created.
    pub positions: usize,
    /// Units received across them.
    pub units: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_in_the_public_catalogue() {
        let catalogue = include_str!("../../../docs/events.md");
        for t in EventType::ALL {
            assert!(catalogue.contains(&format!("`{}`", t.as_str())), "docs/events.md does not describe {}", t.as_str());
        }
        for status in OrderStatus::ALL {
            assert!(EventType::ALL.contains(&EventType::order_moved(status)));
        }
    }
}
