//! The one stock ledger: `/stock/...` commands, `/reservations`, balances, entries and
//! availability. Every command goes to the one storage entry point, `Db::execute`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use tongjia_domain::DomainError;
use tongjia_domain::codes::{LocationCode, Owner, SkuCode};
use tongjia_domain::ledger::{
    Availability, Decision, Entry, Position, Quantity, Reservation, ReservationStatus, StockCommand, StockKey, Transfer, TransferStatus,
};
use tongjia_domain::location::GeoPoint;
use tongjia_domain::location::LocationStatus;
use tongjia_storage::reference::divisions;
use tongjia_storage::{EntryRecord, Page, PageRequest, PositionRecord, StockFilter, StoreError};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{IdempotencyKey, PageView, Paging, code_filter, scope, to_json};
use crate::AppState;
use crate::auth::Caller;
use crate::extract::{Mutation, Params};
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(receive))
        .routes(routes!(adjust))
        .routes(routes!(count))
        .routes(routes!(sell))
        .routes(routes!(return_goods))
        .routes(routes!(dispose_damaged))
        .routes(routes!(transfer_out))
        .routes(routes!(get_transfer))
        .routes(routes!(list_transfers))
        .routes(routes!(list_reservations))
        .routes(routes!(transfer_in))
        .routes(routes!(set_safety_stock))
        .routes(routes!(reserve))
        .routes(routes!(get_reservation))
        .routes(routes!(release))
        .routes(routes!(commit))
        .routes(routes!(list_positions))
        .routes(routes!(list_entries))
        .routes(routes!(availability))
}

/// Units moving in or out at one location: receipts, till sales, returns.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MoveInput {
    location_code: String,
    sku_code: String,
    /// `brand` (default) or `partner:CODE`: whose goods these are.
    owner: Option<String>,
    quantity: i64,
    /// A delivery note, receipt or order number.
    reference: Option<String>,
}

/// Goods coming back into a location's stock.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReturnInput {
    location_code: String,
    sku_code: String,
    owner: Option<String>,
    quantity: i64,
    reference: Option<String>,
    /// Damaged goods are held apart (the `damaged` balance), never sold or promised.
    #[serde(default)]
    damaged: bool,
}

/// Damaged units leaving the ledger (back to the maker, scrapped).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DisposalInput {
    location_code: String,
    sku_code: String,
    owner: Option<String>,
    quantity: i64,
    reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AdjustmentInput {
    location_code: String,
    sku_code: String,
    owner: Option<String>,
    /// Signed change to on hand, non-zero.
    delta: i64,
    reason: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CountInput {
    location_code: String,
    sku_code: String,
    owner: Option<String>,
    /// Units counted on the shelf; replaces on hand.
    counted: i64,
    reference: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransferInput {
    from_location_code: String,
    to_location_code: String,
    sku_code: String,
    owner: Option<String>,
    quantity: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReservationInput {
    location_code: String,
    sku_code: String,
    owner: Option<String>,
    quantity: i64,
    /// Seconds until the hold expires (default 900, at most 7 days).
    ttl_seconds: Option<i64>,
    reference: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SafetyStockInput {
    location_code: String,
    sku_code: String,
    /// Units kept back from promising (0 to clear).
    quantity: i64,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommitInput {
    /// The sale's reference, e.g. an order number.
    reference: Option<String>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmptyInput {}

/// One ledger entry.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EntryView {
    /// Position in the ledger (absent in a command's answer).
    seq: Option<i64>,
    kind: String,
    location_code: String,
    sku_code: String,
    owner: String,
    on_hand_delta: i64,
    reserved_delta: i64,
    damaged_delta: i64,
    reservation_id: Option<Uuid>,
    transfer_id: Option<Uuid>,
    reference: Option<String>,
    recorded_at: Option<Timestamp>,
}

impl EntryView {
    fn new(e: &Entry, seq: Option<i64>, recorded_at: Option<Timestamp>) -> Self {
        EntryView {
            seq,
            kind: e.kind.as_str().to_owned(),
            location_code: e.key.location_code.to_string(),
            sku_code: e.key.sku_code.to_string(),
            owner: e.key.owner.to_string(),
            on_hand_delta: e.on_hand_delta,
            reserved_delta: e.reserved_delta,
            damaged_delta: e.damaged_delta,
            reservation_id: e.reservation_id,
            transfer_id: e.transfer_id,
            reference: e.reference.clone(),
            recorded_at,
        }
    }
}

/// A balance: on hand and reserved for one location, SKU and owner.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct BalanceView {
    location_code: String,
    sku_code: String,
    owner: String,
    on_hand: i64,
    reserved: i64,
    /// Damaged units held apart: not part of on hand, never sold or promised.
    damaged: i64,
    updated_at: Option<Timestamp>,
}

impl BalanceView {
    fn new(k: &StockKey, p: &Position, updated_at: Option<Timestamp>) -> Self {
        BalanceView {
            location_code: k.location_code.to_string(),
            sku_code: k.sku_code.to_string(),
            owner: k.owner.to_string(),
            on_hand: p.on_hand,
            reserved: p.reserved,
            damaged: p.damaged,
            updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReservationView {
    reservation_id: Uuid,
    location_code: String,
    sku_code: String,
    owner: String,
    quantity: i64,
    expires_at: Timestamp,
    /// `active`, `released`, `expired` or `committed`.
    status: String,
    reference: Option<String>,
}

impl From<&Reservation> for ReservationView {
    fn from(r: &Reservation) -> Self {
        ReservationView {
            reservation_id: r.id,
            location_code: r.key.location_code.to_string(),
            sku_code: r.key.sku_code.to_string(),
            owner: r.key.owner.to_string(),
            quantity: r.quantity.get(),
            expires_at: r.expires_at,
            status: r.status.as_str().to_owned(),
            reference: r.reference.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TransferView {
    transfer_id: Uuid,
    from_location_code: String,
    to_location_code: String,
    sku_code: String,
    owner: String,
    quantity: i64,
    /// `in_transit` or `received`.
    status: String,
}

impl From<&Transfer> for TransferView {
    fn from(t: &Transfer) -> Self {
        TransferView {
            transfer_id: t.id,
            from_location_code: t.from.location_code.to_string(),
            to_location_code: t.to_location_code.to_string(),
            sku_code: t.from.sku_code.to_string(),
            owner: t.from.owner.to_string(),
            quantity: t.quantity.get(),
            status: t.status.as_str().to_owned(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SafetyStockView {
    location_code: String,
    sku_code: String,
    quantity: i64,
}

/// What a stock command did: the entries it appended and the balances after them.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StockResult {
    /// The event published: `stock.received`, `stock.reserved`...
    event_type: String,
    entries: Vec<EntryView>,
    balances: Vec<BalanceView>,
    reservation: Option<ReservationView>,
    transfer: Option<TransferView>,
    safety_stock: Option<SafetyStockView>,
}

fn render_decision(d: &Decision) -> String {
    to_json(&StockResult {
        event_type: d.event_type.as_str().to_owned(),
        entries: d.entries.iter().map(|e| EntryView::new(e, None, None)).collect(),
        balances: d.positions.iter().map(|(k, p)| BalanceView::new(k, p, None)).collect(),
        reservation: d.reservation.as_ref().map(ReservationView::from),
        transfer: d.transfer.as_ref().map(TransferView::from),
        safety_stock: d.safety_stock.as_ref().map(|s| SafetyStockView {
            location_code: s.location_code.to_string(),
            sku_code: s.sku_code.to_string(),
            quantity: s.quantity,
        }),
    })
}

/// Refuses a list unless the caller sees the network or names a location of its own.
async fn read_filtered(app: &AppState, caller: &Caller, location: Option<&str>) -> ApiResult<()> {
    let location = location.map(LocationCode::parse).transpose().map_err(|e| e.at("location_code"))?;
    scope::read_at(app, caller, location.as_ref()).await
}

/// Builds a stock key from request fields; the owner defaults to the brand.
fn key(location: &str, sku: &str, owner: Option<&str>) -> Result<StockKey, DomainError> {
    Ok(StockKey {
        location_code: LocationCode::parse(location)?,
        sku_code: SkuCode::parse(sku)?,
        owner: owner.map(Owner::parse).transpose()?.unwrap_or_default(),
    })
}

fn uuid_param(raw: &str, what: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found(&format!("{what}_not_found"), format!("no {what} {raw}")))
}

async fn run(app: &AppState, m: &Mutation<impl Sized>, status: StatusCode, cmd: StockCommand) -> Response {
    app.mutate(m, status, &render_decision, async |idem| app.db.execute(cmd, idem).await).await
}

#[utoipa::path(post, path = "/api/v1/stock/receipts", tag = "stock", request_body = MoveInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn receive(State(app): State<AppState>, caller: Caller, m: Mutation<MoveInput>) -> ApiResult<Response> {
    let b = &m.body;
    let key = key(&b.location_code, &b.sku_code, b.owner.as_deref())?;
    scope::act_at(&caller, &key.location_code)?;
    let cmd = StockCommand::Receive { key, quantity: Quantity::new(b.quantity)?, reference: b.reference.clone() };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(post, path = "/api/v1/stock/adjustments", tag = "stock", request_body = AdjustmentInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn adjust(State(app): State<AppState>, m: Mutation<AdjustmentInput>) -> ApiResult<Response> {
    let b = &m.body;
    let cmd =
        StockCommand::Adjust { key: key(&b.location_code, &b.sku_code, b.owner.as_deref())?, delta: b.delta, reason: b.reason.clone() };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(post, path = "/api/v1/stock/counts", tag = "stock", request_body = CountInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn count(State(app): State<AppState>, caller: Caller, m: Mutation<CountInput>) -> ApiResult<Response> {
    let b = &m.body;
    let key = key(&b.location_code, &b.sku_code, b.owner.as_deref())?;
    scope::act_at(&caller, &key.location_code)?;
    let cmd = StockCommand::Count { key, counted: b.counted, reference: b.reference.clone() };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(post, path = "/api/v1/stock/sales", tag = "stock", request_body = MoveInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn sell(State(app): State<AppState>, caller: Caller, m: Mutation<MoveInput>) -> ApiResult<Response> {
    let b = &m.body;
    let key = key(&b.location_code, &b.sku_code, b.owner.as_deref())?;
    scope::act_at(&caller, &key.location_code)?;
    let cmd = StockCommand::Sell { key, quantity: Quantity::new(b.quantity)?, reference: b.reference.clone() };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(post, path = "/api/v1/stock/returns", tag = "stock", request_body = ReturnInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn return_goods(State(app): State<AppState>, caller: Caller, m: Mutation<ReturnInput>) -> ApiResult<Response> {
    let b = &m.body;
    let key = key(&b.location_code, &b.sku_code, b.owner.as_deref())?;
    scope::act_at(&caller, &key.location_code)?;
    let cmd = StockCommand::Return { key, quantity: Quantity::new(b.quantity)?, reference: b.reference.clone(), damaged: b.damaged };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(post, path = "/api/v1/stock/damaged-disposals", tag = "stock", request_body = DisposalInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn dispose_damaged(State(app): State<AppState>, caller: Caller, m: Mutation<DisposalInput>) -> ApiResult<Response> {
    let b = &m.body;
    let key = key(&b.location_code, &b.sku_code, b.owner.as_deref())?;
    scope::act_at(&caller, &key.location_code)?;
    let cmd = StockCommand::DisposeDamaged { key, quantity: Quantity::new(b.quantity)?, reason: b.reason.clone() };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(post, path = "/api/v1/stock/transfers", tag = "stock", request_body = TransferInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn transfer_out(State(app): State<AppState>, m: Mutation<TransferInput>) -> ApiResult<Response> {
    let b = &m.body;
    let cmd = StockCommand::TransferOut {
        transfer_id: Uuid::now_v7(),
        from: key(&b.from_location_code, &b.sku_code, b.owner.as_deref()).map_err(|e| e.at("from_location_code"))?,
        to_location_code: LocationCode::parse(&b.to_location_code).map_err(|e| e.at("to_location_code"))?,
        quantity: Quantity::new(b.quantity)?,
    };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(get, path = "/api/v1/stock/transfers/{transfer_id}", tag = "stock", responses((status = 200, body = TransferView), (status = 404, body = Problem)))]
async fn get_transfer(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<TransferView>> {
    let id = uuid_param(&id, "transfer")?;
    let not_found = || ApiError::not_found("transfer_not_found", format!("no transfer {id}"));
    let t = app.db.transfer(id).await?.ok_or_else(not_found)?;
    let ends = [&t.from.location_code, &t.to_location_code];
    let who = caller.signed()?;
    let mut seen = who.role().is_hq();
    for end in ends {
        // Only the caller's own ends count; a database error is an error, not a refusal.
        seen |= who.may_read_at(end, scope::partner_of(&app, end).await?.as_ref());
    }
    if !seen {
        return Err(not_found());
    }
    Ok(Json(TransferView::from(&t)))
}

#[utoipa::path(post, path = "/api/v1/stock/transfers/{transfer_id}/receipt", tag = "stock",
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn transfer_in(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<EmptyInput>) -> ApiResult<Response> {
    let transfer_id = uuid_param(&id, "transfer")?;
    let t = app.db.transfer(transfer_id).await?.ok_or_else(|| ApiError::not_found("transfer_not_found", format!("no transfer {id}")))?;
    scope::act_at(&caller, &t.to_location_code)?;
    let cmd = StockCommand::TransferIn { transfer_id };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

#[utoipa::path(put, path = "/api/v1/stock/safety-stock", tag = "stock", request_body = SafetyStockInput,
    params(IdempotencyKey),
    responses((status = 200, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn set_safety_stock(State(app): State<AppState>, m: Mutation<SafetyStockInput>) -> ApiResult<Response> {
    let b = &m.body;
    let cmd = StockCommand::SetSafetyStock {
        location_code: LocationCode::parse(&b.location_code)?,
        sku_code: SkuCode::parse(&b.sku_code)?,
        quantity: b.quantity,
    };
    Ok(run(&app, &m, StatusCode::OK, cmd).await)
}

/// Default hold for a reservation.
const RESERVATION_TTL_SECONDS_DEFAULT: i64 = 900;

#[utoipa::path(post, path = "/api/v1/reservations", tag = "stock", request_body = ReservationInput,
    params(IdempotencyKey),
    responses((status = 201, body = StockResult), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn reserve(State(app): State<AppState>, caller: Caller, m: Mutation<ReservationInput>) -> ApiResult<Response> {
    let b = &m.body;
    let key = key(&b.location_code, &b.sku_code, b.owner.as_deref())?;
    scope::act_at(&caller, &key.location_code)?;
    let ttl = b.ttl_seconds.unwrap_or(RESERVATION_TTL_SECONDS_DEFAULT);
    let expires_at = Timestamp::now()
        .checked_add(SignedDuration::from_secs(ttl))
        .map_err(|_| ApiError::field("ttl_seconds", "invalid_expiry", "ttl_seconds is out of range"))?;
    let cmd = StockCommand::Reserve {
        reservation_id: Uuid::now_v7(),
        key,
        quantity: Quantity::new(b.quantity)?,
        expires_at,
        reference: b.reference.clone(),
    };
    Ok(run(&app, &m, StatusCode::CREATED, cmd).await)
}

/// The reservation `raw`, if the caller may act where it holds stock (404 otherwise: a
/// clerk does not learn of another store's holds).
async fn reservation_for(app: &AppState, caller: &Caller, raw: &str) -> ApiResult<tongjia_domain::ledger::Reservation> {
    let id = uuid_param(raw, "reservation")?;
    let not_found = || ApiError::not_found("reservation_not_found", format!("no reservation {id}"));
    let r = app.db.reservation(id).await?.ok_or_else(not_found)?;
    if !caller.signed()?.may_act_at(&r.key.location_code) {
        return Err(not_found());
    }
    Ok(r)
}

#[utoipa::path(get, path = "/api/v1/reservations/{reservation_id}", tag = "stock", responses((status = 200, body = ReservationView), (status = 404, body = Problem)))]
async fn get_reservation(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<ReservationView>> {
    let r = reservation_for(&app, &caller, &id).await?;
    Ok(Json(ReservationView::from(&r)))
}

#[utoipa::path(post, path = "/api/v1/reservations/{reservation_id}/release", tag = "stock",
    params(IdempotencyKey),
    responses((status = 200, body = StockResult), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn release(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<EmptyInput>) -> ApiResult<Response> {
    let cmd = StockCommand::Release { reservation_id: reservation_for(&app, &caller, &id).await?.id };
    Ok(run(&app, &m, StatusCode::OK, cmd).await)
}

#[utoipa::path(post, path = "/api/v1/reservations/{reservation_id}/commit", tag = "stock", request_body = CommitInput,
    params(IdempotencyKey),
    responses((status = 200, body = StockResult), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn commit(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<CommitInput>) -> ApiResult<Response> {
    let cmd = StockCommand::Commit { reservation_id: reservation_for(&app, &caller, &id).await?.id, reference: m.body.reference.clone() };
    Ok(run(&app, &m, StatusCode::OK, cmd).await)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StockQuery {
    location_code: Option<String>,
    sku_code: Option<String>,
    /// `brand` or `partner:CODE`.
    owner: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

impl StockQuery {
    fn split(self) -> Result<(StockFilter, Paging), DomainError> {
        if let Some(owner) = &self.owner {
            Owner::parse(owner)?;
        }
        let filter = StockFilter {
            location_code: code_filter("location_code", self.location_code)?,
            sku_code: code_filter("sku_code", self.sku_code)?,
            owner: self.owner,
        };
        Ok((filter, Paging { limit: self.limit, after: self.after }))
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HoldQuery {
    /// Reservations: `active`, `released`, `expired`, `committed`; transfers: `in_transit`, `received`.
    status: Option<String>,
    /// Reservations at this location; transfers from or to it.
    location_code: Option<String>,
    sku_code: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

/// Reservations, newest first.
#[utoipa::path(get, path = "/api/v1/reservations", tag = "stock", params(HoldQuery), responses((status = 200, body = PageView<ReservationView>), (status = 422, body = Problem)))]
async fn list_reservations(
    State(app): State<AppState>,
    caller: Caller,
    Params(q): Params<HoldQuery>,
) -> ApiResult<Json<PageView<ReservationView>>> {
    let status = q.status.as_deref().map(ReservationStatus::parse).transpose()?;
    let filter = StockFilter {
        location_code: code_filter("location_code", q.location_code)?,
        sku_code: code_filter("sku_code", q.sku_code)?,
        owner: None,
    };
    read_filtered(&app, &caller, filter.location_code.as_deref()).await?;
    let page = app.db.reservations(status, &filter, &Paging { limit: q.limit, after: q.after }.request()).await?;
    Ok(Json(PageView::of(page, |r| ReservationView::from(&r))))
}

/// Transfers, newest first; `status=in_transit` is the stock on the road.
#[utoipa::path(get, path = "/api/v1/stock/transfers", tag = "stock", params(HoldQuery), responses((status = 200, body = PageView<TransferView>), (status = 422, body = Problem)))]
async fn list_transfers(
    State(app): State<AppState>,
    caller: Caller,
    Params(q): Params<HoldQuery>,
) -> ApiResult<Json<PageView<TransferView>>> {
    let status = q.status.as_deref().map(TransferStatus::parse).transpose()?;
    read_filtered(&app, &caller, q.location_code.as_deref()).await?;
    let page = app
        .db
        .transfers(status, q.location_code.as_deref(), q.sku_code.as_deref(), &Paging { limit: q.limit, after: q.after }.request())
        .await?;
    Ok(Json(PageView::of(page, |t| TransferView::from(&t))))
}

#[utoipa::path(get, path = "/api/v1/stock", tag = "stock", params(StockQuery), responses((status = 200, body = PageView<BalanceView>), (status = 422, body = Problem)))]
async fn list_positions(
    State(app): State<AppState>,
    caller: Caller,
    Params(q): Params<StockQuery>,
) -> ApiResult<Json<PageView<BalanceView>>> {
    let (filter, paging) = q.split()?;
    read_filtered(&app, &caller, filter.location_code.as_deref()).await?;
    let page = app.db.positions(&filter, &paging.request()).await?;
    Ok(Json(PageView::of(page, |p: PositionRecord| BalanceView::new(&p.key, &p.position, Some(p.updated_at)))))
}

#[utoipa::path(get, path = "/api/v1/stock/entries", tag = "stock", params(StockQuery), responses((status = 200, body = PageView<EntryView>), (status = 422, body = Problem)))]
async fn list_entries(State(app): State<AppState>, caller: Caller, Params(q): Params<StockQuery>) -> ApiResult<Json<PageView<EntryView>>> {
    let (filter, paging) = q.split()?;
    read_filtered(&app, &caller, filter.location_code.as_deref()).await?;
    let page = app.db.entries(&filter, &paging.request()).await?;
    Ok(Json(PageView::of(page, |e: EntryRecord| EntryView::new(&e.entry, Some(e.seq), Some(e.recorded_at)))))
}

/// Available to promise at one location, over every owner.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AvailabilityView {
    location_code: Option<String>,
    /// The location's status (`open`, `planned`, `closed`); only open ones can promise.
    status: Option<String>,
    on_hand: i64,
    reserved: i64,
    safety_stock: i64,
    /// `max(0, on_hand − reserved − safety_stock)`.
    available: i64,
}

impl AvailabilityView {
    fn new(location: Option<(&LocationCode, LocationStatus)>, a: &Availability) -> Self {
        AvailabilityView {
            location_code: location.map(|(l, _)| l.to_string()),
            status: location.map(|(_, s)| s.as_str().to_owned()),
            on_hand: a.on_hand,
            reserved: a.reserved,
            safety_stock: a.safety_stock,
            available: a.available,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NetworkAvailability {
    sku_code: String,
    /// Summed over the open locations the filter matches (all of them, not only this
    /// page's); `available` is the sum of each one's.
    total: AvailabilityView,
    /// One page of the matching locations, in code order.
    locations: Vec<AvailabilityView>,
    /// The cursor of the next page (`after`), null on the last.
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AvailabilityQuery {
    location_code: Option<String>,
    /// Only locations in this division: a province, prefecture, county or township code.
    division_code: Option<String>,
    /// With `latitude` and `radius_km`: only locations within the radius of the point.
    longitude: Option<f64>,
    latitude: Option<f64>,
    /// 1–500 km.
    radius_km: Option<f64>,
    /// Locations per page, 1–500 (default 50).
    limit: Option<u32>,
    /// The `next_cursor` of the page before.
    after: Option<String>,
}

/// The farthest a radius filter reaches, in km.
pub(crate) const RADIUS_KM_MAX: f64 = 500.0;

/// Which locations an availability query keeps: its division and its circle.
fn availability_filter(q: &AvailabilityQuery) -> ApiResult<impl Fn(&tongjia_domain::network::StoreSite) -> bool + use<>> {
    let division = match q.division_code.as_deref() {
        Some(code) if divisions().get(code).is_none() => {
            return Err(ApiError::not_found("division_not_found", format!("no division {code}")));
        }
        other => other.map(str::to_owned),
    };
    let circle = match (q.longitude, q.latitude, q.radius_km) {
        (None, None, None) => None,
        (Some(longitude), Some(latitude), Some(r)) if r > 0.0 && r <= RADIUS_KM_MAX => {
            Some((GeoPoint::new(longitude, latitude).map_err(|e| ApiError::from(StoreError::Domain(e)))?, r))
        }
        _ => {
            return Err(ApiError::field(
                "radius_km",
                "invalid_radius",
                format!("give longitude, latitude and radius_km (up to {RADIUS_KM_MAX} km) together"),
            ));
        }
    };
    Ok(move |site: &tongjia_domain::network::StoreSite| {
        let in_division = division.as_deref().is_none_or(|d| site.township_code.as_deref().unwrap_or(&site.county_code).starts_with(d));
        in_division && circle.as_ref().is_none_or(|(p, r)| site.point.distance_km(p) <= *r)
    })
}

#[utoipa::path(get, path = "/api/v1/skus/{sku_code}/availability", tag = "stock", params(AvailabilityQuery),
    responses((status = 200, body = NetworkAvailability), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn availability(
    State(app): State<AppState>,
    Path(sku): Path<String>,
    Params(q): Params<AvailabilityQuery>,
) -> ApiResult<Json<NetworkAvailability>> {
    let code = SkuCode::parse(&sku)?;
    if app.db.sku(&sku).await?.is_none() {
        return Err(ApiError::not_found("sku_not_found", format!("no SKU {sku}")));
    }
    let location = q.location_code.as_deref().map(LocationCode::parse).transpose()?;
    if let Some(l) = &location
        && app.db.location(l.as_str()).await?.is_none()
    {
        return Err(ApiError::not_found("location_not_found", format!("no location {l}")));
    }
    let page = PageRequest { limit: q.limit, after: q.after.clone() };
    let (limit, after) = (page.limit()?, page.after_key()?);
    let keep = availability_filter(&q)?;
    // The network from memory (`Db::store_sites`): the locations the filter keeps, then
    // their balances of the SKU (`Db::availability_in` picks keys or one range).
    let sites = app.db.store_sites().await?;
    let kept: Vec<&str> = sites
        .iter()
        .filter(|s| keep(s) && location.as_ref().is_none_or(|l| l.as_str() == s.code.as_str()))
        .map(|s| s.code.as_str())
        .collect();
    let rows = app.db.availability_in(&code, &kept).await?;
    let total = Availability::network(rows.iter().map(|(_, s, a)| (*s, a)));
    let rest = rows.iter().filter(|(l, _, _)| l.as_str() > after.as_str()).take(limit as usize + 1).collect();
    let page = Page::from_rows(rest, limit, |(l, _, _)| l.to_string());
    Ok(Json(NetworkAvailability {
        sku_code: sku,
        total: AvailabilityView::new(None, &total),
        locations: page.items.iter().map(|(l, s, a)| AvailabilityView::new(Some((l, *s)), a)).collect(),
        next_cursor: page.next_cursor,
    }))
}
