//! The stock ledger's storage: one entry point, [`Db::execute`], for every stock command.
//! It loads what the command touches, lets [`tongjia_domain::ledger::decide`] decide, and
//! writes entries, balances, records and the event in the caller's transaction.

use jiff::Timestamp;
use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use std::collections::{BTreeSet, HashMap};
use tongjia_domain::DomainError;
use tongjia_domain::codes::{LocationCode, Owner, PartnerCode, SkuCode};
use tongjia_domain::events::EventType;
use tongjia_domain::ledger::{
    Availability, Decision, Entry, EntryKind, LedgerView, Position, Quantity, Reservation, ReservationStatus, StockCommand, StockKey,
    Transfer, TransferStatus, check_status, decide,
};
use tongjia_domain::location::LocationStatus;
use tongjia_domain::orders::{OrderHold, OrderPolicy, OrderStatus, check_outside_command, when_due};
use uuid::Uuid;

use crate::bulk::{Bulk, BulkRows, Refusals};
use crate::catalog::{sku_exists, unknown_sku};
use crate::error::{StoreError, StoreResult, parse};
use crate::locations::unknown_location;
use crate::page::{Page, PageRequest};
use crate::tx::{Idem, ROWS_PER_STATEMENT, WriteTx, existing_codes, marks, placeholders};
use crate::{Db, ts, us};

/// A balance with the location's safety stock and what is available to promise.
#[derive(Debug, Clone, Serialize)]
pub struct PositionRecord {
    pub key: StockKey,
    pub position: Position,
    pub updated_at: Timestamp,
}

/// A stored ledger entry.
#[derive(Debug, Clone, Serialize)]
pub struct EntryRecord {
    pub seq: i64,
    pub id: String,
    pub command_id: String,
    pub entry: tongjia_domain::ledger::Entry,
    pub recorded_at: Timestamp,
}

/// The columns of a ledger entry, as one literal for `concat!`.
macro_rules! entry_columns {
    () => {
        "seq, id, command_id, kind, location_code, sku_code, owner, on_hand_delta, reserved_delta, damaged_delta, reservation_id, transfer_id, \
         reference, recorded_at_us"
    };
}

fn entry_from_row(r: &sqlx::any::AnyRow) -> StoreResult<EntryRecord> {
    Ok(EntryRecord {
        seq: r.try_get("seq")?,
        id: r.try_get("id")?,
        command_id: r.try_get("command_id")?,
        entry: tongjia_domain::ledger::Entry {
            kind: parse(EntryKind::parse(r.try_get("kind")?))?,
            key: key_from_row(r, "location_code")?,
            on_hand_delta: r.try_get("on_hand_delta")?,
            reserved_delta: r.try_get("reserved_delta")?,
            damaged_delta: r.try_get("damaged_delta")?,
            reservation_id: uuid(r.try_get("reservation_id")?)?,
            transfer_id: uuid(r.try_get("transfer_id")?)?,
            reference: r.try_get("reference")?,
        },
        recorded_at: ts(r.try_get("recorded_at_us")?)?,
    })
}

/// Filters for balances and entries; all optional.
#[derive(Debug, Clone, Default)]
pub struct StockFilter {
    pub location_code: Option<String>,
    pub sku_code: Option<String>,
    pub owner: Option<String>,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

impl StockFilter {
    /// Binds the three `(? IS NULL OR column = ?)` pairs of this filter, in order.
    fn bind<'q>(&self, query: AnyQuery<'q>) -> AnyQuery<'q> {
        query
            .bind(self.location_code.clone())
            .bind(self.location_code.clone())
            .bind(self.sku_code.clone())
            .bind(self.sku_code.clone())
            .bind(self.owner.clone())
            .bind(self.owner.clone())
    }
}

fn position_from_row(r: &AnyRow) -> StoreResult<Position> {
    Ok(Position { on_hand: r.try_get("on_hand")?, reserved: r.try_get("reserved")?, damaged: r.try_get("damaged")? })
}

fn uuid(raw: Option<String>) -> StoreResult<Option<Uuid>> {
    raw.map(|s| Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(e.to_string()))).transpose()
}

fn key_from_row(r: &AnyRow, location_col: &str) -> StoreResult<StockKey> {
    Ok(StockKey {
        location_code: parse(LocationCode::parse(r.try_get(location_col)?))?,
        sku_code: parse(SkuCode::parse(r.try_get("sku_code")?))?,
        owner: parse(Owner::parse(r.try_get("owner")?))?,
    })
}

const RESERVATION_COLUMNS: &str = "id, location_code, sku_code, owner, quantity, expires_at_us, status, reference";
const TRANSFER_COLUMNS: &str = "id, from_location_code, to_location_code, sku_code, owner, quantity, status";

fn reservation_from_row(r: &AnyRow) -> StoreResult<Reservation> {
    Ok(Reservation {
        id: Uuid::parse_str(r.try_get("id")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        key: key_from_row(r, "location_code")?,
        quantity: parse(Quantity::new(r.try_get("quantity")?))?,
        expires_at: ts(r.try_get("expires_at_us")?)?,
        status: parse(ReservationStatus::parse(r.try_get("status")?))?,
        reference: r.try_get("reference")?,
    })
}

fn transfer_from_row(r: &AnyRow) -> StoreResult<Transfer> {
    Ok(Transfer {
        id: Uuid::parse_str(r.try_get("id")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        from: key_from_row(r, "from_location_code")?,
        to_location_code: parse(LocationCode::parse(r.try_get("to_location_code")?))?,
        quantity: parse(Quantity::new(r.try_get("quantity")?))?,
        status: parse(TransferStatus::parse(r.try_get("status")?))?,
    })
}

pub(crate) async fn load_reservation(conn: &mut AnyConnection, id: Uuid) -> StoreResult<Option<Reservation>> {
    Ok(load_reservations(conn, &[id]).await?.remove(&id))
}

pub(crate) async fn load_transfer(conn: &mut AnyConnection, id: Uuid) -> StoreResult<Option<Transfer>> {
    Ok(load_transfers(conn, &[id]).await?.remove(&id))
}

/// The reservations among `ids`, by id, a query per 200.
pub(crate) async fn load_reservations(conn: &mut AnyConnection, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Reservation>> {
    rows_by_id(conn, RESERVATION_COLUMNS, "reservations", ids, |r| reservation_from_row(r).map(|x| (x.id, x))).await
}

/// The transfers among `ids`, by id, a query per 200.
pub(crate) async fn load_transfers(conn: &mut AnyConnection, ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Transfer>> {
    rows_by_id(conn, TRANSFER_COLUMNS, "transfers", ids, |r| transfer_from_row(r).map(|x| (x.id, x))).await
}

/// The rows of `table` (keyed by `id`) among `ids`, as `from_row` reads them, a query per 200.
async fn rows_by_id<T>(
    conn: &mut AnyConnection,
    columns: &str,
    table: &str,
    ids: &[Uuid],
    from_row: fn(&AnyRow) -> StoreResult<(Uuid, T)>,
) -> StoreResult<HashMap<Uuid, T>> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("SELECT {columns} FROM {table} WHERE id IN ({})", marks(1, chunk.len()));
        let rows = chunk.iter().fold(sqlx::query(sqlx::AssertSqlSafe(sql)), |q, id| q.bind(id.to_string())).fetch_all(&mut *conn).await?;
        for r in &rows {
            let (id, x) = from_row(r)?;
            found.insert(id, x);
        }
    }
    Ok(found)
}

/// The order a reservation is held for, with the order's status, if any.
pub(crate) async fn load_hold(conn: &mut AnyConnection, reservation: Uuid) -> StoreResult<Option<OrderHold>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT o.id, o.status FROM order_allocations a JOIN orders o ON o.id = a.order_id WHERE a.reservation_id = $1")
            .bind(reservation.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    order_hold(row)
}

/// The order a transfer carries goods for, with the order's status, if any.
async fn load_transfer_order(conn: &mut AnyConnection, transfer: Uuid) -> StoreResult<Option<OrderHold>> {
    let row: Option<(String, String)> =
        sqlx::query_as("SELECT o.id, o.status FROM order_allocations a JOIN orders o ON o.id = a.order_id WHERE a.transfer_id = $1")
            .bind(transfer.to_string())
            .fetch_optional(&mut *conn)
            .await?;
    order_hold(row)
}

fn order_hold(row: Option<(String, String)>) -> StoreResult<Option<OrderHold>> {
    row.map(|(id, status)| {
        Ok(OrderHold {
            order_id: Uuid::parse_str(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            status: parse(OrderStatus::parse(&status))?,
        })
    })
    .transpose()
}

/// The locations, SKUs and owners a command names.
type Codes<'a> = (Vec<&'a LocationCode>, Vec<&'a SkuCode>, Vec<&'a Owner>);

fn codes(cmd: &StockCommand) -> Codes<'_> {
    match cmd {
        StockCommand::Receive { key, .. }
        | StockCommand::Adjust { key, .. }
        | StockCommand::Count { key, .. }
        | StockCommand::Sell { key, .. }
        | StockCommand::Return { key, .. }
        | StockCommand::DisposeDamaged { key, .. }
        | StockCommand::Reserve { key, .. } => (vec![&key.location_code], vec![&key.sku_code], vec![&key.owner]),
        StockCommand::TransferOut { from, to_location_code, .. } => {
            (vec![&from.location_code, to_location_code], vec![&from.sku_code], vec![&from.owner])
        }
        StockCommand::SetSafetyStock { location_code, sku_code, .. } => (vec![location_code], vec![sku_code], vec![]),
        StockCommand::Release { .. }
        | StockCommand::Expire { .. }
        | StockCommand::Commit { .. }
        | StockCommand::Extend { .. }
        | StockCommand::TransferIn { .. } => (vec![], vec![], vec![]),
    }
}

/// Reads the references of many commands in a few set-based queries into `known` (what
/// [`check_references`] then finds there instead of a query per code). A code not found is
/// left out, for `check_references` to refuse.
async fn prefetch_references(conn: &mut AnyConnection, cmds: &[StockCommand], known: &mut HashMap<String, String>) -> StoreResult<()> {
    let (mut locations, mut skus, mut partners) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
    for cmd in cmds {
        let (l, s, o) = codes(cmd);
        locations.extend(l.into_iter().map(LocationCode::as_str).filter(|c| !known.contains_key(&format!("L|{c}"))));
        skus.extend(s.into_iter().map(SkuCode::as_str).filter(|c| !known.contains_key(&format!("S|{c}"))));
        partners.extend(o.into_iter().filter_map(|o| match o {
            Owner::Partner(p) if !known.contains_key(&format!("P|{p}")) => Some(p.as_str()),
            _ => None,
        }));
    }
    let locations: Vec<&str> = locations.into_iter().collect();
    for chunk in locations.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("SELECT code, status, partner_code FROM locations WHERE code IN ({})", marks(1, chunk.len()));
        let rows: Vec<(String, String, Option<String>)> =
            chunk.iter().fold(sqlx::query_as(sqlx::AssertSqlSafe(sql)), |q, c| q.bind(*c)).fetch_all(&mut *conn).await?;
        for (code, status, partner) in rows {
            known.insert(format!("L|{code}"), format!("{status}|{}", partner.unwrap_or_default()));
        }
    }
    for (table, tag, codes) in [("skus", 'S', skus.into_iter().collect::<Vec<_>>()), ("partners", 'P', partners.into_iter().collect())] {
        for code in existing_codes(&mut *conn, table, &codes).await? {
            known.insert(format!("{tag}|{code}"), String::new());
        }
    }
    Ok(())
}

/// Locations [`Db::availability_in`] reads by their keys at most; past this one index range
/// over the SKU's balances is cheaper than thousands of lookups.
pub(crate) const BY_KEY_MAX: usize = 2_000;

/// Availability rows as read: location, its status, on hand, reserved, safety stock.
fn availability_rows(rows: Vec<(String, String, i64, i64, i64)>) -> StoreResult<Vec<(LocationCode, LocationStatus, Availability)>> {
    rows.into_iter()
        .map(|(l, status, on_hand, reserved, safety)| {
            Ok((parse(LocationCode::parse(&l))?, parse(LocationStatus::parse(&status))?, Availability::new(on_hand, reserved, safety)))
        })
        .collect()
}

/// Refuses keys naming a location, SKU or partner that does not exist.
/// `known` remembers codes already checked in this transaction (bulk imports check each once).
async fn check_references(conn: &mut AnyConnection, cmd: &StockCommand, known: &mut HashMap<String, String>) -> StoreResult<()> {
    let (locations, skus, owners) = codes(cmd);
    // Every code must exist before any rule about them is decided.
    let mut facts = Vec::with_capacity(locations.len());
    for l in locations {
        let key = format!("L|{l}");
        let known_facts = match known.get(&key) {
            Some(f) => f.clone(),
            None => {
                let row: Option<(String, Option<String>)> = sqlx::query_as("SELECT status, partner_code FROM locations WHERE code = $1")
                    .bind(l.as_str())
                    .fetch_optional(&mut *conn)
                    .await?;
                let (status, partner) = row.ok_or_else(|| unknown_location(l.as_str()))?;
                let f = format!("{status}|{}", partner.unwrap_or_default());
                known.insert(key, f.clone());
                f
            }
        };
        facts.push((l, known_facts));
    }
    for s in skus {
        let key = format!("S|{s}");
        if known.contains_key(&key) {
            continue;
        }
        if sku_exists(&mut *conn, s.as_str()).await?.is_none() {
            return Err(unknown_sku(s.as_str()));
        }
        known.insert(key, String::new());
    }
    for o in owners {
        if let Owner::Partner(p) = o {
            let key = format!("P|{p}");
            if known.contains_key(&key) {
                continue;
            }
            let found: Option<String> =
                sqlx::query_scalar("SELECT code FROM partners WHERE code = $1").bind(p.as_str()).fetch_optional(&mut *conn).await?;
            if found.is_none() {
                return Err(DomainError::rule("unknown_partner", format!("no partner {p}")).at("owner").into());
            }
            known.insert(key, String::new());
        }
    }
    for (l, f) in facts {
        let (status, partner) = f.split_once('|').unwrap_or((&f, ""));
        let partner = (!partner.is_empty()).then(|| PartnerCode::parse(partner)).transpose();
        check_status(cmd, l, parse(LocationStatus::parse(status))?, parse(partner)?.as_ref())?;
    }
    Ok(())
}

/// Loads the part of the ledger a command touches.
async fn load_view(conn: &mut AnyConnection, cmd: &StockCommand) -> StoreResult<LedgerView> {
    let mut view = LedgerView::default();
    let reservation = match cmd.reservation_ref() {
        Some(id) => load_reservation(&mut *conn, id).await?,
        None => None,
    };
    if let StockCommand::Reserve { reservation_id, .. } = cmd
        && let Some(r) = load_reservation(&mut *conn, *reservation_id).await?
    {
        view.reservations.insert(r.id, r);
    }
    let transfer = match cmd.transfer_ref() {
        Some(id) => load_transfer(&mut *conn, id).await?,
        None => None,
    };
    if let StockCommand::TransferOut { transfer_id, .. } = cmd
        && let Some(t) = load_transfer(&mut *conn, *transfer_id).await?
    {
        view.transfers.insert(t.id, t);
    }
    let pairs: BTreeSet<_> = cmd.pairs(reservation.as_ref(), transfer.as_ref()).into_iter().collect();
    for (location, sku) in pairs {
        // The pair's balances (one row per owner) and its safety stock, in one round trip:
        // the safety row is the one with no owner.
        let rows = sqlx::query(
            "SELECT location_code, sku_code, owner, on_hand, reserved, damaged FROM stock_positions WHERE location_code = $1 AND sku_code = $2 \
             UNION ALL SELECT location_code, sku_code, '' AS owner, quantity AS on_hand, 0 AS reserved, 0 AS damaged FROM safety_stock \
             WHERE location_code = $3 AND sku_code = $4",
        )
        .bind(location.as_str())
        .bind(sku.as_str())
        .bind(location.as_str())
        .bind(sku.as_str())
        .fetch_all(&mut *conn)
        .await?;
        let mut safety = 0;
        for r in rows {
            if r.try_get::<String, _>("owner")?.is_empty() {
                safety = r.try_get("on_hand")?;
            } else {
                view.positions.insert(key_from_row(&r, "location_code")?, position_from_row(&r)?);
            }
        }
        view.safety_stock.insert((location, sku), safety);
    }
    if let Some(r) = reservation {
        view.reservations.insert(r.id, r);
    }
    if let Some(t) = transfer {
        view.transfers.insert(t.id, t);
    }
    Ok(view)
}

/// Writes a decision: entries, balances, reservation, transfer, safety stock.
async fn write_decision(conn: &mut AnyConnection, d: &Decision, now: Timestamp) -> StoreResult<()> {
    write_entries(&mut *conn, std::slice::from_ref(d), now).await?;
    let positions: Vec<(&StockKey, &Position)> = d.positions.iter().map(|(k, p)| (k, p)).collect();
    write_positions(&mut *conn, &positions, now).await?;
    if let Some(r) = &d.reservation {
        write_reservations(&mut *conn, &[r], now).await?;
    }
    if let Some(t) = &d.transfer {
        write_transfer(&mut *conn, t, now).await?;
    }
    if let Some(s) = &d.safety_stock {
        sqlx::query(
            "INSERT INTO safety_stock (location_code, sku_code, quantity) VALUES ($1, $2, $3) \
             ON CONFLICT (location_code, sku_code) DO UPDATE SET quantity = excluded.quantity",
        )
        .bind(s.location_code.as_str())
        .bind(s.sku_code.as_str())
        .bind(s.quantity)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The subject of a decision's event: `LOCATION/SKU` of its first entry or record.
fn subject(d: &Decision) -> String {
    if let Some(e) = d.entries.first() {
        return format!("{}/{}", e.key.location_code, e.key.sku_code);
    }
    match &d.safety_stock {
        Some(s) => format!("{}/{}", s.location_code, s.sku_code),
        None => "stock".to_owned(),
    }
}

impl Db {
    /// The one entry point for every stock-changing command: decides it against the
    /// current ledger and writes the decision, its event and the idempotency record in
    /// one transaction. A refusal writes nothing.
    pub async fn execute(&self, cmd: StockCommand, idem: Option<&Idem<'_, Decision>>) -> StoreResult<Decision> {
        self.execute_at(cmd, idem, self.now()).await
    }

    /// [`Db::execute`] at a given instant (the sweeper's clock; tests).
    pub async fn execute_at(&self, mut cmd: StockCommand, idem: Option<&Idem<'_, Decision>>, now: Timestamp) -> StoreResult<Decision> {
        if let StockCommand::Reserve { expires_at, .. } = &mut cmd {
            *expires_at = crate::stored(*expires_at);
        }
        let mut tx = self.begin(idem, now).await?;
        let now = tx.now;
        // A hold that belongs to an order moves only with the order (pay, ship, cancel...):
        // the order flow's rule, decided in the domain.
        let order = match (cmd.reservation_ref(), cmd.transfer_ref()) {
            (Some(id), _) => load_hold(tx.conn(), id).await?,
            (None, Some(id)) => load_transfer_order(tx.conn(), id).await?,
            (None, None) => None,
        };
        check_outside_command(&cmd, order.as_ref())?;
        let decision = execute_in(tx.conn(), &cmd, now).await?;
        tx.emit(decision.event_type, &subject(&decision), &decision).await?;
        tx.commit(decision).await
    }

    /// Runs many commands in one transaction (imports): all succeed or nothing is written
    /// ([`Bulk`]). Refusals name the index of each command refused.
    pub async fn execute_all(&self, cmds: &[StockCommand], mode: Bulk, progress: impl FnMut(usize) + Send) -> Result<usize, Refusals> {
        self.bulk(&StockImport(cmds), mode, progress).await
    }

    /// The sweeper's step for one reservation whose time may be up at `now`: the order flow
    /// decides ([`when_due`]) — an expiry, or a renewal for a paid order's hold — and the
    /// ledger carries it out. `None` when there was nothing to do (already ended, not due).
    pub async fn sweep_reservation(&self, id: Uuid, policy: &OrderPolicy, now: Timestamp) -> StoreResult<Option<Decision>> {
        let mut tx = self.begin::<Option<Decision>>(None, now).await?;
        let now = tx.now;
        let Some(reservation) = load_reservation(tx.conn(), id).await? else { return Ok(None) };
        let hold = load_hold(tx.conn(), id).await?;
        let Some(cmd) = when_due(&reservation, hold.as_ref(), policy, now) else { return Ok(None) };
        let decision = execute_in(tx.conn(), &cmd, now).await?;
        tx.emit(decision.event_type, &subject(&decision), &decision).await?;
        tx.commit(Some(decision)).await
    }

    /// Ids of active reservations whose time is up at `now`, oldest first.
    pub async fn due_reservations(&self, now: Timestamp, limit: u32) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM reservations WHERE status = 'active' AND expires_at_us <= $1 ORDER BY expires_at_us LIMIT $2",
        )
        .bind(us(now))
        .bind(i64::from(limit))
        .fetch_all(&self.read)
        .await?;
        ids.into_iter().map(|s| Uuid::parse_str(&s).map_err(|e| StoreError::Corrupt(e.to_string()))).collect()
    }

    pub async fn reservation(&self, id: Uuid) -> StoreResult<Option<Reservation>> {
        let mut conn = self.read.acquire().await?;
        load_reservation(&mut conn, id).await
    }

    pub async fn transfer(&self, id: Uuid) -> StoreResult<Option<Transfer>> {
        let mut conn = self.read.acquire().await?;
        load_transfer(&mut conn, id).await
    }

    /// Reservations, newest first, by status and location/SKU (ids are time-ordered).
    pub async fn reservations(
        &self,
        status: Option<ReservationStatus>,
        f: &StockFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Reservation>> {
        let limit = page.limit()?;
        let after = page.after_key()?;
        let status = status.map(ReservationStatus::as_str);
        let sql = format!(
            "SELECT {RESERVATION_COLUMNS} FROM reservations WHERE ($1 = '' OR id < $2) AND ($3 IS NULL OR status = $4) AND ($5 IS NULL OR location_code = $6) \
             AND ($7 IS NULL OR sku_code = $8) AND ($9 IS NULL OR owner = $10) ORDER BY id DESC LIMIT $11"
        );
        let query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(after.clone()).bind(after).bind(status).bind(status);
        let rows = f.bind(query).bind(i64::from(limit) + 1).fetch_all(&self.read).await?;
        let out = rows.iter().map(reservation_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(out, limit, |r| r.id.to_string()))
    }

    /// Transfers, newest first, by status and either end (stock in transit: `in_transit`).
    pub async fn transfers(
        &self,
        status: Option<TransferStatus>,
        location: Option<&str>,
        sku: Option<&str>,
        page: &PageRequest,
    ) -> StoreResult<Page<Transfer>> {
        let limit = page.limit()?;
        let after = page.after_key()?;
        let status = status.map(TransferStatus::as_str);
        let sql = format!(
            "SELECT {TRANSFER_COLUMNS} FROM transfers WHERE ($1 = '' OR id < $2) AND ($3 IS NULL OR status = $4) \
             AND ($5 IS NULL OR from_location_code = $6 OR to_location_code = $7) AND ($8 IS NULL OR sku_code = $9) ORDER BY id DESC LIMIT $10"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&after)
            .bind(&after)
            .bind(status)
            .bind(status)
            .bind(location)
            .bind(location)
            .bind(location)
            .bind(sku)
            .bind(sku)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.read)
            .await?;
        let out = rows.iter().map(transfer_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(out, limit, |t| t.id.to_string()))
    }

    /// Balances, filtered, ordered by location, SKU, owner.
    pub async fn positions(&self, f: &StockFilter, page: &PageRequest) -> StoreResult<Page<PositionRecord>> {
        let limit = page.limit()?;
        let query = sqlx::query(
            "SELECT location_code, sku_code, owner, on_hand, reserved, damaged, updated_at_us FROM stock_positions \
             WHERE (location_code, sku_code, owner) > ($1, $2, $3) AND ($4 IS NULL OR location_code = $5) \
             AND ($6 IS NULL OR sku_code = $7) AND ($8 IS NULL OR owner = $9) ORDER BY location_code, sku_code, owner LIMIT $10",
        );
        let after = page.after_key()?;
        let mut parts = after.splitn(3, '|').map(str::to_owned);
        let (l, s, o) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let rows = f.bind(query.bind(l).bind(s).bind(o)).bind(i64::from(limit) + 1).fetch_all(&self.read).await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(PositionRecord {
                    key: key_from_row(r, "location_code")?,
                    position: position_from_row(r)?,
                    updated_at: ts(r.try_get("updated_at_us")?)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |p| format!("{}|{}|{}", p.key.location_code, p.key.sku_code, p.key.owner)))
    }

    /// Availability of a SKU at every location that holds or held it (or at `location`
    /// only), summed over owners, in code order. Each location's status comes along: only
    /// open locations can promise.
    pub async fn availability(
        &self,
        sku: &SkuCode,
        location: Option<&LocationCode>,
    ) -> StoreResult<Vec<(LocationCode, LocationStatus, Availability)>> {
        match location {
            Some(l) => self.availability_in(sku, &[l.as_str()]).await,
            None => self.availability_everywhere(sku).await,
        }
    }

    /// Every location's balances of `sku`, one index range.
    async fn availability_everywhere(&self, sku: &SkuCode) -> StoreResult<Vec<(LocationCode, LocationStatus, Availability)>> {
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT p.location_code, l.status, CAST(SUM(p.on_hand) AS BIGINT), CAST(SUM(p.reserved) AS BIGINT), COALESCE(MAX(s.quantity), 0) FROM stock_positions p \
             JOIN locations l ON l.code = p.location_code \
             LEFT JOIN safety_stock s ON s.location_code = p.location_code AND s.sku_code = p.sku_code \
             WHERE p.sku_code = $1 GROUP BY p.location_code, l.status ORDER BY p.location_code",
        )
        .bind(sku.as_str())
        .fetch_all(&self.read)
        .await?;
        availability_rows(rows)
    }

    /// Available to promise of `sku` at each of `locations` that holds it (summed over
    /// owners, less safety stock), whatever their status: what the locator asks of a batch of
    /// the nearest stores.
    pub async fn available_at(&self, sku: &SkuCode, locations: &[&str]) -> StoreResult<std::collections::HashMap<String, i64>> {
        let rows = self.availability_in(sku, locations).await?;
        Ok(rows.into_iter().map(|(l, _, a)| (l.to_string(), a.available)).collect())
    }

    /// [`Db::availability`] at `locations` only (those that hold or held the SKU), in code
    /// order: a query per 200 locations, each reading only their balances by the ledger's key
    /// — at a network of 20 million positions a province's few hundred stores cost a
    /// millisecond, where every location's balances of the SKU cost tens. Past
    /// [`BY_KEY_MAX`] locations, every location's balances in one index range instead.
    pub async fn availability_in(
        &self,
        sku: &SkuCode,
        locations: &[&str],
    ) -> StoreResult<Vec<(LocationCode, LocationStatus, Availability)>> {
        if locations.len() > BY_KEY_MAX {
            let kept: std::collections::HashSet<&str> = locations.iter().copied().collect();
            let mut every = self.availability_everywhere(sku).await?;
            every.retain(|(l, _, _)| kept.contains(l.as_str()));
            return Ok(every);
        }
        let mut out = vec![];
        for chunk in locations.chunks(ROWS_PER_STATEMENT) {
            let marks: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 2)).collect();
            let sql = format!(
                "SELECT p.location_code, l.status, CAST(SUM(p.on_hand) AS BIGINT), CAST(SUM(p.reserved) AS BIGINT), COALESCE(MAX(s.quantity), 0) \
                 FROM stock_positions p JOIN locations l ON l.code = p.location_code \
                 LEFT JOIN safety_stock s ON s.location_code = p.location_code AND s.sku_code = p.sku_code \
                 WHERE p.sku_code = $1 AND p.location_code IN ({}) GROUP BY p.location_code, l.status",
                marks.join(", ")
            );
            let query = sqlx::query_as::<_, (String, String, i64, i64, i64)>(sqlx::AssertSqlSafe(sql)).bind(sku.as_str());
            let rows = chunk.iter().fold(query, |q, l| q.bind(*l)).fetch_all(&self.read).await?;
            out.extend(availability_rows(rows)?);
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }

    /// The ledger entries of order `id`, oldest first: those of its holds and transfers, and
    /// of its returns (at most 1,000).
    pub async fn order_entries(&self, id: Uuid) -> StoreResult<Vec<EntryRecord>> {
        let order = id.to_string();
        let rows = sqlx::query(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM stock_entries WHERE reservation_id IN (SELECT reservation_id FROM order_allocations WHERE order_id = $1) \
             OR transfer_id IN (SELECT transfer_id FROM order_allocations WHERE order_id = $2) OR reference = $3 ORDER BY seq LIMIT 1000"
        ))
        .bind(&order)
        .bind(&order)
        .bind(format!("return of order {id}"))
        .fetch_all(&self.read)
        .await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Ledger entries, filtered, oldest first.
    pub async fn entries(&self, f: &StockFilter, page: &PageRequest) -> StoreResult<Page<EntryRecord>> {
        let limit = page.limit()?;
        let after: i64 = page.after_seq()?;
        let query = sqlx::query(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM stock_entries WHERE seq > $1 AND ($2 IS NULL OR location_code = $3) AND ($4 IS NULL OR sku_code = $5) \
             AND ($6 IS NULL OR owner = $7) ORDER BY seq LIMIT $8"
        ));
        let rows = f.bind(query.bind(after)).bind(i64::from(limit) + 1).fetch_all(&self.read).await?;
        let items = rows.iter().map(entry_from_row).collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, limit, |e| e.seq.to_string()))
    }

    /// The latest `limit` receipts into `location`, newest first.
    pub async fn latest_receipts(&self, location: &str, limit: u32) -> StoreResult<Vec<EntryRecord>> {
        let query = sqlx::query(concat!(
            "SELECT ",
            entry_columns!(),
            " FROM stock_entries WHERE location_code = $1 AND kind = 'receipt' ORDER BY seq DESC LIMIT $2"
        ));
        let rows = query.bind(location).bind(i64::from(limit)).fetch_all(&self.read).await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Audits the whole ledger: every balance equals the sum of its entries, reserved
    /// equals the active reservations, and no balance breaks `0 ≤ reserved ≤ on_hand`.
    /// Returns the problems found (empty when the ledger is sound).
    pub async fn audit_ledger(&self) -> StoreResult<Vec<String>> {
        let mut problems = vec![];
        let mismatched: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT p.location_code || '/' || p.sku_code || '/' || p.owner, p.on_hand, p.reserved, p.damaged, COALESCE(e.on_hand, 0), COALESCE(e.reserved, 0), \
             COALESCE(e.damaged, 0) FROM stock_positions p LEFT JOIN (SELECT location_code, sku_code, owner, CAST(SUM(on_hand_delta) AS BIGINT) AS on_hand, \
             CAST(SUM(reserved_delta) AS BIGINT) AS reserved, CAST(SUM(damaged_delta) AS BIGINT) AS damaged FROM stock_entries GROUP BY location_code, sku_code, owner) e \
             ON e.location_code = p.location_code AND e.sku_code = p.sku_code AND e.owner = p.owner \
             WHERE p.on_hand <> COALESCE(e.on_hand, 0) OR p.reserved <> COALESCE(e.reserved, 0) OR p.damaged <> COALESCE(e.damaged, 0) \
             OR p.reserved < 0 OR p.reserved > p.on_hand OR p.damaged < 0",
        )
        .fetch_all(&self.read)
        .await?;
        for (k, on_hand, reserved, damaged, e_on_hand, e_reserved, e_damaged) in mismatched {
            problems.push(format!("{k}: balance {on_hand}/{reserved}/{damaged}, entries sum to {e_on_hand}/{e_reserved}/{e_damaged}"));
        }
        let held: Vec<(String, String, String, i64, i64)> = sqlx::query_as(
            "SELECT p.location_code, p.sku_code, p.owner, p.reserved, COALESCE(r.held, 0) FROM stock_positions p \
             LEFT JOIN (SELECT location_code, sku_code, owner, CAST(SUM(quantity) AS BIGINT) AS held FROM reservations WHERE status = 'active' \
             GROUP BY location_code, sku_code, owner) r ON r.location_code = p.location_code AND r.sku_code = p.sku_code AND r.owner = p.owner \
             WHERE p.reserved <> COALESCE(r.held, 0)",
        )
        .fetch_all(&self.read)
        .await?;
        for (l, s, o, reserved, held) in held {
            problems.push(format!("{l}/{s}/{o}: reserved {reserved}, active reservations hold {held}"));
        }
        Ok(problems)
    }
}

/// Decides and writes one command inside an open transaction.
pub(crate) async fn execute_in(conn: &mut AnyConnection, cmd: &StockCommand, now: Timestamp) -> StoreResult<Decision> {
    execute_known(conn, cmd, now, &mut HashMap::new()).await
}

/// The stock import as a bulk write; the state caches the locations and SKUs found.
struct StockImport<'a>(&'a [StockCommand]);

impl BulkRows for StockImport<'_> {
    type State = HashMap<String, String>;

    fn len(&self) -> usize {
        self.0.len()
    }

    async fn row(&self, tx: &mut WriteTx<'static, ()>, index: usize, known: &mut Self::State) -> StoreResult<()> {
        let now = tx.now;
        let d = execute_known(tx.conn(), &self.0[index], now, known).await?;
        tx.emit(d.event_type, &subject(&d), &d).await
    }

    async fn at_once(&self, tx: &mut WriteTx<'static, ()>) -> Option<Result<(), (usize, StoreError)>> {
        // Commands that touch only their own balances and safety stock (no hold, no transfer).
        let own = |c: &StockCommand| {
            matches!(
                c,
                StockCommand::Receive { .. }
                    | StockCommand::Adjust { .. }
                    | StockCommand::Count { .. }
                    | StockCommand::SetSafetyStock { .. }
            )
        };
        let receipts = self.0.iter().all(own);
        if !receipts || self.0.len() < Self::AT_ONCE_MIN {
            return None;
        }
        Some(receive_at_once(tx, self.0).await)
    }
}

impl StockImport<'_> {
    /// Fewer receipts than this go row by row (the set-based path pays off on many).
    const AT_ONCE_MIN: usize = 16;
}

/// Receipts (and adjustments, counts, safety stock) of an import decided together by the
/// ledger ([`decide_together`]) and written set-based ([`Together::write`]), with every event
/// in multi-row statements: the same entries, balances and events as row by row, with a few
/// statements per 200 rows instead of four per receipt.
async fn receive_at_once(tx: &mut WriteTx<'static, ()>, cmds: &[StockCommand]) -> Result<(), (usize, StoreError)> {
    let now = tx.now;
    let together = decide_together(tx.conn(), cmds, LedgerView::default(), now)
        .await
        .map_err(|e| (0, e))?
        .map_err(|(i, e)| (i, StoreError::from(e)))?;
    let at = cmds.len();
    together.write(tx.conn(), now).await.map_err(|e| (at, e))?;
    let events = together.events().map_err(|e| (at, e))?;
    tx.emit_many(&events).await.map_err(|e| (at, e))
}

/// Commands the ledger decided together, in order, each against the balances the ones
/// before it left: what [`Together::write`] stores with a few statements whatever their number.
pub(crate) struct Together {
    pub(crate) decisions: Vec<Decision>,
    view: LedgerView,
    touched: BTreeSet<StockKey>,
    safeties: std::collections::BTreeMap<(LocationCode, SkuCode), i64>,
    reservations: std::collections::BTreeMap<Uuid, Reservation>,
    transfers: std::collections::BTreeMap<Uuid, Transfer>,
    /// Positions that existed at the commands' (location, SKU) pairs before them.
    pub(crate) existing: usize,
}

/// Checks the references of `cmds` (each location and SKU read once), then decides them in
/// order against the balances and safety stock of every pair they name, read in a few
/// queries, and the holds and transfers they name — those in `view` as the caller loaded
/// them, the rest read here. A hold or
/// transfer a command creates has an id the caller just made, new by construction. A
/// refusal names its command's index; nothing is written either way.
pub(crate) async fn decide_together(
    conn: &mut AnyConnection,
    cmds: &[StockCommand],
    view: LedgerView,
    now: Timestamp,
) -> StoreResult<Result<Together, (usize, DomainError)>> {
    let (mut t, references) = Together::load(conn, cmds, view).await?;
    if let Some((i, e)) = references.into_iter().enumerate().find_map(|(i, r)| r.err().map(|e| (i, e))) {
        return Ok(Err((i, e)));
    }
    for (i, cmd) in cmds.iter().enumerate() {
        if let Err(e) = t.decide(cmd, now) {
            return Ok(Err((i, e)));
        }
    }
    Ok(Ok(t))
}

/// Decides the commands of many writes (members of one group) on one read of the ledger
/// (the holds and transfers in `view` as the caller loaded them):
/// each member's commands in order, all or none of them, against the balances the members
/// before it left; a refused member leaves no trace for the ones after it. Each member's
/// answer is the range of [`Together::decisions`] it made, or its refusal.
pub(crate) async fn decide_members(
    conn: &mut AnyConnection,
    members: &[(&[StockCommand], Timestamp)],
    view: LedgerView,
) -> StoreResult<(Together, Vec<Result<std::ops::Range<usize>, DomainError>>)> {
    let all: Vec<StockCommand> = members.iter().flat_map(|(cmds, _)| cmds.iter().cloned()).collect();
    let (mut t, references) = Together::load(conn, &all, view).await?;
    let mut references = references.into_iter();
    let mut answers = Vec::with_capacity(members.len());
    for (cmds, now) in members {
        let refused = references.by_ref().take(cmds.len()).find_map(Result::err);
        answers.push(match refused {
            Some(e) => Err(e),
            None => t.decide_all(cmds, *now),
        });
    }
    Ok((t, answers))
}

impl Together {
    /// Reads what deciding `cmds` needs: their references (each command's check, a refusal
    /// for one that names something missing), the holds and transfers they name beyond
    /// `view`, and the balances and safety stock of every pair they touch.
    async fn load(
        conn: &mut AnyConnection,
        cmds: &[StockCommand],
        mut view: LedgerView,
    ) -> StoreResult<(Together, Vec<Result<(), DomainError>>)> {
        let mut known = HashMap::new();
        prefetch_references(&mut *conn, cmds, &mut known).await?;
        let mut references = Vec::with_capacity(cmds.len());
        for cmd in cmds {
            references.push(match check_references(&mut *conn, cmd, &mut known).await {
                Ok(()) => Ok(()),
                Err(StoreError::Domain(e)) => Err(e),
                Err(e) => return Err(e),
            });
        }
        for cmd in cmds {
            if let Some(id) = cmd.reservation_ref().filter(|id| !view.reservations.contains_key(id))
                && let Some(r) = load_reservation(&mut *conn, id).await?
            {
                view.reservations.insert(id, r);
            }
            if let Some(id) = cmd.transfer_ref().filter(|id| !view.transfers.contains_key(id))
                && let Some(t) = load_transfer(&mut *conn, id).await?
            {
                view.transfers.insert(id, t);
            }
        }
        let pairs: BTreeSet<(LocationCode, SkuCode)> = cmds
            .iter()
            .flat_map(|c| {
                let r = c.reservation_ref().and_then(|id| view.reservations.get(&id));
                let t = c.transfer_ref().and_then(|id| view.transfers.get(&id));
                c.pairs(r, t)
            })
            .collect();
        let balances = balances_of(conn, &pairs).await?;
        let existing = balances.positions.len();
        view.positions.extend(balances.positions);
        view.safety_stock.extend(balances.safety_stock);
        let t = Together {
            decisions: Vec::with_capacity(cmds.len()),
            view,
            touched: BTreeSet::new(),
            safeties: Default::default(),
            reservations: Default::default(),
            transfers: Default::default(),
            existing,
        };
        Ok((t, references))
    }

    /// Decides one command against the view as the commands before it left it, and keeps it.
    fn decide(&mut self, cmd: &StockCommand, now: Timestamp) -> Result<(), DomainError> {
        let d = decide(cmd, &self.view, now)?;
        for (k, p) in &d.positions {
            self.view.positions.insert(k.clone(), *p);
            self.touched.insert(k.clone());
        }
        if let Some(safety) = &d.safety_stock {
            self.view.safety_stock.insert((safety.location_code.clone(), safety.sku_code.clone()), safety.quantity);
            self.safeties.insert((safety.location_code.clone(), safety.sku_code.clone()), safety.quantity);
        }
        if let Some(r) = &d.reservation {
            self.view.reservations.insert(r.id, r.clone());
            self.reservations.insert(r.id, r.clone());
        }
        if let Some(x) = &d.transfer {
            self.view.transfers.insert(x.id, x.clone());
            self.transfers.insert(x.id, x.clone());
        }
        self.decisions.push(d);
        Ok(())
    }

    /// Decides `cmds` in order, all or none: a refusal puts everything back as it was.
    fn decide_all(&mut self, cmds: &[StockCommand], now: Timestamp) -> Result<std::ops::Range<usize>, DomainError> {
        let from = self.decisions.len();
        let before = (self.view.clone(), self.touched.clone(), self.safeties.clone(), self.reservations.clone(), self.transfers.clone());
        for cmd in cmds {
            if let Err(e) = self.decide(cmd, now) {
                (self.view, self.touched, self.safeties, self.reservations, self.transfers) = before;
                self.decisions.truncate(from);
                return Err(e);
            }
        }
        Ok(from..self.decisions.len())
    }

    /// Writes every entry, each balance's and reservation's final state and the safety
    /// stock set, in multi-row statements.
    pub(crate) async fn write(&self, conn: &mut AnyConnection, now: Timestamp) -> StoreResult<()> {
        write_safety_stock(&mut *conn, &self.safeties).await?;
        write_entries(&mut *conn, &self.decisions, now).await?;
        write_positions(&mut *conn, &self.finals(), now).await?;
        let reservations: Vec<&Reservation> = self.reservations.values().collect();
        write_reservations(&mut *conn, &reservations, now).await?;
        for t in self.transfers.values() {
            write_transfer(&mut *conn, t, now).await?;
        }
        Ok(())
    }

    /// The final balance of every position the commands touched, in key order.
    pub(crate) fn finals(&self) -> Vec<(&StockKey, &Position)> {
        self.touched.iter().filter_map(|k| self.view.positions.get(k).map(|p| (k, p))).collect()
    }

    /// Each decision's event, in order, as `emit_many` takes them.
    pub(crate) fn events(&self) -> StoreResult<Vec<(EventType, String, String)>> {
        self.events_of(0..self.decisions.len())
    }

    /// The events of the decisions in `range` (one member's), in order.
    pub(crate) fn events_of(&self, range: std::ops::Range<usize>) -> StoreResult<Vec<(EventType, String, String)>> {
        self.decisions[range]
            .iter()
            .map(|d| Ok((d.event_type, subject(d), serde_json::to_string(d).map_err(|e| StoreError::Corrupt(e.to_string()))?)))
            .collect()
    }
}

/// The balances (every owner) and safety stock of every (location, SKU) pair in `pairs`,
/// a batch of locations and SKUs per query.
async fn balances_of(conn: &mut AnyConnection, pairs: &BTreeSet<(LocationCode, SkuCode)>) -> StoreResult<LedgerView> {
    let locations: Vec<&str> = pairs.iter().map(|(l, _)| l.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let skus: Vec<&str> = pairs.iter().map(|(_, s)| s.as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    let mut view = LedgerView::default();
    for pair in pairs {
        view.safety_stock.insert(pair.clone(), 0);
    }
    // Locations × SKUs, a batch of each per query: a few rows beyond the pairs at most.
    for within in locations.chunks(ROWS_PER_STATEMENT) {
        for of in skus.chunks(ROWS_PER_STATEMENT) {
            let (l, k) = (within.len(), of.len());
            let sql = format!(
                "SELECT location_code, sku_code, owner, on_hand, reserved, damaged FROM stock_positions WHERE location_code IN ({}) \
                 AND sku_code IN ({}) UNION ALL SELECT location_code, sku_code, '' AS owner, quantity AS on_hand, 0 AS reserved, 0 AS damaged \
                 FROM safety_stock WHERE location_code IN ({}) AND sku_code IN ({})",
                marks(1, l),
                marks(l + 1, k),
                marks(l + k + 1, l),
                marks(2 * l + k + 1, k)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in within.iter().chain(of).chain(within).chain(of) {
                q = q.bind(*v);
            }
            for r in q.fetch_all(&mut *conn).await? {
                let location = parse(LocationCode::parse(r.try_get("location_code")?))?;
                let sku = parse(SkuCode::parse(r.try_get("sku_code")?))?;
                let pair = (location, sku);
                if !pairs.contains(&pair) {
                    continue;
                }
                // The safety row is the one with no owner.
                if r.try_get::<String, _>("owner")?.is_empty() {
                    view.safety_stock.insert(pair, r.try_get("on_hand")?);
                } else {
                    view.positions.insert(key_from_row(&r, "location_code")?, position_from_row(&r)?);
                }
            }
        }
    }
    Ok(view)
}

/// The columns of a ledger entry row, in the order every writer gives them.
pub(crate) const ENTRY_COLUMNS: &str = "id, command_id, kind, location_code, sku_code, owner, on_hand_delta, reserved_delta, \
     damaged_delta, reservation_id, transfer_id, reference, recorded_at_us";

/// The columns of a balance row, in the order every writer gives them.
pub(crate) const POSITION_COLUMNS: &str = "location_code, sku_code, owner, on_hand, reserved, damaged, updated_at_us";

/// Every entry of `decisions` with a new id and its command's id (one per decision).
pub(crate) fn entry_rows(decisions: &[Decision]) -> Vec<(String, String, &Entry)> {
    decisions
        .iter()
        .flat_map(|d| {
            let command = Uuid::now_v7().to_string();
            d.entries.iter().map(move |e| (Uuid::now_v7().to_string(), command.clone(), e))
        })
        .collect()
}

/// Every decision's entries, each decision under a command id of its own, in multi-row
/// statements.
async fn write_entries(conn: &mut AnyConnection, decisions: &[Decision], now: Timestamp) -> StoreResult<()> {
    let rows = entry_rows(decisions);
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let sql = format!("INSERT INTO stock_entries ({ENTRY_COLUMNS}) VALUES {}", placeholders(conn, chunk.len(), 13));
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (id, command, e) in chunk {
            q = q
                .bind(id.as_str())
                .bind(command.as_str())
                .bind(e.kind.as_str())
                .bind(e.key.location_code.as_str())
                .bind(e.key.sku_code.as_str())
                .bind(e.key.owner.to_string())
                .bind(e.on_hand_delta)
                .bind(e.reserved_delta)
                .bind(e.damaged_delta)
                .bind(e.reservation_id.map(|u| u.to_string()))
                .bind(e.transfer_id.map(|u| u.to_string()))
                .bind(e.reference.clone())
                .bind(us(now));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Safety stock as the ledger decided it, upserted in multi-row statements.
async fn write_safety_stock(conn: &mut AnyConnection, rows: &std::collections::BTreeMap<(LocationCode, SkuCode), i64>) -> StoreResult<()> {
    let rows: Vec<_> = rows.iter().collect();
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let marks = placeholders(conn, chunk.len(), 3);
        let sql = format!(
            "INSERT INTO safety_stock (location_code, sku_code, quantity) VALUES {} ON CONFLICT (location_code, sku_code) DO UPDATE SET quantity = excluded.quantity",
            marks
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for ((l, sku), n) in chunk {
            q = q.bind(l.as_str()).bind(sku.as_str()).bind(**n);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A transfer as the ledger decided it: created when shipped, its status (and receipt) after.
async fn write_transfer(conn: &mut AnyConnection, t: &Transfer, now: Timestamp) -> StoreResult<()> {
    let received = (t.status == TransferStatus::Received).then(|| us(now));
    sqlx::query(
        "INSERT INTO transfers (id, from_location_code, to_location_code, sku_code, owner, quantity, status, shipped_at_us, received_at_us) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO UPDATE SET status = excluded.status, received_at_us = excluded.received_at_us",
    )
    .bind(t.id.to_string())
    .bind(t.from.location_code.as_str())
    .bind(t.to_location_code.as_str())
    .bind(t.from.sku_code.as_str())
    .bind(t.from.owner.to_string())
    .bind(t.quantity.get())
    .bind(t.status.as_str())
    .bind(us(now))
    .bind(received)
    .execute(conn)
    .await?;
    Ok(())
}

/// Reservations as the ledger decided them — every field, on insert and on update alike (an
/// extension moves `expires_at`; a row that kept its old expiry once let paid orders' holds
/// lapse) — upserted in multi-row statements, each id once.
async fn write_reservations(conn: &mut AnyConnection, rows: &[&Reservation], now: Timestamp) -> StoreResult<()> {
    for chunk in rows.chunks(ROWS_PER_STATEMENT) {
        let marks = placeholders(conn, chunk.len(), 10);
        let sql = format!(
            "INSERT INTO reservations (id, location_code, sku_code, owner, quantity, expires_at_us, status, reference, created_at_us, updated_at_us) \
             VALUES {} ON CONFLICT (id) DO UPDATE SET location_code = excluded.location_code, \
             sku_code = excluded.sku_code, owner = excluded.owner, quantity = excluded.quantity, expires_at_us = excluded.expires_at_us, \
             status = excluded.status, reference = excluded.reference, updated_at_us = excluded.updated_at_us",
            marks
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(r.id.to_string())
                .bind(r.key.location_code.as_str())
                .bind(r.key.sku_code.as_str())
                .bind(r.key.owner.to_string())
                .bind(r.quantity.get())
                .bind(us(r.expires_at))
                .bind(r.status.as_str())
                .bind(r.reference.clone())
                .bind(us(now))
                .bind(us(now));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Balances as the ledger decided them, upserted in multi-row statements.
async fn write_positions(conn: &mut AnyConnection, finals: &[(&StockKey, &Position)], now: Timestamp) -> StoreResult<()> {
    for chunk in finals.chunks(ROWS_PER_STATEMENT) {
        let marks = placeholders(conn, chunk.len(), 7);
        let sql = format!(
            "INSERT INTO stock_positions ({POSITION_COLUMNS}) VALUES {} \
             ON CONFLICT (location_code, sku_code, owner) DO UPDATE SET on_hand = excluded.on_hand, reserved = excluded.reserved, \
             damaged = excluded.damaged, updated_at_us = excluded.updated_at_us",
            marks
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (k, p) in chunk {
            assert!(p.is_valid(), "decide returned an invalid balance {p:?} for {k:?}");
            q = q
                .bind(k.location_code.as_str())
                .bind(k.sku_code.as_str())
                .bind(k.owner.to_string())
                .bind(p.on_hand)
                .bind(p.reserved)
                .bind(p.damaged)
                .bind(us(now));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// [`execute_in`], skipping the reference checks already made in this transaction.
async fn execute_known(
    conn: &mut AnyConnection,
    cmd: &StockCommand,
    now: Timestamp,
    known: &mut HashMap<String, String>,
) -> StoreResult<Decision> {
    check_references(&mut *conn, cmd, known).await?;
    let view = load_view(&mut *conn, cmd).await?;
    let decision = decide(cmd, &view, now)?;
    write_decision(conn, &decision, now).await?;
    Ok(decision)
}
