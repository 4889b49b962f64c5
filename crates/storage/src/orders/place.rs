//! Placing an order: lines priced from the price book, stock sourced and held, points redeemed.

use jiff::{SignedDuration, Timestamp};
use sqlx::AnyConnection;
use std::collections::BTreeMap;
use tongjia_domain::DomainError;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::events::{EventType, OrderMoved, PointsChanged};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{GeoPoint, LocationKind, LocationStatus};
use tongjia_domain::orders::{
    Fulfilment, OrderAction, OrderLine, OrderPolicy, OrderStatus, SourcingPool, check_member, check_shape, next_status, order_sums,
    pickup_code, price_lines, split_by_owner,
};
use tongjia_domain::pricing::{Channel, Quote, quote};
use tongjia_domain::sourcing::{Candidate, NearestSingleThenFewest, Network, SourcingDecision, SourcingRequest, SourcingStrategy};
use uuid::Uuid;

use super::load::{load_order, to_domain};
use super::records::{Destination, NewOrder, OrderRecord, order_not_found};
use crate::error::{StoreError, StoreResult, parse};
use crate::stock::execute_in;
use crate::tx::{Idem, WriteTx};
use crate::{Db, us};

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
pub(crate) async fn open_store(conn: &mut AnyConnection, code: &LocationCode, field: &str) -> StoreResult<(bool, GeoPoint)> {
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

/// A location holding a SKU: code, kind, status, ships from store, longitude, latitude,
/// free units over owners, safety stock.
type CandidateRow = (String, String, String, i64, f64, f64, i64, i64);

/// Candidates holding any of `skus` that `pool` admits, with what each can promise (net of
/// reservations and safety stock).
async fn candidates(conn: &mut AnyConnection, skus: &[SkuCode], pool: &SourcingPool) -> StoreResult<Vec<Candidate>> {
    let mut by_location: BTreeMap<String, Candidate> = BTreeMap::new();
    for sku in skus {
        let rows: Vec<CandidateRow> = sqlx::query_as(
            "SELECT l.code, l.kind, l.status, CAST(l.ship_from_store AS INTEGER), l.longitude, l.latitude, \
             CAST(SUM(p.on_hand - p.reserved) AS BIGINT), COALESCE(MAX(s.quantity), 0) \
             FROM stock_positions p JOIN locations l ON l.code = p.location_code \
             LEFT JOIN safety_stock s ON s.location_code = p.location_code AND s.sku_code = p.sku_code \
             WHERE p.sku_code = $1 GROUP BY l.code, l.kind, l.status, l.ship_from_store, l.longitude, l.latitude",
        )
        .bind(sku.as_str())
        .fetch_all(&mut *conn)
        .await?;
        for (code, kind, status, sfs, lon, lat, free, safety) in rows {
            let location = parse(LocationCode::parse(&code))?;
            if !pool.admits(&location, parse(LocationKind::parse(&kind))?, parse(LocationStatus::parse(&status))?, sfs != 0) {
                continue;
            }
            let available = free - safety;
            if available <= 0 {
                continue;
            }
            let c = match by_location.entry(code.clone()) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(Candidate { code: location, point: GeoPoint { longitude: lon, latitude: lat }, available: Default::default() })
                }
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
    pub(crate) async fn stock(&mut self, cmd: StockCommand) -> StoreResult<tongjia_domain::ledger::Decision> {
        let now = self.now;
        let d = execute_in(self.conn(), &cmd, now).await?;
        let subject = d.entries.first().map_or_else(|| "stock".to_owned(), |e| format!("{}/{}", e.key.location_code, e.key.sku_code));
        self.emit(d.event_type, &subject, &d).await?;
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
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT owner, on_hand - reserved FROM stock_positions WHERE location_code = $1 AND sku_code = $2")
                .bind(location.as_str())
                .bind(sku.as_str())
                .fetch_all(self.conn())
                .await?;
        let free = rows.into_iter().map(|(o, n)| Ok((parse(Owner::parse(&o))?, n))).collect::<StoreResult<Vec<_>>>()?;
        let split =
            split_by_owner(&free, quantity).map_err(|e| DomainError::rule(e.code, format!("{sku} at {location}: {}", e.message)))?;
        for (owner, take) in split {
            let reservation_id = Uuid::now_v7();
            let key = StockKey { location_code: location.clone(), sku_code: sku.clone(), owner: owner.clone() };
            let reference = Some(format!("order {order}"));
            self.stock(StockCommand::Reserve { reservation_id, key, quantity: Quantity::new(take)?, expires_at, reference }).await?;
            sqlx::query("INSERT INTO order_allocations (id, order_id, line_no, location_code, owner, quantity, reservation_id) VALUES ($1, $2, $3, $4, $5, $6, $7)")
                .bind(Uuid::now_v7().to_string())
                .bind(order.to_string())
                .bind(line_no)
                .bind(location.as_str())
                .bind(owner.to_string())
                .bind(take)
                .bind(reservation_id.to_string())
                .execute(self.conn())
                .await?;
        }
        Ok(())
    }

    /// Moves a customer's points, never below zero, with its reason.
    pub(crate) async fn points(
        &mut self,
        mobile: &str,
        order: Uuid,
        delta: i64,
        reason: &str,
        locations: &[LocationCode],
    ) -> StoreResult<()> {
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
        self.emit(
            EventType::PointsChanged,
            mobile,
            &PointsChanged { mobile: mobile.to_owned(), order_id: order, delta, reason: reason.to_owned(), locations: locations.to_vec() },
        )
        .await
    }

    /// Loads an order for an action, refusing an unknown one.
    pub(crate) async fn order(&mut self, id: Uuid) -> StoreResult<OrderRecord> {
        load_order(self.conn(), id).await?.ok_or_else(|| order_not_found(id))
    }

    /// Moves a new order to reserved: checks it, stores the status and publishes
    /// `order.reserved`.
    async fn transition(&mut self, order: &mut OrderRecord, action: OrderAction, locations: Vec<LocationCode>) -> StoreResult<()> {
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
        let moved = OrderMoved { order_id: order.id, status: to, action, locations };
        self.emit(EventType::order_moved(to), &order.id.to_string(), &moved).await
    }

    /// Reloads the order and commits with it as the answer.
    pub(crate) async fn finish(mut self, id: Uuid) -> StoreResult<OrderRecord>
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
        check_member(new.customer.is_some(), new.redeem_points)?;
        let quotes = quote_lines(tx.conn(), &new, now).await?;
        let lines = price_lines(&new.lines, &quotes, new.redeem_points, &policy.points)?;
        let id = Uuid::now_v7();
        let expires_at = now.checked_add(SignedDuration::from_secs(policy.hold_seconds)).unwrap_or(now);
        let sums = order_sums(&lines);
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
        .bind(sums.subtotal.get())
        .bind(sums.discount.get())
        .bind(sums.total.get())
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
        let decision = source_and_hold(&mut tx, id, &new, &lines, store.as_ref().map(|(c, _)| c), destination, expires_at).await?;
        if let Some(d) = &decision {
            let json = serde_json::to_string(d).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            sqlx::query("UPDATE orders SET sourcing = $1 WHERE id = $2").bind(json).bind(id.to_string()).execute(tx.conn()).await?;
        }
        // Read once sourced: the event names where its stock is held.
        let mut order = tx.order(id).await?;
        tx.emit(EventType::OrderPlaced, &id.to_string(), &order).await?;
        let locations = to_domain(&order)?.locations();
        if let Some(m) = &new.customer {
            tx.points(m.as_str(), id, -new.redeem_points, "redeemed on an order", &locations).await?;
        }
        tx.transition(&mut order, OrderAction::Reserve, locations).await?;
        tx.finish(id).await
    }
}

/// Where the goods come from, held for the order: a till sale at its store; a pickup at its
/// store when that holds it all, else where sourcing finds it; a delivery where sourcing finds
/// it. Returns the sourcing decision, if sourcing chose.
async fn source_and_hold<T>(
    tx: &mut WriteTx<'_, T>,
    id: Uuid,
    new: &NewOrder,
    lines: &[OrderLine],
    store: Option<&LocationCode>,
    destination: Option<GeoPoint>,
    expires_at: Timestamp,
) -> StoreResult<Option<SourcingDecision>> {
    Ok(match new.fulfilment {
        Fulfilment::CarryOut => {
            let code = store.ok_or_else(|| DomainError::invalid("store_code", "fulfilment_needs_store", "a till sale needs its store"))?;
            for l in lines {
                tx.allocate(id, l.line_no, code, &l.sku_code, l.quantity.get(), expires_at).await?;
            }
            None
        }
        Fulfilment::Delivery | Fulfilment::EndlessAisle => {
            let pool = SourcingPool::for_order(new.fulfilment, store, None);
            let want = wanted(lines);
            let skus: Vec<SkuCode> = want.iter().map(|(s, _)| s.clone()).collect();
            let network = Network::new(candidates(tx.conn(), &skus, &pool).await?);
            let destination =
                destination.ok_or_else(|| DomainError::invalid("destination", "destination_required", "a delivery needs a destination"))?;
            let decision = NearestSingleThenFewest.source(&network, &SourcingRequest { destination, lines: want })?;
            assign(tx, id, lines, &decision, expires_at).await?;
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
            let want = wanted(lines);
            let skus: Vec<SkuCode> = want.iter().map(|(s, _)| s.clone()).collect();
            let here = candidates(tx.conn(), &skus, &SourcingPool::anywhere()).await?.into_iter().find(|c| c.code == pickup);
            let held_here = here.as_ref().is_some_and(|c| want.iter().all(|(s, q)| c.available.get(s).copied().unwrap_or(0) >= *q));
            if held_here {
                for l in lines {
                    tx.allocate(id, l.line_no, &pickup, &l.sku_code, l.quantity.get(), expires_at).await?;
                }
                None
            } else {
                // Reserve where the goods are, nearest to the pickup store; a transfer follows payment.
                let pool = SourcingPool::for_order(new.fulfilment, None, Some(&pickup));
                let network = Network::new(candidates(tx.conn(), &skus, &pool).await?);
                let decision = NearestSingleThenFewest.source(&network, &SourcingRequest { destination: point, lines: want })?;
                assign(tx, id, lines, &decision, expires_at).await?;
                Some(decision)
            }
        }
    })
}

/// The price of every line now, from the price book (member prices for members), refusing
/// unknown and inactive SKUs.
async fn quote_lines(conn: &mut AnyConnection, new: &NewOrder, now: Timestamp) -> StoreResult<Vec<Quote>> {
    let mut quotes = vec![];
    for (i, (sku, _)) in new.lines.iter().enumerate() {
        let active: Option<i64> = sqlx::query_scalar("SELECT CAST(active AS INTEGER) FROM skus WHERE code = $1")
            .bind(sku.as_str())
            .fetch_optional(&mut *conn)
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
        let versions = crate::prices::versions_of(&mut *conn, sku.as_str()).await?;
        quotes.push(quote(sku, &versions, now, new.customer.is_some())?);
    }
    Ok(quotes)
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
