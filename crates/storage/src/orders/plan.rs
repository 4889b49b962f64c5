//! Deciding a placement: lines priced from the price book, stock sourced over the network
//! and split by owner, the order and its holds laid out — all from what one connection reads,
//! nothing written. `place.rs` decides it off the write turn and again in it when the stock
//! moved meanwhile.

use jiff::{SignedDuration, Timestamp};
use sqlx::AnyConnection;
use std::collections::{BTreeMap, HashMap};
use tongjia_domain::DomainError;
use tongjia_domain::Fen;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::ledger::{Quantity, StockCommand, StockKey};
use tongjia_domain::location::{GeoPoint, LocationKind, LocationStatus};
use tongjia_domain::network::StoreSite;
use tongjia_domain::orders::{
    Fulfilment, OrderLine, OrderPolicy, OrderStatus, SourcingPool, check_member, check_shape, order_sums, pickup_code, price_lines,
    split_by_owner,
};
use tongjia_domain::pricing::{Channel, Quote, quote};
use tongjia_domain::sourcing::{Candidate, NearestSingleThenFewest, Network, SourcingDecision, SourcingRequest, SourcingStrategy};
use uuid::Uuid;

use super::records::{AllocationRecord, Destination, NewOrder, OrderRecord};
use crate::error::{StoreError, StoreResult, parse};
use crate::stock::BY_KEY_MAX;
use crate::tx::{ROWS_PER_STATEMENT, marks};

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

/// Candidates holding any of `skus` that `pool` admits (and, with `only`, that one location),
/// with what each can promise (net of reservations and safety stock). The network — kind,
/// status, ships from store, point — comes from memory (`sites`, `Db::store_sites`); only the
/// admitted locations' balances are read, by the ledger's key (a query per 200), or past
/// `BY_KEY_MAX` of them one index range over the SKU's balances.
async fn candidates(
    conn: &mut AnyConnection,
    skus: &[SkuCode],
    pool: &SourcingPool,
    sites: &[StoreSite],
    only: Option<&LocationCode>,
) -> StoreResult<Vec<Candidate>> {
    let admitted: HashMap<&str, &StoreSite> = sites
        .iter()
        .filter(|s| only.is_none_or(|o| o.as_str() == s.code) && pool.admits_code(&s.code, s.kind, s.status, s.ship_from_store))
        .map(|s| (s.code.as_str(), s))
        .collect();
    let mut by_location: BTreeMap<String, Candidate> = BTreeMap::new();
    if admitted.is_empty() {
        return Ok(vec![]);
    }
    let codes: Vec<&str> = admitted.keys().copied().collect();
    for sku in skus {
        for (code, free, safety) in free_units(conn, sku, &codes).await? {
            let Some(site) = admitted.get(code.as_str()) else { continue };
            let available = free - safety;
            if available <= 0 {
                continue;
            }
            let c = match by_location.entry(code) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(v) => {
                    let location = parse(LocationCode::parse(v.key()))?;
                    v.insert(Candidate { code: location, point: site.point, available: Default::default() })
                }
            };
            c.available.insert(sku.clone(), available);
        }
    }
    Ok(by_location.into_values().collect())
}

/// Free units (on hand less reserved, over owners) and safety stock of `sku` at `locations`
/// that hold it: by key, or one range past `BY_KEY_MAX` locations.
async fn free_units(conn: &mut AnyConnection, sku: &SkuCode, locations: &[&str]) -> StoreResult<Vec<(String, i64, i64)>> {
    const SELECT: &str = "SELECT p.location_code, CAST(SUM(p.on_hand - p.reserved) AS BIGINT), COALESCE(MAX(s.quantity), 0) \
        FROM stock_positions p LEFT JOIN safety_stock s ON s.location_code = p.location_code AND s.sku_code = p.sku_code \
        WHERE p.sku_code = $1";
    if locations.len() > BY_KEY_MAX {
        let sql = format!("{SELECT} GROUP BY p.location_code");
        return Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(sku.as_str()).fetch_all(&mut *conn).await?);
    }
    let mut rows = Vec::new();
    for chunk in locations.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("{SELECT} AND p.location_code IN ({}) GROUP BY p.location_code", marks(2, chunk.len()));
        let q = chunk.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(sku.as_str()), |q, c| q.bind(*c));
        rows.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(rows)
}

/// Units per SKU over the order's lines.
fn wanted(lines: &[OrderLine]) -> Vec<(SkuCode, i64)> {
    let mut m: BTreeMap<SkuCode, i64> = BTreeMap::new();
    for l in lines {
        *m.entry(l.sku_code.clone()).or_default() += l.quantity.get();
    }
    m.into_iter().collect()
}

/// A placement as decided: the order as placed (lines, allocations, sourcing; status
/// `placed`), and the hold each allocation takes (one `Reserve` each, in allocation order).
pub(super) struct Plan {
    pub order: OrderRecord,
    pub holds: Vec<StockCommand>,
}

/// Decides the placement of `new` at `now` from what `conn` reads; writes nothing.
pub(super) async fn plan(
    conn: &mut AnyConnection,
    new: &NewOrder,
    policy: &OrderPolicy,
    now: Timestamp,
    sites: &[StoreSite],
) -> StoreResult<Plan> {
    check_shape(&new.channel, new.fulfilment, new.destination.is_some(), new.pickup_store.is_some())?;
    let store = match &new.channel {
        Channel::Store(code) => {
            open_store(conn, code, "store_code").await?;
            Some(code.clone())
        }
        Channel::Online => None,
    };
    let pickup_point = match &new.pickup_store {
        Some(pickup) => Some(pickup_store(conn, pickup).await?),
        None => None,
    };
    check_member(new.customer.is_some(), new.redeem_points)?;
    let quotes = quote_lines(conn, new, now).await?;
    let lines = price_lines(&new.lines, &quotes, new.redeem_points, &policy.points)?;
    let (destination, county) = match &new.destination {
        Some(Destination::Point(p)) => (Some(*p), None),
        Some(Destination::County(c)) => (Some(division_point(c)?), Some(c.clone())),
        None => (None, None),
    };
    let (shares, decision) = source(conn, new, &lines, store.as_ref(), destination, pickup_point, sites).await?;
    let id = Uuid::now_v7();
    let expires_at = now.checked_add(SignedDuration::from_secs(policy.hold_seconds)).unwrap_or(now);
    let (allocations, holds) = split_shares(conn, id, &shares, expires_at).await?;
    let sums = order_sums(&lines);
    let order = OrderRecord {
        id,
        channel: store.as_ref().map_or_else(|| "online".to_owned(), |c| format!("store:{c}")),
        store_code: store.as_ref().map(|c| c.as_str().to_owned()),
        fulfilment: new.fulfilment,
        status: OrderStatus::Placed,
        customer_mobile: new.customer.as_ref().map(|m| m.as_str().to_owned()),
        pickup_store_code: new.pickup_store.as_ref().map(|c| c.as_str().to_owned()),
        pickup_code: new.pickup_store.as_ref().map(|_| pickup_code(Uuid::new_v4().as_u64_pair().0)),
        pickup_attempts: 0,
        destination,
        destination_county_code: county,
        sourcing: decision.as_ref().map(serde_json::to_value).transpose().map_err(|e| StoreError::Corrupt(e.to_string()))?,
        subtotal: sums.subtotal,
        discount: sums.discount,
        total: sums.total,
        points_redeemed: new.redeem_points,
        points_earned: 0,
        paid: Fen::ZERO,
        refunded: Fen::ZERO,
        points_reversed: 0,
        expires_at,
        placed_at: now,
        paid_at: None,
        fulfilled_at: None,
        completed_at: None,
        cancelled_at: None,
        lines,
        allocations,
        payments: vec![],
        returns: vec![],
    };
    Ok(Plan { order, holds })
}

/// The pickup store, open and handing over online orders: its point.
async fn pickup_store(conn: &mut AnyConnection, pickup: &LocationCode) -> StoreResult<GeoPoint> {
    let (can_pickup, point) = open_store(conn, pickup, "pickup_store_code").await?;
    if !can_pickup {
        return Err(DomainError::rule("pickup_not_offered", format!("store {pickup} does not hand over online orders"))
            .at("pickup_store_code")
            .into());
    }
    Ok(point)
}

/// Units of a line to hold at a location: (line number, location, SKU, quantity).
type Share = (i64, LocationCode, SkuCode, i64);

/// Where the goods come from: a till sale at its store; a pickup at its store when that
/// holds it all, else where sourcing finds it; a delivery where sourcing finds it. The
/// shares, and the sourcing decision if sourcing chose.
async fn source(
    conn: &mut AnyConnection,
    new: &NewOrder,
    lines: &[OrderLine],
    store: Option<&LocationCode>,
    destination: Option<GeoPoint>,
    pickup_point: Option<GeoPoint>,
    sites: &[StoreSite],
) -> StoreResult<(Vec<Share>, Option<SourcingDecision>)> {
    let at = |code: &LocationCode| lines.iter().map(|l| (l.line_no, code.clone(), l.sku_code.clone(), l.quantity.get())).collect();
    let want = wanted(lines);
    let skus: Vec<SkuCode> = want.iter().map(|(s, _)| s.clone()).collect();
    let (pool, to) = match new.fulfilment {
        Fulfilment::CarryOut => {
            let code = store.ok_or_else(|| DomainError::invalid("store_code", "fulfilment_needs_store", "a till sale needs its store"))?;
            return Ok((at(code), None));
        }
        Fulfilment::Delivery | Fulfilment::EndlessAisle => {
            let to =
                destination.ok_or_else(|| DomainError::invalid("destination", "destination_required", "a delivery needs a destination"))?;
            (SourcingPool::for_order(new.fulfilment, store, None), to)
        }
        Fulfilment::Pickup => {
            let pickup = new
                .pickup_store
                .clone()
                .ok_or_else(|| DomainError::invalid("pickup_store_code", "pickup_store_required", "name the pickup store"))?;
            let here = candidates(conn, &skus, &SourcingPool::anywhere(), sites, Some(&pickup)).await?.into_iter().next();
            if here.as_ref().is_some_and(|c| want.iter().all(|(s, q)| c.available.get(s).copied().unwrap_or(0) >= *q)) {
                return Ok((at(&pickup), None));
            }
            // Held where the goods are, nearest to the pickup store; a transfer follows payment.
            let to =
                pickup_point.ok_or_else(|| DomainError::invalid("pickup_store_code", "pickup_store_required", "name the pickup store"))?;
            (SourcingPool::for_order(new.fulfilment, None, Some(&pickup)), to)
        }
    };
    let network = Network::new(candidates(conn, &skus, &pool, sites, None).await?);
    let decision = NearestSingleThenFewest.source(&network, &SourcingRequest { destination: to, lines: want })?;
    Ok((assign(lines, &decision), Some(decision)))
}

/// Each sourced location's units handed out to lines in line order.
fn assign(lines: &[OrderLine], decision: &SourcingDecision) -> Vec<Share> {
    let mut supply: Vec<(LocationCode, BTreeMap<SkuCode, i64>)> =
        decision.assignments.iter().map(|a| (a.location_code.clone(), a.lines.clone())).collect();
    let mut shares = vec![];
    for l in lines {
        let mut left = l.quantity.get();
        for (location, skus) in supply.iter_mut() {
            let Some(have) = skus.get_mut(&l.sku_code) else { continue };
            let take = left.min(*have);
            if take > 0 {
                shares.push((l.line_no, location.clone(), l.sku_code.clone(), take));
                *have -= take;
                left -= take;
            }
            if left == 0 {
                break;
            }
        }
    }
    shares
}

/// Each share split over owners (the brand's goods first, then partners' by code) as the
/// balances read show them: one allocation and one hold per owner's part.
async fn split_shares(
    conn: &mut AnyConnection,
    order: Uuid,
    shares: &[Share],
    expires_at: Timestamp,
) -> StoreResult<(Vec<AllocationRecord>, Vec<StockCommand>)> {
    let (mut allocations, mut holds) = (vec![], vec![]);
    for (line_no, location, sku, quantity) in shares {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT owner, on_hand - reserved FROM stock_positions WHERE location_code = $1 AND sku_code = $2")
                .bind(location.as_str())
                .bind(sku.as_str())
                .fetch_all(&mut *conn)
                .await?;
        let free = rows.into_iter().map(|(o, n)| Ok((parse(Owner::parse(&o))?, n))).collect::<StoreResult<Vec<_>>>()?;
        let split =
            split_by_owner(&free, *quantity).map_err(|e| DomainError::rule(e.code, format!("{sku} at {location}: {}", e.message)))?;
        for (owner, take) in split {
            let reservation_id = Uuid::now_v7();
            let key = StockKey { location_code: location.clone(), sku_code: sku.clone(), owner: owner.clone() };
            let reference = Some(format!("order {order}"));
            holds.push(StockCommand::Reserve { reservation_id, key, quantity: Quantity::new(take)?, expires_at, reference });
            allocations.push(AllocationRecord {
                id: Uuid::now_v7(),
                line_no: *line_no,
                location_code: location.as_str().to_owned(),
                owner: owner.to_string(),
                quantity: take,
                reservation_id: Some(reservation_id),
                transfer_id: None,
            });
        }
    }
    Ok((allocations, holds))
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
