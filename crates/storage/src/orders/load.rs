//! Loading orders: any number of them in a fixed number of queries (one per table), and the
//! facts an action on one needs (its holds, transfers and the member's points).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::HashMap;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::ledger::{Quantity, Reservation, Transfer};
use tongjia_domain::orders::{Allocation, Order, OrderLine};
use tongjia_domain::{DomainError, Fen};
use uuid::Uuid;

use super::records::{AllocationRecord, OrderRecord, PaymentRecord, ReturnRecord, order_from_row};
use crate::error::{StoreError, StoreResult, parse};
use crate::stock::{load_reservations, load_transfers};
use crate::ts;

pub(crate) fn id_of(raw: &str) -> StoreResult<Uuid> {
    Uuid::parse_str(raw).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn opt_id(r: &AnyRow, col: &str) -> StoreResult<Option<Uuid>> {
    let raw: Option<String> = r.try_get(col)?;
    raw.as_deref().map(id_of).transpose()
}

/// `SELECT … FROM table WHERE column IN (?) ORDER BY …` for `ids`, in one round trip: the
/// `(?)` becomes one bound placeholder per id (only placeholders are spliced in, never values).
async fn rows_for(conn: &mut AnyConnection, sql: &'static str, ids: &[String]) -> StoreResult<Vec<AnyRow>> {
    let list = (1..=ids.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
    let sql = sql.replace("(?)", &format!("({list})"));
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
    for id in ids {
        query = query.bind(id.clone());
    }
    Ok(query.fetch_all(conn).await?)
}

fn line_from_row(l: &AnyRow) -> StoreResult<OrderLine> {
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
}

fn allocation_from_row(a: &AnyRow) -> StoreResult<AllocationRecord> {
    Ok(AllocationRecord {
        id: id_of(a.try_get("id")?)?,
        line_no: a.try_get("line_no")?,
        location_code: a.try_get("location_code")?,
        owner: a.try_get("owner")?,
        quantity: a.try_get("quantity")?,
        reservation_id: opt_id(a, "reservation_id")?,
        transfer_id: opt_id(a, "transfer_id")?,
    })
}

fn payment_from_row(p: &AnyRow) -> StoreResult<PaymentRecord> {
    Ok(PaymentRecord {
        id: id_of(p.try_get("id")?)?,
        kind: p.try_get("kind")?,
        amount: Fen::new(p.try_get("amount_fen")?),
        external_reference: p.try_get("external_reference")?,
        method: p.try_get("method")?,
        recorded_at: ts(p.try_get("recorded_at_us")?)?,
        state: p.try_get("state")?,
    })
}

/// Orders by id with their lines, allocations, payments and returns: six queries whatever
/// the number of orders. Unknown ids are left out; the rest come in the order asked.
pub(crate) async fn load_orders(conn: &mut AnyConnection, ids: &[Uuid]) -> StoreResult<Vec<OrderRecord>> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let keys: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    let mut orders: HashMap<String, OrderRecord> = HashMap::new();
    for r in rows_for(&mut *conn, "SELECT * FROM orders WHERE id IN (?)", &keys).await? {
        orders.insert(r.try_get("id")?, order_from_row(&r)?);
    }
    let order_of = |r: &AnyRow| -> StoreResult<String> { Ok(r.try_get("order_id")?) };
    for r in rows_for(&mut *conn, "SELECT * FROM order_lines WHERE order_id IN (?) ORDER BY order_id, line_no", &keys).await? {
        if let Some(o) = orders.get_mut(&order_of(&r)?) {
            o.lines.push(line_from_row(&r)?);
        }
    }
    for r in rows_for(&mut *conn, "SELECT * FROM order_allocations WHERE order_id IN (?) ORDER BY order_id, line_no, id", &keys).await? {
        if let Some(o) = orders.get_mut(&order_of(&r)?) {
            o.allocations.push(allocation_from_row(&r)?);
        }
    }
    for r in rows_for(&mut *conn, "SELECT * FROM payments WHERE order_id IN (?) ORDER BY order_id, recorded_at_us, id", &keys).await? {
        if let Some(o) = orders.get_mut(&order_of(&r)?) {
            o.payments.push(payment_from_row(&r)?);
        }
    }
    let mut return_of: HashMap<String, String> = HashMap::new();
    for r in rows_for(&mut *conn, "SELECT * FROM returns WHERE order_id IN (?) ORDER BY order_id, recorded_at_us, id", &keys).await? {
        let rid: String = r.try_get("id")?;
        return_of.insert(rid.clone(), r.try_get("order_id")?);
        let ret = ReturnRecord {
            id: id_of(&rid)?,
            store_code: r.try_get("store_code")?,
            refund: Fen::new(r.try_get("refund_fen")?),
            points_restored: r.try_get("points_restored")?,
            points_reversed: r.try_get("points_reversed")?,
            lines: vec![],
            recorded_at: ts(r.try_get("recorded_at_us")?)?,
        };
        if let Some(o) = orders.get_mut(&order_of(&r)?) {
            o.returns.push(ret);
        }
    }
    let return_ids: Vec<String> = return_of.keys().cloned().collect();
    if !return_ids.is_empty() {
        let sql = "SELECT return_id, line_no, quantity, CAST(damaged AS INTEGER) AS damaged, refund_fen FROM return_lines WHERE return_id IN (?) ORDER BY return_id, line_no";
        for r in rows_for(&mut *conn, sql, &return_ids).await? {
            let rid: String = r.try_get("return_id")?;
            let line =
                (r.try_get("line_no")?, r.try_get("quantity")?, r.try_get::<i64, _>("damaged")? != 0, Fen::new(r.try_get("refund_fen")?));
            let order = return_of.get(&rid).and_then(|o| orders.get_mut(o));
            if let Some(ret) = order.and_then(|o| o.returns.iter_mut().find(|x| x.id.to_string() == rid)) {
                ret.lines.push(line);
            }
        }
    }
    Ok(keys.iter().filter_map(|k| orders.remove(k)).collect())
}

/// One order with everything that happened to it.
pub(crate) async fn load_order(conn: &mut AnyConnection, id: Uuid) -> StoreResult<Option<OrderRecord>> {
    Ok(load_orders(conn, &[id]).await?.pop())
}

/// What an action on an order decides from.
pub(crate) struct OrderFacts {
    pub order: Order,
    pub holds: Vec<Reservation>,
    pub transfers: Vec<Transfer>,
    pub points_balance: i64,
}

/// The order in the domain's terms, with its holds, transfers and the member's balance.
pub(crate) async fn order_facts(conn: &mut AnyConnection, r: &OrderRecord) -> StoreResult<OrderFacts> {
    // Every hold and transfer in one query each, kept in allocation order.
    let hold_ids: Vec<Uuid> = r.allocations.iter().filter_map(|a| a.reservation_id).collect();
    let transfer_ids: Vec<Uuid> = r.allocations.iter().filter_map(|a| a.transfer_id).collect();
    let mut found = load_reservations(&mut *conn, &hold_ids).await?;
    let holds = hold_ids
        .iter()
        .map(|id| found.remove(id).ok_or_else(|| StoreError::Corrupt(format!("no reservation {id}"))))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut moving = load_transfers(&mut *conn, &transfer_ids).await?;
    let transfers: Vec<Transfer> = transfer_ids.iter().filter_map(|id| moving.remove(id)).collect();
    let points_balance = match &r.customer_mobile {
        Some(m) => sqlx::query_scalar("SELECT points_balance FROM customers WHERE mobile = $1")
            .bind(m)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0),
        None => 0,
    };
    Ok(OrderFacts { order: to_domain(r)?, holds, transfers, points_balance })
}

pub(crate) fn to_domain(r: &OrderRecord) -> StoreResult<Order> {
    let allocations = r
        .allocations
        .iter()
        .map(|a| {
            Ok(Allocation {
                id: a.id,
                line_no: a.line_no,
                location_code: parse(LocationCode::parse(&a.location_code))?,
                owner: parse(Owner::parse(&a.owner))?,
                quantity: parse(Quantity::new(a.quantity))?,
                reservation_id: a.reservation_id,
                transfer_id: a.transfer_id,
            })
        })
        .collect::<StoreResult<_>>()?;
    let pickup_store =
        r.pickup_store_code.as_deref().map(LocationCode::parse).transpose().map_err(|e: DomainError| StoreError::Corrupt(e.to_string()))?;
    let store =
        r.store_code.as_deref().map(LocationCode::parse).transpose().map_err(|e: DomainError| StoreError::Corrupt(e.to_string()))?;
    Ok(Order {
        id: r.id,
        fulfilment: r.fulfilment,
        status: r.status,
        customer: r.customer_mobile.clone(),
        store,
        pickup_store,
        pickup_code: r.pickup_code.clone(),
        pickup_attempts: r.pickup_attempts,
        lines: r.lines.clone(),
        allocations,
        total: r.total,
        paid: r.paid,
        refunded: r.refunded,
        points_redeemed: r.points_redeemed,
        points_earned: r.points_earned,
        points_reversed: r.points_reversed,
        payment_method: r.payments.iter().find(|p| p.kind == "payment").map(|p| p.method.clone()),
        payment_reference: r.payments.iter().find(|p| p.kind == "payment").map(|p| p.external_reference.clone()),
        expires_at: r.expires_at,
        paid_at: r.paid_at,
        fulfilled_at: r.fulfilled_at,
        completed_at: r.completed_at,
        cancelled_at: r.cancelled_at,
    })
}
