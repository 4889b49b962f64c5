//! Customers and orders: every order action is one transaction that moves the order along
//! its lifecycle (`orders::next_status`), runs the stock commands it implies through the
//! ledger's entry point, moves points, and publishes its events.

use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::BTreeMap;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::customer::Mobile;
use tongjia_domain::ledger::{Quantity, RESERVATION_TTL_SECONDS_MAX, Reservation, StockCommand, StockKey};
use tongjia_domain::location::{GeoPoint, LocationKind, LocationStatus};
use tongjia_domain::orders::{
    Fulfilment, OrderAction, OrderLine, OrderPolicy, OrderStatus, check_shape, fulfil_holds, keep_holds_for_payment, next_status,
    paid_hold_until, pickup_code, plan_return, points_to_reverse, price_lines, release_holds,
};
use tongjia_domain::pricing::{Channel, quote};
use tongjia_domain::sourcing::{Candidate, NearestSingleThenFewest, Network, SourcingDecision, SourcingRequest, SourcingStrategy};
use tongjia_domain::{DomainError, Fen};
use uuid::Uuid;

use crate::error::{StoreError, StoreResult, parse};
use crate::page::{Page, PageRequest};
use crate::stock::{execute_in, load_reservation};
use crate::tx::{Idem, WriteTx};
use crate::{Db, ts, us};

/// Wrong pickup codes allowed before a handover locks.
pub const PICKUP_ATTEMPTS_MAX: i64 = 5;

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

fn opt_ts(v: Option<i64>) -> StoreResult<Option<Timestamp>> {
    v.map(ts).transpose()
}

fn order_not_found(id: Uuid) -> StoreError {
    DomainError::not_found("order_not_found", format!("no order {id}")).into()
}

async fn load_order(conn: &mut AnyConnection, id: Uuid) -> StoreResult<Option<OrderRecord>> {
    let Some(r) = sqlx::query("SELECT * FROM orders WHERE id = $1").bind(id.to_string()).fetch_optional(&mut *conn).await? else {
        return Ok(None);
    };
    let mut order = order_from_row(&r)?;
    let lines =
        sqlx::query("SELECT * FROM order_lines WHERE order_id = $1 ORDER BY line_no").bind(id.to_string()).fetch_all(&mut *conn).await?;
    order.lines = lines
        .iter()
        .map(|l| {
            Ok(OrderLine {
                line_no: l.try_get("line_no")?,
                sku_code: parse(SkuCode::parse(l.try_get("sku_code")?))?,
                quantity: parse(Quantity::new(l.try_get("quantity")?))?,
                unit_price: Fen::new(l.try_get("unit_price_fen")?),
                list_price: Fen::new(l.try_get("list_price_fen")?),
                price_version: l.try_get("price_version")?,
                points_redeemed: l.try_get("points_redeemed")?,
                discount: Fen::new(l.try_get("discount_fen")?),
                paid: Fen::new(l.try_get("paid_fen")?),
                returned_quantity: l.try_get("returned_quantity")?,
            })
        })
        .collect::<StoreResult<_>>()?;
    let allocations = sqlx::query("SELECT * FROM order_allocations WHERE order_id = $1 ORDER BY line_no, id")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    order.allocations = allocations
        .iter()
        .map(|a| {
            let uuid = |col: &str| -> StoreResult<Option<Uuid>> {
                let raw: Option<String> = a.try_get(col)?;
                raw.map(|s| Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
            };
            Ok(AllocationRecord {
                line_no: a.try_get("line_no")?,
                location_code: a.try_get("location_code")?,
                owner: a.try_get("owner")?,
                quantity: a.try_get("quantity")?,
                reservation_id: uuid("reservation_id")?,
                transfer_id: uuid("transfer_id")?,
            })
        })
        .collect::<StoreResult<_>>()?;
    let payments = sqlx::query("SELECT * FROM payments WHERE order_id = $1 ORDER BY recorded_at_us, id")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    order.payments = payments
        .iter()
        .map(|p| {
            Ok(PaymentRecord {
                id: Uuid::parse_str(p.try_get("id")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                kind: p.try_get("kind")?,
                amount: Fen::new(p.try_get("amount_fen")?),
                external_reference: p.try_get("external_reference")?,
                method: p.try_get("method")?,
                recorded_at: ts(p.try_get("recorded_at_us")?)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    let returns = sqlx::query("SELECT * FROM returns WHERE order_id = $1 ORDER BY recorded_at_us, id")
        .bind(id.to_string())
        .fetch_all(&mut *conn)
        .await?;
    for r in returns {
        let rid: String = r.try_get("id")?;
        let lines: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT line_no, quantity, CAST(damaged AS INTEGER), refund_fen FROM return_lines WHERE return_id = $1 ORDER BY line_no",
        )
        .bind(&rid)
        .fetch_all(&mut *conn)
        .await?;
        order.returns.push(ReturnRecord {
            id: Uuid::parse_str(&rid).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            store_code: r.try_get("store_code")?,
            refund: Fen::new(r.try_get("refund_fen")?),
            points_restored: r.try_get("points_restored")?,
            points_reversed: r.try_get("points_reversed")?,
            lines: lines.into_iter().map(|(l, q, d, f)| (l, q, d != 0, Fen::new(f))).collect(),
            recorded_at: ts(r.try_get("recorded_at_us")?)?,
        });
    }
    Ok(Some(order))
}

fn order_from_row(r: &AnyRow) -> StoreResult<OrderRecord> {
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

/// An open location that can take part in an order: (kind, status, pickup, ship_from_store, point).
async fn location_info(conn: &mut AnyConnection, code: &str) -> StoreResult<Option<(LocationKind, LocationStatus, bool, bool, GeoPoint)>> {
    let row: Option<(String, String, i64, i64, f64, f64)> =
        sqlx::query_as("SELECT kind, status, CAST(pickup AS INTEGER), CAST(ship_from_store AS INTEGER), longitude, latitude FROM locations WHERE code = $1")
            .bind(code)
            .fetch_optional(conn)
            .await?;
    row.map(|(k, s, p, sfs, lon, lat)| {
        Ok((
            parse(LocationKind::parse(&k))?,
            parse(LocationStatus::parse(&s))?,
            p != 0,
            sfs != 0,
            GeoPoint { longitude: lon, latitude: lat },
        ))
    })
    .transpose()
}

/// An open store, or the refusal naming `field`.
async fn open_store(conn: &mut AnyConnection, code: &LocationCode, field: &str) -> StoreResult<(bool, GeoPoint)> {
    match location_info(conn, code.as_str()).await? {
        Some((kind, LocationStatus::Open, pickup, _, point)) if kind.is_store() => Ok((pickup, point)),
        Some((kind, _, _, _, _)) if kind.is_store() => {
            Err(DomainError::rule("store_not_open", format!("store {code} is not open")).at(field).into())
        }
        _ => Err(DomainError::not_found("store_not_found", format!("no store {code}")).at(field).into()),
    }
}

/// The point of a division (county-level or township) from the reference map.
fn division_point(code: &str) -> StoreResult<GeoPoint> {
    crate::reference::divisions().point_of(code).ok_or_else(|| {
        DomainError::invalid("destination.county_code", "unknown_destination", format!("{code} is not a division code (NBS 2023)")).into()
    })
}

/// Which open locations may fulfil.
struct Pool<'a> {
    /// Only warehouses and stores that ship from store (deliveries); otherwise any open
    /// location (stock moved to a pickup store).
    ship_only: bool,
    /// A location left out (the ordering store of an endless-aisle order, the pickup store).
    except: Option<&'a str>,
}

/// Candidates holding any of `skus`, with what each can promise (net of reservations and
/// safety stock).
async fn candidates(conn: &mut AnyConnection, skus: &[SkuCode], pool: Pool<'_>) -> StoreResult<Vec<Candidate>> {
    let Pool { ship_only, except } = pool;
    let mut by_location: BTreeMap<String, Candidate> = BTreeMap::new();
    for sku in skus {
        let rows: Vec<(String, f64, f64, i64, i64)> = sqlx::query_as(
            "SELECT l.code, l.longitude, l.latitude, CAST(SUM(p.on_hand - p.reserved) AS BIGINT), COALESCE(MAX(s.quantity), 0) \
             FROM stock_positions p JOIN locations l ON l.code = p.location_code \
             LEFT JOIN safety_stock s ON s.location_code = p.location_code AND s.sku_code = p.sku_code \
             WHERE p.sku_code = $1 AND l.status = 'open' AND ($2 IS NULL OR l.code <> $3) \
             AND (NOT $4 OR l.kind = 'warehouse' OR l.ship_from_store) GROUP BY l.code, l.longitude, l.latitude",
        )
        .bind(sku.as_str())
        .bind(except)
        .bind(except)
        .bind(ship_only)
        .fetch_all(&mut *conn)
        .await?;
        for (code, lon, lat, free, safety) in rows {
            let available = free - safety;
            if available <= 0 {
                continue;
            }
            let c = match by_location.entry(code.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => v.insert(Candidate {
                    code: parse(LocationCode::parse(&code))?,
                    point: GeoPoint { longitude: lon, latitude: lat },
                    available: Default::default(),
                }),
            };
            c.available.insert(sku.clone(), available);
        }
    }
    Ok(by_location.into_values().collect())
}

/// Units per SKU over the order's lines.
fn wanted(lines: &[OrderLine]) -> Vec<(SkuCode, i64)> {
    let mut m: BTreeMap<SkuCode, i64> = BTreeMap::new();
    for l in lines {
        *m.entry(l.sku_code.clone()).or_default() += l.quantity.get();
    }
    m.into_iter().collect()
}

impl<T> WriteTx<'_, T> {
    /// Runs one stock command through the ledger's entry point and publishes its event.
    async fn stock(&mut self, cmd: StockCommand) -> StoreResult<tongjia_domain::ledger::Decision> {
        let now = self.now;
        let d = execute_in(self.conn(), &cmd, now).await?;
        let subject = d.entries.first().map_or_else(|| "stock".to_owned(), |e| format!("{}/{}", e.key.location_code, e.key.sku_code));
        self.emit(&d.event_type, &subject, &d).await?;
        Ok(d)
    }

    /// Reserves `quantity` of `sku` at `location` for an order line, owner by owner (the
    /// brand's goods first, then partners' by code), and records the allocations.
    async fn allocate(
        &mut self,
        order: Uuid,
        line_no: i64,
        location: &LocationCode,
        sku: &SkuCode,
        quantity: i64,
        expires_at: Timestamp,
    ) -> StoreResult<()> {
        let owners: Vec<(String, i64)> = sqlx::query_as(
            "SELECT owner, on_hand - reserved FROM stock_positions WHERE location_code = $1 AND sku_code = $2 AND on_hand > reserved \
             ORDER BY CASE WHEN owner = 'brand' THEN 0 ELSE 1 END, owner",
        )
        .bind(location.as_str())
        .bind(sku.as_str())
        .fetch_all(self.conn())
        .await?;
        let mut left = quantity;
        for (owner, free) in owners {
            if left == 0 {
                break;
            }
            let take = left.min(free);
            let reservation_id = Uuid::now_v7();
            let key = StockKey { location_code: location.clone(), sku_code: sku.clone(), owner: parse(Owner::parse(&owner))? };
            let reference = Some(format!("order {order}"));
            self.stock(StockCommand::Reserve { reservation_id, key, quantity: Quantity::new(take)?, expires_at, reference }).await?;
            sqlx::query("INSERT INTO order_allocations (id, order_id, line_no, location_code, owner, quantity, reservation_id) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(Uuid::now_v7().to_string())
                .bind(order.to_string())
                .bind(line_no)
                .bind(location.as_str())
                .bind(&owner)
                .bind(take)
                .bind(reservation_id.to_string())
                .execute(self.conn())
                .await?;
            left -= take;
        }
        if left > 0 {
            return Err(DomainError::rule("insufficient_stock", format!("{left} of {sku} short at {location}")).into());
        }
        Ok(())
    }

    /// Moves a customer's points, never below zero, with its reason.
    async fn points(&mut self, mobile: &str, order: Uuid, delta: i64, reason: &str) -> StoreResult<()> {
        if delta == 0 {
            return Ok(());
        }
        let balance: i64 =
            sqlx::query_scalar("SELECT points_balance FROM customers WHERE mobile = $1").bind(mobile).fetch_one(self.conn()).await?;
        if balance + delta < 0 {
            return Err(DomainError::rule("insufficient_points", format!("{} points held, {} wanted", balance, -delta))
                .at("redeem_points")
                .into());
        }
        sqlx::query("UPDATE customers SET points_balance = points_balance + $1 WHERE mobile = $2")
            .bind(delta)
            .bind(mobile)
            .execute(self.conn())
            .await?;
        sqlx::query("INSERT INTO points_entries (mobile, order_id, delta, reason, recorded_at_us) VALUES ($1, $2, $3, $4, $5)")
            .bind(mobile)
            .bind(order.to_string())
            .bind(delta)
            .bind(reason)
            .bind(us(self.now))
            .execute(self.conn())
            .await?;
        self.emit("points.changed", mobile, &serde_json::json!({ "mobile": mobile, "order_id": order, "delta": delta, "reason": reason }))
            .await
    }

    /// Loads an order for an action, refusing an unknown one.
    async fn order(&mut self, id: Uuid) -> StoreResult<OrderRecord> {
        load_order(self.conn(), id).await?.ok_or_else(|| order_not_found(id))
    }

    /// Applies a lifecycle action: checks it, stores the new status and publishes
    /// `order.<status>`.
    async fn transition(&mut self, order: &mut OrderRecord, action: OrderAction) -> StoreResult<()> {
        let to = next_status(order.fulfilment, order.status, action)?;
        let now = us(self.now);
        // A column is assigned once per UPDATE (PostgreSQL refuses it twice).
        let sql = match to {
            OrderStatus::Paid => "UPDATE orders SET status = $1, paid_at_us = $2, updated_at_us = $2 WHERE id = $3",
            OrderStatus::Completed => "UPDATE orders SET status = $1, completed_at_us = $2, updated_at_us = $2 WHERE id = $3",
            OrderStatus::Cancelled => "UPDATE orders SET status = $1, cancelled_at_us = $2, updated_at_us = $2 WHERE id = $3",
            _ => "UPDATE orders SET status = $1, updated_at_us = $2 WHERE id = $3",
        };
        sqlx::query(sql).bind(to.as_str()).bind(now).bind(order.id.to_string()).execute(self.conn()).await?;
        order.status = to;
        let event = format!("order.{}", to.as_str());
        self.emit(&event, &order.id.to_string(), &serde_json::json!({ "order_id": order.id, "status": to, "action": action })).await
    }

    /// The reservations holding the order's goods now, in allocation order.
    async fn holds(&mut self, order: &OrderRecord) -> StoreResult<Vec<Reservation>> {
        let mut out = vec![];
        for id in order.allocations.iter().filter_map(|a| a.reservation_id) {
            out.push(
                load_reservation(self.conn(), id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("allocation names no reservation {id}")))?,
            );
        }
        Ok(out)
    }

    /// Runs stock commands the order flow decided, in order.
    async fn stock_all(&mut self, cmds: Vec<StockCommand>) -> StoreResult<()> {
        for cmd in cmds {
            self.stock(cmd).await?;
        }
        Ok(())
    }

    /// Marks the goods handed over or shipped: the held units become sales (a hold that is no
    /// longer active is refused, never skipped).
    async fn fulfil_stock(&mut self, order: &mut OrderRecord, policy: &OrderPolicy) -> StoreResult<()> {
        let holds = self.holds(order).await?;
        let now = self.now;
        self.stock_all(fulfil_holds(order.id, &holds, policy, now)?).await?;
        sqlx::query("UPDATE orders SET fulfilled_at_us = $1 WHERE id = $2")
            .bind(us(self.now))
            .bind(order.id.to_string())
            .execute(self.conn())
            .await?;
        order.fulfilled_at = Some(self.now);
        Ok(())
    }

    /// Completes an order: the member earns points on what was paid.
    async fn complete(&mut self, order: &mut OrderRecord, action: OrderAction, policy: &OrderPolicy) -> StoreResult<()> {
        self.transition(order, action).await?;
        if let Some(mobile) = order.customer_mobile.clone() {
            let earned = policy.points.earned(order.paid);
            sqlx::query("UPDATE orders SET points_earned = $1 WHERE id = $2")
                .bind(earned)
                .bind(order.id.to_string())
                .execute(self.conn())
                .await?;
            self.points(&mobile, order.id, earned, "earned on a completed order").await?;
            order.points_earned = earned;
        }
        Ok(())
    }

    /// Reloads the order and commits with it as the answer.
    async fn finish(mut self, id: Uuid) -> StoreResult<OrderRecord>
    where
        Self: Sized,
        T: From<OrderRecord>,
    {
        let order = self.order(id).await?;
        let pickup = order.clone();
        self.commit(T::from(order)).await?;
        Ok(pickup)
    }
}

impl Db {
    /// Places an order: prices every line from the price book (member prices for members),
    /// sources and reserves its stock, redeems points — one transaction, `order.placed` and
    /// `order.reserved` published. The pickup code is in the answer and nowhere else.
    pub async fn place_order(&self, new: NewOrder, policy: &OrderPolicy, idem: Option<&Idem<'_, OrderRecord>>) -> StoreResult<OrderRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        let now = tx.now;
        check_shape(&new.channel, new.fulfilment, new.destination.is_some(), new.pickup_store.is_some())?;
        let store = match &new.channel {
            Channel::Store(code) => Some((code.clone(), open_store(tx.conn(), code, "store_code").await?)),
            Channel::Online => None,
        };
        if let Some(pickup) = &new.pickup_store {
            let (can_pickup, _) = open_store(tx.conn(), pickup, "pickup_store_code").await?;
            if !can_pickup {
                return Err(DomainError::rule("pickup_not_offered", format!("store {pickup} does not hand over online orders"))
                    .at("pickup_store_code")
                    .into());
            }
        }
        if let Some(m) = &new.customer {
            sqlx::query("INSERT INTO customers (mobile, points_balance, created_at_us) VALUES ($1, 0, $2) ON CONFLICT (mobile) DO NOTHING")
                .bind(m.as_str())
                .bind(us(now))
                .execute(tx.conn())
                .await?;
        }
        if new.redeem_points > 0 && new.customer.is_none() {
            return Err(DomainError::invalid("redeem_points", "member_required", "only members redeem points: give customer_mobile").into());
        }
        let mut quotes = vec![];
        for (i, (sku, _)) in new.lines.iter().enumerate() {
            let active: Option<i64> = sqlx::query_scalar("SELECT CAST(active AS INTEGER) FROM skus WHERE code = $1")
                .bind(sku.as_str())
                .fetch_optional(tx.conn())
                .await?;
            let active = active.map(|a| a != 0);
            match active {
                None => {
                    return Err(DomainError::not_found("sku_not_found", format!("no SKU {sku}")).at(format!("lines[{i}].sku_code")).into());
                }
                Some(false) => {
                    return Err(DomainError::rule("sku_inactive", format!("SKU {sku} is not for sale"))
                        .at(format!("lines[{i}].sku_code"))
                        .into());
                }
                Some(true) => {}
            }
            let versions = crate::prices::versions_of(tx.conn(), sku.as_str()).await?;
            quotes.push(quote(sku, &versions, now, new.customer.is_some())?);
        }
        let lines = price_lines(&new.lines, &quotes, new.redeem_points, &policy.points)?;
        let id = Uuid::now_v7();
        let expires_at = now.checked_add(SignedDuration::from_secs(policy.hold_seconds)).unwrap_or(now);
        let subtotal: i64 = lines.iter().map(|l| l.paid.get() + l.discount.get()).sum();
        let discount: i64 = lines.iter().map(|l| l.discount.get()).sum();
        let (destination, county) = match &new.destination {
            Some(Destination::Point(p)) => (Some(*p), None),
            Some(Destination::County(c)) => (Some(division_point(c)?), Some(c.clone())),
            None => (None, None),
        };
        let code = new.pickup_store.as_ref().map(|_| pickup_code(Uuid::new_v4().as_u64_pair().0));
        sqlx::query(
            "INSERT INTO orders (id, channel, store_code, fulfilment, status, customer_mobile, pickup_store_code, pickup_code, \
             destination_longitude, destination_latitude, destination_county_code, subtotal_fen, discount_fen, total_fen, points_redeemed, \
             expires_at_us, placed_at_us, updated_at_us) VALUES ($1, $2, $3, $4, 'placed', $5, $6, $7, CAST($8 AS DOUBLE PRECISION), \
             CAST($9 AS DOUBLE PRECISION), $10, $11, $12, $13, $14, $15, $16, $17)",
        )
        .bind(id.to_string())
        .bind(if store.is_some() { "store" } else { "online" })
        .bind(store.as_ref().map(|(c, _)| c.as_str().to_owned()))
        .bind(new.fulfilment.as_str())
        .bind(new.customer.as_ref().map(|m| m.as_str().to_owned()))
        .bind(new.pickup_store.as_ref().map(|c| c.as_str().to_owned()))
        .bind(&code)
        // Optional coordinates travel as text: sqlx's Any driver types a missing f64 as a
        // float4 on PostgreSQL, which the float8 column then refuses. `to_string` round-trips.
        .bind(destination.map(|p| p.longitude.to_string()))
        .bind(destination.map(|p| p.latitude.to_string()))
        .bind(county)
        .bind(subtotal)
        .bind(discount)
        .bind(subtotal - discount)
        .bind(new.redeem_points)
        .bind(us(expires_at))
        .bind(us(now))
        .bind(us(now))
        .execute(tx.conn())
        .await?;
        for l in &lines {
            sqlx::query(
                "INSERT INTO order_lines (order_id, line_no, sku_code, quantity, unit_price_fen, list_price_fen, price_version, points_redeemed, \
                 discount_fen, paid_fen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(id.to_string())
            .bind(l.line_no)
            .bind(l.sku_code.as_str())
            .bind(l.quantity.get())
            .bind(l.unit_price.get())
            .bind(l.list_price.get())
            .bind(l.price_version)
            .bind(l.points_redeemed)
            .bind(l.discount.get())
            .bind(l.paid.get())
            .execute(tx.conn())
            .await?;
        }
        let mut order = tx.order(id).await?;
        tx.emit("order.placed", &id.to_string(), &order).await?;

        // Where the goods come from.
        let decision: Option<SourcingDecision> = match new.fulfilment {
            Fulfilment::CarryOut => {
                let (code, _) = store
                    .as_ref()
                    .ok_or_else(|| DomainError::invalid("store_code", "fulfilment_needs_store", "a till sale needs its store"))?;
                for l in &lines {
                    tx.allocate(id, l.line_no, code, &l.sku_code, l.quantity.get(), expires_at).await?;
                }
                None
            }
            Fulfilment::Delivery | Fulfilment::EndlessAisle => {
                let except = store.as_ref().filter(|_| new.fulfilment == Fulfilment::EndlessAisle).map(|(c, _)| c.as_str().to_owned());
                let want = wanted(&lines);
                let skus: Vec<SkuCode> = want.iter().map(|(s, _)| s.clone()).collect();
                let network = Network::new(candidates(tx.conn(), &skus, Pool { ship_only: true, except: except.as_deref() }).await?);
                let destination = destination
                    .ok_or_else(|| DomainError::invalid("destination", "destination_required", "a delivery needs a destination"))?;
                let decision = NearestSingleThenFewest.source(&network, &SourcingRequest { destination, lines: want })?;
                assign(&mut tx, id, &lines, &decision, expires_at).await?;
                Some(decision)
            }
            Fulfilment::Pickup => {
                let pickup = new
                    .pickup_store
                    .clone()
                    .ok_or_else(|| DomainError::invalid("pickup_store_code", "pickup_store_required", "name the pickup store"))?;
                let (can_pickup, point) = open_store(tx.conn(), &pickup, "pickup_store_code").await?;
                if !can_pickup {
                    return Err(DomainError::rule("pickup_not_offered", format!("store {pickup} does not hand over online orders"))
                        .at("pickup_store_code")
                        .into());
                }
                let want = wanted(&lines);
                let skus: Vec<SkuCode> = want.iter().map(|(s, _)| s.clone()).collect();
                let here =
                    candidates(tx.conn(), &skus, Pool { ship_only: false, except: None }).await?.into_iter().find(|c| c.code == pickup);
                let held_here = here.as_ref().is_some_and(|c| want.iter().all(|(s, q)| c.available.get(s).copied().unwrap_or(0) >= *q));
                if held_here {
                    for l in &lines {
                        tx.allocate(id, l.line_no, &pickup, &l.sku_code, l.quantity.get(), expires_at).await?;
                    }
                    None
                } else {
                    // Reserve where the goods are, nearest to the pickup store; a transfer follows payment.
                    let network =
                        Network::new(candidates(tx.conn(), &skus, Pool { ship_only: false, except: Some(pickup.as_str()) }).await?);
                    let decision = NearestSingleThenFewest.source(&network, &SourcingRequest { destination: point, lines: want })?;
                    assign(&mut tx, id, &lines, &decision, expires_at).await?;
                    Some(decision)
                }
            }
        };
        if let Some(d) = &decision {
            let json = serde_json::to_string(d).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("UPDATE orders SET sourcing = $1 WHERE id = $2").bind(json).bind(id.to_string()).execute(tx.conn()).await?;
        }
        if let Some(m) = &new.customer {
            tx.points(m.as_str(), id, -new.redeem_points, "redeemed on an order").await?;
        }
        tx.transition(&mut order, OrderAction::Reserve).await?;
        tx.finish(id).await
    }

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
        let mut tx = self.begin(idem, self.now()).await?;
        let now = tx.now;
        let mut order = tx.order(id).await?;
        next_status(order.fulfilment, order.status, OrderAction::Pay)?;
        if now >= order.expires_at {
            return Err(DomainError::conflict(
                "order_expired",
                format!("order {id} was held until {} and is no longer payable", order.expires_at),
            )
            .into());
        }
        if payment.amount != order.total {
            return Err(DomainError::rule(
                "payment_amount_mismatch",
                format!("the order's total is {}, not {}", order.total, payment.amount),
            )
            .at("amount_fen")
            .into());
        }
        sqlx::query("INSERT INTO payments (id, order_id, kind, amount_fen, external_reference, method, recorded_at_us) VALUES ($1, $2, 'payment', $3, $4, $5, $6)")
            .bind(Uuid::now_v7().to_string())
            .bind(id.to_string())
            .bind(payment.amount.get())
            .bind(&payment.external_reference)
            .bind(&payment.method)
            .bind(us(now))
            .execute(tx.conn())
            .await?;
        sqlx::query("UPDATE orders SET paid_fen = $1 WHERE id = $2")
            .bind(payment.amount.get())
            .bind(id.to_string())
            .execute(tx.conn())
            .await?;
        order.paid = payment.amount;
        tx.transition(&mut order, OrderAction::Pay).await?;
        match order.fulfilment {
            Fulfilment::CarryOut => {
                tx.fulfil_stock(&mut order, policy).await?;
                tx.complete(&mut order, OrderAction::Complete, policy).await?;
            }
            _ => {
                let holds = tx.holds(&order).await?;
                tx.stock_all(keep_holds_for_payment(id, &holds, policy, now)?).await?;
                if let Some(pickup) = order.pickup_store_code.clone() {
                    start_transfers(&mut tx, &order, &pickup).await?;
                }
            }
        }
        tx.finish(id).await
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
        let mut tx = self.begin(idem, self.now()).await?;
        let mut order = tx.order(id).await?;
        if matches!(action, OrderAction::Ship | OrderAction::MarkReady) && order.status == OrderStatus::Paid {
            // Report the order's real status when the step after fulfilment is not allowed.
            next_status(order.fulfilment, OrderStatus::Fulfilling, action).map_err(|_| {
                next_status(order.fulfilment, order.status, action)
                    .err()
                    .unwrap_or_else(|| DomainError::conflict("illegal_transition", "not allowed"))
            })?;
            tx.transition(&mut order, OrderAction::Fulfil).await?;
        }
        match action {
            OrderAction::Fulfil => tx.transition(&mut order, action).await?,
            OrderAction::Ship => {
                next_status(order.fulfilment, order.status, action)?;
                tx.fulfil_stock(&mut order, policy).await?;
                tx.transition(&mut order, action).await?;
            }
            OrderAction::Complete => tx.complete(&mut order, action, policy).await?,
            OrderAction::MarkReady => {
                next_status(order.fulfilment, order.status, action)?;
                receive_transfers(&mut tx, &order, policy).await?;
                tx.transition(&mut order, action).await?;
            }
            other => {
                return Err(DomainError::invalid("action", "invalid_action", format!("{} is not done this way", other.as_str())).into());
            }
        }
        tx.finish(id).await
    }

    /// Hands a pickup order over against its pickup code: the held units become a sale at
    /// the pickup store.
    pub async fn hand_over_order(
        &self,
        id: Uuid,
        code: &str,
        policy: &OrderPolicy,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<OrderRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        let mut order = tx.order(id).await?;
        next_status(order.fulfilment, order.status, OrderAction::HandOver)?;
        let attempts: i64 =
            sqlx::query_scalar("SELECT pickup_attempts FROM orders WHERE id = $1").bind(id.to_string()).fetch_one(tx.conn()).await?;
        if attempts >= PICKUP_ATTEMPTS_MAX {
            return Err(DomainError::conflict(
                "pickup_code_locked",
                format!("{PICKUP_ATTEMPTS_MAX} wrong pickup codes: the handover is locked; cancel and reorder"),
            )
            .into());
        }
        if order.pickup_code.as_deref() != Some(code) {
            // Count the wrong guess outside the refused write, so it sticks.
            drop(tx);
            let mut counted = self.begin::<()>(None, self.now()).await?;
            sqlx::query("UPDATE orders SET pickup_attempts = pickup_attempts + 1 WHERE id = $1")
                .bind(id.to_string())
                .execute(counted.conn())
                .await?;
            counted.commit(()).await?;
            let left = PICKUP_ATTEMPTS_MAX - attempts - 1;
            return Err(DomainError::rule("wrong_pickup_code", format!("the pickup code does not match this order ({left} tries left)"))
                .at("pickup_code")
                .into());
        }
        tx.fulfil_stock(&mut order, policy).await?;
        tx.complete(&mut order, OrderAction::HandOver, policy).await?;
        tx.finish(id).await
    }

    /// Cancels an order before it ships: releases what it holds, gives redeemed points back,
    /// and refunds a payment. `expire` is the sweeper's cancellation of an unpaid order.
    pub async fn cancel_order(&self, id: Uuid, expire: bool, idem: Option<&Idem<'_, OrderRecord>>) -> StoreResult<OrderRecord> {
        self.cancel_order_at(id, expire, self.now(), idem).await
    }

    async fn cancel_order_at(
        &self,
        id: Uuid,
        expire: bool,
        now: Timestamp,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<OrderRecord> {
        let mut tx = self.begin(idem, now).await?;
        let mut order = tx.order(id).await?;
        let action = if expire { OrderAction::Expire } else { OrderAction::Cancel };
        next_status(order.fulfilment, order.status, action)?;
        if expire && tx.now < order.expires_at {
            return Err(DomainError::conflict("order_not_expired", format!("order {id} is held until {}", order.expires_at)).into());
        }
        let holds = tx.holds(&order).await?;
        tx.stock_all(release_holds(&holds)).await?;
        if let Some(mobile) = order.customer_mobile.clone() {
            tx.points(&mobile, id, order.points_redeemed, "redeemed points given back on cancellation").await?;
        }
        if order.paid.get() > 0 {
            refund(&mut tx, &order, order.paid, "cancellation").await?;
        }
        tx.transition(&mut order, action).await?;
        tx.finish(id).await
    }

    /// Cancels every unpaid order whose hold has run out at `now`; returns how many.
    pub async fn expire_due_orders(&self, now: Timestamp) -> StoreResult<usize> {
        let ids: Vec<String> =
            sqlx::query_scalar("SELECT id FROM orders WHERE status = 'reserved' AND expires_at_us <= $1 ORDER BY expires_at_us LIMIT 500")
                .bind(us(now))
                .fetch_all(&self.read)
                .await?;
        let mut n = 0;
        for id in ids {
            let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            match self.cancel_order_at(id, true, now, None).await {
                Ok(_) => n += 1,
                Err(StoreError::Domain(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// Takes back lines of an order at any store, within the return window: refunds the price
    /// paid, restocks the returning store (sellable or damaged), restores redeemed points and
    /// takes back the points the refund had earned.
    pub async fn return_order_lines(
        &self,
        id: Uuid,
        store: &LocationCode,
        lines: &[(i64, Quantity, bool)],
        policy: &OrderPolicy,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<OrderRecord> {
        let mut tx = self.begin(idem, self.now()).await?;
        let now = tx.now;
        let order = tx.order(id).await?;
        open_store(tx.conn(), store, "store_code").await?;
        if !matches!(order.status, OrderStatus::Shipped | OrderStatus::Completed) {
            return Err(
                DomainError::conflict("order_not_returnable", format!("a {} order cannot be returned", order.status.as_str())).into()
            );
        }
        let plan = plan_return(&order.lines, order.fulfilled_at, policy.return_window_days, now, lines)?;
        let return_id = Uuid::now_v7();
        let refund_total: i64 = plan.iter().map(|r| r.refund.get()).sum();
        let restored: i64 = plan.iter().map(|r| r.points_restored).sum();
        let reversed = points_to_reverse(order.points_earned, order.paid, order.refunded, Fen::new(refund_total));
        for r in &plan {
            let line =
                order.lines.iter().find(|l| l.line_no == r.line_no).ok_or_else(|| StoreError::Corrupt("planned line vanished".into()))?;
            let owner = order.allocations.iter().find(|a| a.line_no == r.line_no).map_or_else(|| "brand".to_owned(), |a| a.owner.clone());
            let key = StockKey { location_code: store.clone(), sku_code: line.sku_code.clone(), owner: parse(Owner::parse(&owner))? };
            tx.stock(StockCommand::Return {
                key,
                quantity: r.quantity,
                reference: Some(format!("return of order {id}")),
                damaged: r.damaged,
            })
            .await?;
            sqlx::query("UPDATE order_lines SET returned_quantity = returned_quantity + $1 WHERE order_id = $2 AND line_no = $3")
                .bind(r.quantity.get())
                .bind(id.to_string())
                .bind(r.line_no)
                .execute(tx.conn())
                .await?;
        }
        sqlx::query("INSERT INTO returns (id, order_id, store_code, refund_fen, points_restored, points_reversed, recorded_at_us) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(return_id.to_string())
            .bind(id.to_string())
            .bind(store.as_str())
            .bind(refund_total)
            .bind(restored)
            .bind(reversed)
            .bind(us(now))
            .execute(tx.conn())
            .await?;
        for r in &plan {
            sqlx::query("INSERT INTO return_lines (return_id, line_no, quantity, damaged, refund_fen) VALUES ($1, $2, $3, $4, $5)")
                .bind(return_id.to_string())
                .bind(r.line_no)
                .bind(r.quantity.get())
                .bind(r.damaged)
                .bind(r.refund.get())
                .execute(tx.conn())
                .await?;
        }
        if refund_total > 0 {
            refund(&mut tx, &order, Fen::new(refund_total), &format!("return {return_id}")).await?;
        }
        if let Some(mobile) = order.customer_mobile.clone() {
            tx.points(&mobile, id, restored, "redeemed points given back on a return").await?;
            let balance: i64 =
                sqlx::query_scalar("SELECT points_balance FROM customers WHERE mobile = $1").bind(&mobile).fetch_one(tx.conn()).await?;
            // Points already spent cannot be taken back below zero.
            let take = reversed.min(balance);
            tx.points(&mobile, id, -take, "earned points taken back on a return").await?;
            sqlx::query("UPDATE orders SET points_reversed = points_reversed + $1 WHERE id = $2")
                .bind(take)
                .bind(id.to_string())
                .execute(tx.conn())
                .await?;
        }
        tx.emit(
            "order.returned",
            &id.to_string(),
            &serde_json::json!({ "order_id": id, "return_id": return_id, "store_code": store, "lines": plan }),
        )
        .await?;
        tx.finish(id).await
    }

    pub async fn order(&self, id: Uuid) -> StoreResult<Option<OrderRecord>> {
        let mut conn = self.read.acquire().await?;
        load_order(&mut conn, id).await
    }

    /// A member's account, created on first sight.
    pub async fn customer(&self, mobile: &Mobile) -> StoreResult<Option<CustomerRecord>> {
        let row: Option<(String, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.mobile, c.points_balance, c.created_at_us, (SELECT COUNT(*) FROM orders o WHERE o.customer_mobile = c.mobile) \
             FROM customers c WHERE c.mobile = $1",
        )
        .bind(mobile.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(|(mobile, points_balance, created, order_count)| {
            Ok(CustomerRecord { mobile, points_balance, order_count, created_at: ts(created)? })
        })
        .transpose()
    }

    /// Orders, newest first, filtered (a member's history in every channel, a store's
    /// orders, the pickups waiting at a store, orders in a status).
    pub async fn orders(&self, f: &OrderFilter, page: &PageRequest) -> StoreResult<Page<OrderRecord>> {
        let limit = page.limit()?;
        let after = page.after_key()?;
        let status = f.status.map(OrderStatus::as_str);
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM orders WHERE ($1 = '' OR id < $2) AND ($3 IS NULL OR customer_mobile = $4) AND ($5 IS NULL OR store_code = $6) \
             AND ($7 IS NULL OR pickup_store_code = $8) AND ($9 IS NULL OR status = $10) ORDER BY id DESC LIMIT $11",
        )
        .bind(&after)
        .bind(&after)
        .bind(f.customer.as_ref().map(|m| m.as_str().to_owned()))
        .bind(f.customer.as_ref().map(|m| m.as_str().to_owned()))
        .bind(&f.store_code)
        .bind(&f.store_code)
        .bind(&f.pickup_store_code)
        .bind(&f.pickup_store_code)
        .bind(status)
        .bind(status)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let mut conn = self.read.acquire().await?;
        let mut orders = vec![];
        for id in ids {
            let id = Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            orders.extend(load_order(&mut conn, id).await?);
        }
        Ok(Page::from_rows(orders, limit, |o| o.id.to_string()))
    }

    /// Every change to a member's points, oldest first.
    pub async fn points_history(&self, mobile: &Mobile, page: &PageRequest) -> StoreResult<Page<PointsEntry>> {
        let limit = page.limit()?;
        let after: i64 = page.after_seq()?;
        let rows: Vec<(i64, Option<String>, i64, String, i64)> = sqlx::query_as(
            "SELECT seq, order_id, delta, reason, recorded_at_us FROM points_entries WHERE mobile = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(mobile.as_str())
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.read)
        .await?;
        let items = rows
            .into_iter()
            .map(|(seq, order_id, delta, reason, at)| Ok(PointsEntry { seq, order_id, delta, reason, recorded_at: ts(at)? }))
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |p| p.seq.to_string()))
    }
}

/// Reserves each sourced share, line by line.
async fn assign<T>(
    tx: &mut WriteTx<'_, T>,
    order: Uuid,
    lines: &[OrderLine],
    decision: &SourcingDecision,
    expires_at: Timestamp,
) -> StoreResult<()> {
    // What each location supplies per SKU, handed out to lines in line order.
    let mut supply: Vec<(LocationCode, BTreeMap<SkuCode, i64>)> =
        decision.assignments.iter().map(|a| (a.location_code.clone(), a.lines.clone())).collect();
    for l in lines {
        let mut left = l.quantity.get();
        for (location, skus) in supply.iter_mut() {
            let Some(have) = skus.get_mut(&l.sku_code) else { continue };
            let take = left.min(*have);
            if take > 0 {
                tx.allocate(order, l.line_no, location, &l.sku_code, take, expires_at).await?;
                *have -= take;
                left -= take;
            }
            if left == 0 {
                break;
            }
        }
    }
    Ok(())
}

/// After payment of a pickup sourced elsewhere: the held units leave for the pickup store.
async fn start_transfers<T>(tx: &mut WriteTx<'_, T>, order: &OrderRecord, pickup: &str) -> StoreResult<()> {
    for a in order.allocations.iter().filter(|a| a.location_code != pickup) {
        let Some(reservation) = a.reservation_id else { continue };
        let line =
            order.lines.iter().find(|l| l.line_no == a.line_no).ok_or_else(|| StoreError::Corrupt("allocation without line".into()))?;
        tx.stock(StockCommand::Release { reservation_id: reservation }).await?;
        let transfer_id = Uuid::now_v7();
        let from = StockKey {
            location_code: parse(LocationCode::parse(&a.location_code))?,
            sku_code: line.sku_code.clone(),
            owner: parse(Owner::parse(&a.owner))?,
        };
        tx.stock(StockCommand::TransferOut {
            transfer_id,
            from,
            to_location_code: parse(LocationCode::parse(pickup))?,
            quantity: Quantity::new(a.quantity)?,
        })
        .await?;
        sqlx::query("UPDATE order_allocations SET reservation_id = NULL, transfer_id = $1 WHERE order_id = $2 AND line_no = $3 AND location_code = $4 AND owner = $5")
            .bind(transfer_id.to_string())
            .bind(order.id.to_string())
            .bind(a.line_no)
            .bind(&a.location_code)
            .bind(&a.owner)
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// When staff mark a pickup ready: transfers in transit arrive and are held for the order.
async fn receive_transfers<T>(tx: &mut WriteTx<'_, T>, order: &OrderRecord, policy: &OrderPolicy) -> StoreResult<()> {
    let pickup = order.pickup_store_code.clone().ok_or_else(|| StoreError::Corrupt("pickup order without store".into()))?;
    let until = paid_hold_until(policy, tx.now);
    for a in order.allocations.iter().filter(|a| a.transfer_id.is_some()) {
        let transfer_id = a.transfer_id.unwrap_or_default();
        let status: Option<String> = sqlx::query_scalar("SELECT status FROM transfers WHERE id = $1")
            .bind(transfer_id.to_string())
            .fetch_optional(tx.conn())
            .await?;
        if status.as_deref() == Some("in_transit") {
            tx.stock(StockCommand::TransferIn { transfer_id }).await?;
        }
        let line =
            order.lines.iter().find(|l| l.line_no == a.line_no).ok_or_else(|| StoreError::Corrupt("allocation without line".into()))?;
        let reservation_id = Uuid::now_v7();
        let key = StockKey {
            location_code: parse(LocationCode::parse(&pickup))?,
            sku_code: line.sku_code.clone(),
            owner: parse(Owner::parse(&a.owner))?,
        };
        // A reservation is placed for at most the ledger's longest hold, then extended to the
        // paid order's hold.
        let first = tx.now.checked_add(SignedDuration::from_secs(RESERVATION_TTL_SECONDS_MAX)).unwrap_or(tx.now).min(until);
        let reference = Some(format!("order {}", order.id));
        tx.stock(StockCommand::Reserve { reservation_id, key, quantity: Quantity::new(a.quantity)?, expires_at: first, reference }).await?;
        if until > first {
            tx.stock(StockCommand::Extend { reservation_id, expires_at: until }).await?;
        }
        sqlx::query("UPDATE order_allocations SET location_code = $1, reservation_id = $2 WHERE order_id = $3 AND transfer_id = $4")
            .bind(&pickup)
            .bind(reservation_id.to_string())
            .bind(order.id.to_string())
            .bind(transfer_id.to_string())
            .execute(tx.conn())
            .await?;
    }
    Ok(())
}

/// Records a refund to the payment's method.
async fn refund<T>(tx: &mut WriteTx<'_, T>, order: &OrderRecord, amount: Fen, why: &str) -> StoreResult<()> {
    let method = order.payments.iter().find(|p| p.kind == "payment").map_or_else(|| "original".to_owned(), |p| p.method.clone());
    sqlx::query("INSERT INTO payments (id, order_id, kind, amount_fen, external_reference, method, recorded_at_us) VALUES ($1, $2, 'refund', $3, $4, $5, $6)")
        .bind(Uuid::now_v7().to_string())
        .bind(order.id.to_string())
        .bind(amount.get())
        .bind(format!("refund: {why}"))
        .bind(method)
        .bind(us(tx.now))
        .execute(tx.conn())
        .await?;
    sqlx::query("UPDATE orders SET refunded_fen = refunded_fen + $1 WHERE id = $2")
        .bind(amount.get())
        .bind(order.id.to_string())
        .execute(tx.conn())
        .await?;
    tx.emit("order.refunded", &order.id.to_string(), &serde_json::json!({ "order_id": order.id, "amount_fen": amount, "why": why })).await
}
