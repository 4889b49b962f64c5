//! Placing an order: decided ([`super::plan`]) off the write turn on a snapshot, so that a
//! refusal (sold out) never waits for the turn; in the turn the ledger decides its holds
//! again against the balances as they are then — decided anew in the turn when the stock
//! moved meanwhile — and the order, its lines, allocations, holds and events are written with
//! a fixed number of multi-row statements whatever its size.

use sqlx::AnyConnection;
use tongjia_domain::DomainError;
use tongjia_domain::codes::LocationCode;
use tongjia_domain::events::{EventType, OrderMoved, PointsChanged};
use tongjia_domain::orders::{OrderAction, OrderLine, OrderPolicy, OrderStatus, next_status};
use uuid::Uuid;

use super::combined::{Placement, write_placements};
use super::load::{load_order, to_domain};
use super::plan::{Plan, plan};
use super::records::{AllocationRecord, NewOrder, OrderRecord, order_not_found};
use crate::combine::{Answer, Combined};
use crate::error::{StoreError, StoreResult};
use crate::stock::{Together, decide_together};
use crate::tx::{Idem, OutboxRow, ROWS_PER_STATEMENT, WriteTx, placeholders, placeholders_typed};
use crate::{Db, us};

impl<T> WriteTx<'_, T> {
    /// Moves a customer's points, never below zero, with its reason: the `points.changed`
    /// event to publish (none for no move).
    pub(crate) async fn points(
        &mut self,
        mobile: &str,
        order: Uuid,
        delta: i64,
        reason: &str,
        locations: &[LocationCode],
    ) -> StoreResult<Option<(EventType, String, String)>> {
        if delta == 0 {
            return Ok(None);
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
        let changed =
            PointsChanged { mobile: mobile.to_owned(), order_id: order, delta, reason: reason.to_owned(), locations: locations.to_vec() };
        Ok(Some((EventType::PointsChanged, mobile.to_owned(), json(&changed)?)))
    }

    /// Loads an order for an action, refusing an unknown one.
    pub(crate) async fn order(&mut self, id: Uuid) -> StoreResult<OrderRecord> {
        load_order(self.conn(), id).await?.ok_or_else(|| order_not_found(id))
    }
}

impl Db {
    /// Places an order: prices every line from the price book (member prices for members),
    /// sources and reserves its stock, redeems points — one transaction, `order.placed` and
    /// `order.reserved` published. The pickup code is in the answer and nowhere else.
    pub async fn place_order(&self, new: NewOrder, policy: &OrderPolicy, idem: Option<&Idem<'_, OrderRecord>>) -> StoreResult<OrderRecord> {
        let now = crate::stored(self.now());
        for _ in 0..SNAPSHOT_TRIES {
            let Some(mut decided) = self.plan_off_turn(&new, policy, now, idem).await? else { break };
            if decided.order.points_redeemed == 0 {
                decided.order.status = next_status(decided.order.fulfilment, decided.order.status, OrderAction::Reserve)?;
                match self.place_combined(decided, now, idem).await? {
                    Ok(order) => return Ok(order),
                    Err(Combined::Taken) => break,
                    Err(_) => continue,
                }
            }
            // The key is claimed once the holds stand, so a near miss writes nothing at all.
            let mut tx = self.begin_unclaimed(now).await?;
            match hold(&mut tx, &decided).await? {
                Ok(holds) => return write_placed(tx.claim(idem).await?, decided.order, &holds).await,
                // The stock moved since the snapshot: nothing written, the turn handed on,
                // decided again on a newer one (the sold-out are then refused off the turn).
                Err(_) => drop(tx),
            }
        }
        let mut tx = self.begin(idem, now).await?;
        let decided = plan(tx.conn(), &new, policy, now, &self.store_sites().await?).await?;
        let holds = hold(&mut tx, &decided).await?.map_err(StoreError::from)?;
        write_placed(tx, decided.order, &holds).await
    }

    /// Writes a placement decided off the turn together with the others queued for the turn
    /// ([`super::combined`]): the order (as reserved, its answer rendered now) once committed,
    /// or why it was not written.
    async fn place_combined(
        &self,
        plan: Plan,
        now: jiff::Timestamp,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<Result<OrderRecord, Combined>> {
        let answer = Answer::of(idem, &plan.order);
        let placement = Placement { order: plan.order.clone(), holds: plan.holds, now, answer: answer.clone() };
        match self.placements.write(&self.writer, placement, write_placements).await? {
            Combined::Written => {
                answer.give(idem);
                Ok(Ok(plan.order))
            }
            other => Ok(Err(other)),
        }
    }

    /// The placement decided on one snapshot of the read pool. A refusal there stands — it
    /// was true of the committed state at one instant while the request ran — unless the
    /// request's key was used meanwhile: then `None`, and the turn replays that answer.
    async fn plan_off_turn(
        &self,
        new: &NewOrder,
        policy: &OrderPolicy,
        now: jiff::Timestamp,
        idem: Option<&Idem<'_, OrderRecord>>,
    ) -> StoreResult<Option<Plan>> {
        // One snapshot for every query of the plan: a unit taken between the candidates'
        // query and the owners' must not read as sold out.
        let sites = self.store_sites().await?;
        let planned = {
            let mut conn = self.read.acquire().await?;
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            self.backend.take_snapshot(&mut tx).await?;
            let planned = plan(&mut tx, new, policy, now, &sites).await;
            tx.rollback().await?;
            planned
        };
        match planned {
            Ok(p) => Ok(Some(p)),
            Err(StoreError::Domain(e)) if !self.key_used(idem).await? => Err(e.into()),
            Err(StoreError::Domain(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Placements decided off the turn before one is decided in it: each try that finds the
/// stock moved hands the turn on at once, so only a run of near misses reaches the last.
pub(super) const SNAPSHOT_TRIES: usize = 3;

/// The plan's holds checked and decided by the ledger against the balances as they are in
/// the turn; a refusal (the stock moved) as the inner error, nothing written.
async fn hold<T>(tx: &mut WriteTx<'_, T>, plan: &Plan) -> StoreResult<Result<Together, DomainError>> {
    let now = tx.now;
    Ok(decide_together(tx.conn(), &plan.holds, Default::default(), now).await?.map_err(|(_, e)| e))
}

/// Writes a placed order with its holds and commits with it, reserved, as the answer: the
/// member (if new), the order, its lines, holds and allocations, and its events — the holds',
/// `order.placed`, the points redeemed, `order.reserved` — in that order.
async fn write_placed(mut tx: WriteTx<'_, OrderRecord>, mut order: OrderRecord, holds: &Together) -> StoreResult<OrderRecord> {
    let now = tx.now;
    order.status = next_status(order.fulfilment, order.status, OrderAction::Reserve)?;
    write_rows(tx.conn(), &[&order], holds, now).await?;
    let (mut events, moved) = placed_events(&order, holds, 0..holds.decisions.len())?;
    if let Some(m) = order.customer_mobile.clone() {
        let locations = to_domain(&order)?.locations();
        events.extend(tx.points(&m, order.id, -order.points_redeemed, "redeemed on an order", &locations).await?);
    }
    events.push(moved);
    tx.emit_many(&events).await?;
    tx.commit(order).await
}

/// The rows of placed orders (each as it stands once reserved) and of the holds decided for
/// them: members first seen, orders, lines, the ledger's entries, balances and holds, and
/// allocations — a few multi-row statements whatever their number.
pub(super) async fn write_rows(
    conn: &mut AnyConnection,
    orders: &[&OrderRecord],
    holds: &Together,
    now: jiff::Timestamp,
) -> StoreResult<()> {
    let members: Vec<&str> = orders.iter().filter_map(|o| o.customer_mobile.as_deref()).collect();
    for chunk in members.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO customers (mobile, points_balance, created_at_us) VALUES {} ON CONFLICT (mobile) DO NOTHING",
            placeholders(conn, chunk.len(), 3)
        );
        let q = chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, m| q.bind(*m).bind(0_i64).bind(us(now)));
        q.execute(&mut *conn).await?;
    }
    insert_orders(conn, orders).await?;
    insert_lines(conn, orders).await?;
    holds.write(conn, now).await?;
    insert_allocations(conn, orders).await
}

/// A placed order's events but its points': its holds' (the decisions in `holds`), then
/// `order.placed`; and `order.reserved`, which comes last.
pub(super) fn placed_events(
    order: &OrderRecord,
    holds: &Together,
    range: std::ops::Range<usize>,
) -> StoreResult<(Vec<OutboxRow>, OutboxRow)> {
    let mut events = holds.events_of(range)?;
    let mut placed = order.clone();
    placed.status = OrderStatus::Placed;
    events.push((EventType::OrderPlaced, order.id.to_string(), json(&placed)?));
    let locations = to_domain(order)?.locations();
    let moved = OrderMoved { order_id: order.id, status: order.status, action: OrderAction::Reserve, locations };
    Ok((events, (EventType::order_moved(order.status), order.id.to_string(), json(&moved)?)))
}

pub(super) fn json(value: &impl serde::Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Columns of `orders` bound as text and cast: optional coordinates travel as text, since
/// sqlx's Any driver types a missing f64 as a float4 on PostgreSQL, which the float8 column
/// then refuses (`to_string` round-trips).
const COORDINATES: [(usize, &str); 2] = [(9, "DOUBLE PRECISION"), (10, "DOUBLE PRECISION")];

async fn insert_orders(conn: &mut AnyConnection, orders: &[&OrderRecord]) -> StoreResult<()> {
    for chunk in orders.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO orders (id, channel, store_code, fulfilment, status, customer_mobile, pickup_store_code, pickup_code, \
             destination_longitude, destination_latitude, destination_county_code, subtotal_fen, discount_fen, total_fen, points_redeemed, \
             expires_at_us, placed_at_us, updated_at_us, sourcing) VALUES {}",
            placeholders_typed(conn, chunk.len(), 19, &COORDINATES)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for o in chunk {
            q = q
                .bind(o.id.to_string())
                .bind(if o.store_code.is_some() { "store" } else { "online" })
                .bind(o.store_code.clone())
                .bind(o.fulfilment.as_str())
                .bind(o.status.as_str())
                .bind(o.customer_mobile.clone())
                .bind(o.pickup_store_code.clone())
                .bind(o.pickup_code.clone())
                .bind(o.destination.map(|p| p.longitude.to_string()))
                .bind(o.destination.map(|p| p.latitude.to_string()))
                .bind(o.destination_county_code.clone())
                .bind(o.subtotal.get())
                .bind(o.discount.get())
                .bind(o.total.get())
                .bind(o.points_redeemed)
                .bind(us(o.expires_at))
                .bind(us(o.placed_at))
                .bind(us(o.placed_at))
                .bind(o.sourcing.as_ref().map(json).transpose()?);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_lines(conn: &mut AnyConnection, orders: &[&OrderRecord]) -> StoreResult<()> {
    let lines: Vec<(Uuid, &OrderLine)> = orders.iter().flat_map(|o| o.lines.iter().map(|l| (o.id, l))).collect();
    for chunk in lines.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO order_lines (order_id, line_no, sku_code, quantity, unit_price_fen, list_price_fen, price_version, points_redeemed, \
             discount_fen, paid_fen) VALUES {}",
            placeholders(conn, chunk.len(), 10)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (order, l) in chunk {
            q = q
                .bind(order.to_string())
                .bind(l.line_no)
                .bind(l.sku_code.as_str())
                .bind(l.quantity.get())
                .bind(l.unit_price.get())
                .bind(l.list_price.get())
                .bind(l.price_version)
                .bind(l.points_redeemed)
                .bind(l.discount.get())
                .bind(l.paid.get());
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

async fn insert_allocations(conn: &mut AnyConnection, orders: &[&OrderRecord]) -> StoreResult<()> {
    let allocations: Vec<(Uuid, &AllocationRecord)> = orders.iter().flat_map(|o| o.allocations.iter().map(|a| (o.id, a))).collect();
    for chunk in allocations.chunks(ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO order_allocations (id, order_id, line_no, location_code, owner, quantity, reservation_id) VALUES {}",
            placeholders(conn, chunk.len(), 7)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (order, a) in chunk {
            q = q
                .bind(a.id.to_string())
                .bind(order.to_string())
                .bind(a.line_no)
                .bind(a.location_code.clone())
                .bind(a.owner.clone())
                .bind(a.quantity)
                .bind(a.reservation_id.map(|r| r.to_string()));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
