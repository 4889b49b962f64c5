//! What an order looks like to the API and to the domain: records, filters, inputs.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use tongjia_domain::codes::{LocationCode, SkuCode};
use tongjia_domain::customer::Mobile;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::location::GeoPoint;
use tongjia_domain::orders::{Fulfilment, OrderLine, OrderStatus};
use tongjia_domain::pricing::Channel;
use tongjia_domain::{DomainError, Fen};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult, parse};
use crate::ts;

/// Where a delivery goes: a point, or a county-level division code.
#[derive(Debug, Clone)]
pub enum Destination {
    Point(GeoPoint),
    County(String),
}

/// A new order, as the API hands it over (already parsed into domain values).
#[derive(Debug, Clone)]
pub struct NewOrder {
    pub channel: Channel,
    pub fulfilment: Fulfilment,
    pub customer: Option<Mobile>,
    pub lines: Vec<(SkuCode, Quantity)>,
    pub destination: Option<Destination>,
    pub pickup_store: Option<LocationCode>,
    pub redeem_points: i64,
}

/// Units of a line held at a location for an order.
#[derive(Debug, Clone, Serialize)]
pub struct AllocationRecord {
    #[serde(skip)]
    pub id: Uuid,
    pub line_no: i64,
    pub location_code: String,
    pub owner: String,
    pub quantity: i64,
    pub reservation_id: Option<Uuid>,
    pub transfer_id: Option<Uuid>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PaymentRecord {
    pub id: Uuid,
    /// `payment` or `refund`.
    pub kind: String,
    #[serde(rename = "amount_fen")]
    pub amount: Fen,
    pub external_reference: String,
    pub method: String,
    pub recorded_at: Timestamp,
    /// `settled`, or `pending`: an online refund its provider has not yet accepted.
    pub state: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ReturnRecord {
    pub id: Uuid,
    pub store_code: String,
    #[serde(rename = "refund_fen")]
    pub refund: Fen,
    pub points_restored: i64,
    pub points_reversed: i64,
    pub lines: Vec<(i64, i64, bool, Fen)>,
    pub recorded_at: Timestamp,
}

/// An order with everything that happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct OrderRecord {
    pub id: Uuid,
    pub channel: String,
    pub store_code: Option<String>,
    pub fulfilment: Fulfilment,
    pub status: OrderStatus,
    pub customer_mobile: Option<String>,
    pub pickup_store_code: Option<String>,
    /// Given to the shopper at placement; never shown again.
    #[serde(skip)]
    pub pickup_code: Option<String>,
    /// Wrong pickup codes tried so far.
    #[serde(skip)]
    pub pickup_attempts: i64,
    pub destination: Option<GeoPoint>,
    pub destination_county_code: Option<String>,
    pub sourcing: Option<serde_json::Value>,
    #[serde(rename = "subtotal_fen")]
    pub subtotal: Fen,
    #[serde(rename = "discount_fen")]
    pub discount: Fen,
    #[serde(rename = "total_fen")]
    pub total: Fen,
    pub points_redeemed: i64,
    pub points_earned: i64,
    #[serde(rename = "paid_fen")]
    pub paid: Fen,
    #[serde(rename = "refunded_fen")]
    pub refunded: Fen,
    pub points_reversed: i64,
    pub expires_at: Timestamp,
    pub placed_at: Timestamp,
    pub paid_at: Option<Timestamp>,
    pub fulfilled_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
    pub cancelled_at: Option<Timestamp>,
    pub lines: Vec<OrderLine>,
    pub allocations: Vec<AllocationRecord>,
    pub payments: Vec<PaymentRecord>,
    pub returns: Vec<ReturnRecord>,
}

/// A member's account.
#[derive(Debug, Clone, Serialize)]
pub struct CustomerRecord {
    pub mobile: String,
    pub points_balance: i64,
    pub order_count: i64,
    pub created_at: Timestamp,
}

/// One change to a points balance.
#[derive(Debug, Clone, Serialize)]
pub struct PointsEntry {
    pub seq: i64,
    pub order_id: Option<String>,
    pub delta: i64,
    pub reason: String,
    pub recorded_at: Timestamp,
}

/// Filters for listing orders; all optional.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub customer: Option<Mobile>,
    /// Orders placed at this store.
    pub store_code: Option<String>,
    /// Pickups at this store.
    pub pickup_store_code: Option<String>,
    pub status: Option<OrderStatus>,
}

/// A payment as the API hands it over.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub amount: Fen,
    pub external_reference: String,
    pub method: String,
}

pub(crate) fn opt_ts(v: Option<i64>) -> StoreResult<Option<Timestamp>> {
    v.map(ts).transpose()
}

pub(crate) fn order_not_found(id: Uuid) -> StoreError {
    DomainError::not_found("order_not_found", format!("no order {id}")).into()
}

pub(crate) fn order_from_row(r: &AnyRow) -> StoreResult<OrderRecord> {
    let channel: String = r.try_get("channel")?;
    let store_code: Option<String> = r.try_get("store_code")?;
    let lon: Option<f64> = r.try_get("destination_longitude")?;
    let lat: Option<f64> = r.try_get("destination_latitude")?;
    let sourcing: Option<String> = r.try_get("sourcing")?;
    Ok(OrderRecord {
        id: Uuid::parse_str(r.try_get("id")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        channel: match &store_code {
            Some(s) if channel == "store" => format!("store:{s}"),
            _ => channel,
        },
        store_code,
        fulfilment: parse(Fulfilment::parse(r.try_get("fulfilment")?))?,
        status: parse(OrderStatus::parse(r.try_get("status")?))?,
        customer_mobile: r.try_get("customer_mobile")?,
        pickup_store_code: r.try_get("pickup_store_code")?,
        pickup_code: r.try_get("pickup_code")?,
        pickup_attempts: r.try_get("pickup_attempts")?,
        destination: lon.zip(lat).map(|(longitude, latitude)| GeoPoint { longitude, latitude }),
        destination_county_code: r.try_get("destination_county_code")?,
        sourcing: sourcing.and_then(|s| serde_json::from_str(&s).ok()),
        subtotal: Fen::new(r.try_get("subtotal_fen")?),
        discount: Fen::new(r.try_get("discount_fen")?),
        total: Fen::new(r.try_get("total_fen")?),
        points_redeemed: r.try_get("points_redeemed")?,
        points_earned: r.try_get("points_earned")?,
        paid: Fen::new(r.try_get("paid_fen")?),
        refunded: Fen::new(r.try_get("refunded_fen")?),
        points_reversed: r.try_get("points_reversed")?,
        expires_at: ts(r.try_get("expires_at_us")?)?,
        placed_at: ts(r.try_get("placed_at_us")?)?,
        paid_at: opt_ts(r.try_get("paid_at_us")?)?,
        fulfilled_at: opt_ts(r.try_get("fulfilled_at_us")?)?,
        completed_at: opt_ts(r.try_get("completed_at_us")?)?,
        cancelled_at: opt_ts(r.try_get("cancelled_at_us")?)?,
        lines: vec![],
        allocations: vec![],
        payments: vec![],
        returns: vec![],
    })
}
