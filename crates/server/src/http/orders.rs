//! `/orders` and `/customers`: one order flow and one customer across every channel.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tongjia_domain::DomainError;
use tongjia_domain::codes::{LocationCode, SkuCode};
use tongjia_domain::customer::Mobile;
use tongjia_domain::ledger::Quantity;
use tongjia_domain::location::{CountyCode, GeoPoint};
use tongjia_domain::orders::OrderStatus;
use tongjia_domain::orders::{Fulfilment, OrderAction};
use tongjia_domain::pricing::Channel;
use tongjia_domain::{Fen, catalog::check_text};
use tongjia_storage::{Destination, NewOrder, NewPayment, OrderFilter, OrderRecord, PointsEntry};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::{IdempotencyKey, PageView, Paging, code_filter, scope, to_json};
use crate::AppState;
use crate::auth::{Caller, denied};
use crate::extract::{Mutation, Params};
use crate::problem::{ApiError, ApiResult, Problem};
use tongjia_domain::access::{OrderAccess, OrderListScope, Role};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(place_order, list_orders))
        .routes(routes!(get_order))
        .routes(routes!(pay_order))
        .routes(routes!(start_fulfilment))
        .routes(routes!(ship_order))
        .routes(routes!(deliver_order))
        .routes(routes!(mark_ready))
        .routes(routes!(hand_over))
        .routes(routes!(cancel_order))
        .routes(routes!(return_lines))
        .routes(routes!(get_customer))
        .routes(routes!(customer_orders))
        .routes(routes!(customer_points))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct LineInput {
    sku_code: String,
    quantity: i64,
    /// Refused: every price comes from the price book (`client_price_refused`).
    unit_price_fen: Option<serde_json::Value>,
}

/// Where a delivery goes: a county-level division code, or a point.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DestinationInput {
    county_code: Option<String>,
    longitude: Option<f64>,
    latitude: Option<f64>,
}

/// A new order, in any channel.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderInput {
    /// The store the order is placed at; absent for the online channel.
    store_code: Option<String>,
    /// `delivery`, `pickup`, `carry_out` (a till sale) or `endless_aisle`.
    fulfilment: String,
    /// The member, by mainland mobile number.
    customer_mobile: Option<String>,
    lines: Vec<LineInput>,
    /// For `delivery` and `endless_aisle`.
    destination: Option<DestinationInput>,
    /// For `pickup`.
    pickup_store_code: Option<String>,
    /// Points to take off the bill (members only): from the member's own session, or at a
    /// till with `member_code`.
    #[serde(default)]
    redeem_points: i64,
    /// The code the member was sent (`POST /member-codes`) and reads out at the till: lets
    /// store staff spend the member's points. Used up by the order.
    member_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderLineView {
    line_no: i64,
    sku_code: String,
    quantity: i64,
    unit_price_fen: i64,
    list_price_fen: i64,
    /// The price-book version the line was sold at.
    price_version: i64,
    points_redeemed: i64,
    discount_fen: i64,
    paid_fen: i64,
    returned_quantity: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AllocationView {
    line_no: i64,
    location_code: String,
    owner: String,
    quantity: i64,
    reservation_id: Option<Uuid>,
    transfer_id: Option<Uuid>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PaymentView {
    payment_id: Uuid,
    /// `payment` or `refund`.
    kind: String,
    amount_fen: i64,
    external_reference: String,
    /// The till's method (`cash`, `card`) or the online provider that took it.
    method: String,
    recorded_at: Timestamp,
    /// `settled`, or `pending`: an online refund its provider has not yet accepted.
    state: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReturnLineView {
    line_no: i64,
    quantity: i64,
    damaged: bool,
    refund_fen: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ReturnView {
    return_id: Uuid,
    store_code: String,
    refund_fen: i64,
    points_restored: i64,
    points_reversed: i64,
    lines: Vec<ReturnLineView>,
    recorded_at: Timestamp,
}

/// An order and everything that happened to it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OrderView {
    order_id: Uuid,
    /// `online` or `store:CODE`.
    channel: String,
    store_code: Option<String>,
    fulfilment: String,
    status: String,
    customer_mobile: Option<String>,
    pickup_store_code: Option<String>,
    /// Only in the answer to placing a pickup order: the code the shopper shows at handover.
    pickup_code: Option<String>,
    destination_longitude: Option<f64>,
    destination_latitude: Option<f64>,
    destination_county_code: Option<String>,
    /// The sourcing decision: candidates looked at, locations chosen, and why; `null` when the
    /// goods are held where they are handed over (a till sale, a pickup the store holds whole).
    #[schema(value_type = Option<Object>)]
    sourcing: Option<serde_json::Value>,
    subtotal_fen: i64,
    discount_fen: i64,
    total_fen: i64,
    points_redeemed: i64,
    points_earned: i64,
    paid_fen: i64,
    refunded_fen: i64,
    points_reversed: i64,
    /// The payment deadline: an order not paid by then is cancelled and its stock freed. It
    /// stays as it was once the order is paid; a paid order's stock is then held until it is
    /// fulfilled or cancelled (each allocation's reservation shows until when it is renewed).
    expires_at: Timestamp,
    placed_at: Timestamp,
    paid_at: Option<Timestamp>,
    fulfilled_at: Option<Timestamp>,
    completed_at: Option<Timestamp>,
    cancelled_at: Option<Timestamp>,
    lines: Vec<OrderLineView>,
    allocations: Vec<AllocationView>,
    payments: Vec<PaymentView>,
    returns: Vec<ReturnView>,
}

impl OrderView {
    fn new(o: &OrderRecord, with_pickup_code: bool) -> Self {
        OrderView {
            order_id: o.id,
            channel: o.channel.clone(),
            store_code: o.store_code.clone(),
            fulfilment: o.fulfilment.as_str().to_owned(),
            status: o.status.as_str().to_owned(),
            customer_mobile: o.customer_mobile.clone(),
            pickup_store_code: o.pickup_store_code.clone(),
            pickup_code: if with_pickup_code { o.pickup_code.clone() } else { None },
            destination_longitude: o.destination.map(|p| p.longitude),
            destination_latitude: o.destination.map(|p| p.latitude),
            destination_county_code: o.destination_county_code.clone(),
            sourcing: o.sourcing.clone(),
            subtotal_fen: o.subtotal.get(),
            discount_fen: o.discount.get(),
            total_fen: o.total.get(),
            points_redeemed: o.points_redeemed,
            points_earned: o.points_earned,
            paid_fen: o.paid.get(),
            refunded_fen: o.refunded.get(),
            points_reversed: o.points_reversed,
            expires_at: o.expires_at,
            placed_at: o.placed_at,
            paid_at: o.paid_at,
            fulfilled_at: o.fulfilled_at,
            completed_at: o.completed_at,
            cancelled_at: o.cancelled_at,
            lines: o
                .lines
                .iter()
                .map(|l| OrderLineView {
                    line_no: l.line_no,
                    sku_code: l.sku_code.to_string(),
                    quantity: l.quantity.get(),
                    unit_price_fen: l.unit_price.get(),
                    list_price_fen: l.list_price.get(),
                    price_version: l.price_version,
                    points_redeemed: l.points_redeemed,
                    discount_fen: l.discount.get(),
                    paid_fen: l.paid.get(),
                    returned_quantity: l.returned_quantity,
                })
                .collect(),
            allocations: o
                .allocations
                .iter()
                .map(|a| AllocationView {
                    line_no: a.line_no,
                    location_code: a.location_code.clone(),
                    owner: a.owner.clone(),
                    quantity: a.quantity,
                    reservation_id: a.reservation_id,
                    transfer_id: a.transfer_id,
                })
                .collect(),
            payments: o
                .payments
                .iter()
                .map(|p| PaymentView {
                    payment_id: p.id,
                    kind: p.kind.clone(),
                    amount_fen: p.amount.get(),
                    external_reference: p.external_reference.clone(),
                    method: p.method.clone(),
                    recorded_at: p.recorded_at,
                    state: p.state.clone(),
                })
                .collect(),
            returns: o
                .returns
                .iter()
                .map(|r| ReturnView {
                    return_id: r.id,
                    store_code: r.store_code.clone(),
                    refund_fen: r.refund.get(),
                    points_restored: r.points_restored,
                    points_reversed: r.points_reversed,
                    lines: r
                        .lines
                        .iter()
                        .map(|(l, q, d, f)| ReturnLineView { line_no: *l, quantity: *q, damaged: *d, refund_fen: f.get() })
                        .collect(),
                    recorded_at: r.recorded_at,
                })
                .collect(),
        }
    }
}

impl OrderView {
    /// The view `who` may see: without the right to personal data (a partner), the mobile
    /// is masked and delivery coordinates and payment references are left out.
    fn for_viewer(mut self, who: Option<&tongjia_domain::access::Principal>) -> Self {
        if who.is_some_and(|p| p.sees_personal_data()) {
            return self;
        }
        self.customer_mobile = self.customer_mobile.as_deref().map(|m| Mobile::parse(m).map_or_else(|_| "***".to_owned(), |m| m.masked()));
        self.destination_longitude = None;
        self.destination_latitude = None;
        // Distances from the destination to public stores would give it away.
        self.sourcing = None;
        for p in &mut self.payments {
            p.external_reference = "***".to_owned();
        }
        self
    }
}

fn render(o: &OrderRecord) -> String {
    to_json(&OrderView::new(o, false))
}

/// An order as someone without the right to its personal data sees it.
fn render_masked(o: &OrderRecord) -> String {
    to_json(&OrderView::new(o, false).for_viewer(None))
}

fn render_placed(o: &OrderRecord) -> String {
    to_json(&OrderView::new(o, true))
}

fn order_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::not_found("order_not_found", format!("no order {raw}")))
}

fn new_order(b: &OrderInput) -> Result<NewOrder, DomainError> {
    let channel = match &b.store_code {
        Some(code) => Channel::Store(LocationCode::parse(code).map_err(|e| e.at("store_code"))?),
        None => Channel::Online,
    };
    let mut lines = vec![];
    for (i, l) in b.lines.iter().enumerate() {
        if l.unit_price_fen.is_some() {
            return Err(DomainError::rule("client_price_refused", "prices come from the price book, never from the caller")
                .at(format!("lines[{i}].unit_price_fen")));
        }
        let sku = SkuCode::parse(&l.sku_code).map_err(|e| e.at(format!("lines[{i}].sku_code")))?;
        lines.push((sku, Quantity::new(l.quantity).map_err(|e| e.at(format!("lines[{i}].quantity")))?));
    }
    let destination = match &b.destination {
        None => None,
        Some(DestinationInput { county_code: Some(c), longitude: None, latitude: None }) => {
            Some(Destination::County(CountyCode::parse(c).map_err(|e| e.at("destination.county_code"))?.to_string()))
        }
        Some(DestinationInput { county_code: None, longitude: Some(lon), latitude: Some(lat) }) => {
            Some(Destination::Point(GeoPoint::new(*lon, *lat)?))
        }
        Some(_) => {
            return Err(DomainError::invalid("destination", "invalid_destination", "give either county_code, or longitude and latitude"));
        }
    };
    Ok(NewOrder {
        channel,
        fulfilment: Fulfilment::parse(&b.fulfilment)?,
        customer: b.customer_mobile.as_deref().map(Mobile::parse).transpose()?,
        lines,
        destination,
        pickup_store: b.pickup_store_code.as_deref().map(|c| LocationCode::parse(c).map_err(|e| e.at("pickup_store_code"))).transpose()?,
        redeem_points: b.redeem_points,
    })
}

#[utoipa::path(post, path = "/api/v1/orders", tag = "orders", request_body = OrderInput, params(IdempotencyKey),
    responses((status = 201, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn place_order(
    State(app): State<AppState>,
    caller: Caller,
    peer: super::sessions::Peer,
    m: Mutation<OrderInput>,
) -> ApiResult<Response> {
    let mut new = new_order(&m.body)?;
    let who = caller.signed()?;
    let store = match &new.channel {
        Channel::Store(code) => Some(code),
        Channel::Online => None,
    };
    if m.body.member_code.is_some() && new.customer.is_none() {
        return Err(ApiError::field("member_code", "member_required", "a member code goes with customer_mobile"));
    }
    who.may_place(store, new.customer.as_ref(), new.redeem_points, m.body.member_code.is_some()).map_err(denied)?;
    // Checked (and used up) only once the caller may place the order at all, and not for a
    // repeat of a request already answered: that replays its answer (the code is spent).
    if let (Some(code), Some(mobile)) = (&m.body.member_code, &new.customer) {
        let replay = match &m.key {
            Some(key) => app.db.key_taken(&m.scope, key).await?,
            None => false,
        };
        if !replay {
            crate::auth::codes::use_code(&app, mobile, code, &peer.0).await?;
        }
    }
    if who.role() == Role::Customer {
        new.customer = who.mobile.clone();
    }
    let policy = app.policy;
    Ok(app.mutate(&m, StatusCode::CREATED, &render_placed, async |idem| app.db.place_order(new, &policy, idem).await).await)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct OrderQuery {
    /// Orders placed at this store.
    store_code: Option<String>,
    /// Pickups waiting at (or handed over by) this store.
    pickup_store_code: Option<String>,
    /// `reserved`, `paid`, `ready_for_pickup`...
    status: Option<String>,
    customer_mobile: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/orders", tag = "orders", params(OrderQuery), responses((status = 200, body = PageView<OrderView>), (status = 422, body = Problem)))]
async fn list_orders(State(app): State<AppState>, caller: Caller, Params(q): Params<OrderQuery>) -> ApiResult<Json<PageView<OrderView>>> {
    let mut filter = OrderFilter {
        customer: q.customer_mobile.as_deref().map(Mobile::parse).transpose()?,
        store_code: code_filter("store_code", q.store_code)?,
        pickup_store_code: code_filter("pickup_store_code", q.pickup_store_code)?,
        status: q.status.as_deref().map(OrderStatus::parse).transpose()?,
    };
    scope_orders(&app, &caller, &mut filter).await?;
    let page = app.db.orders(&filter, &Paging { limit: q.limit, after: q.after }.request()).await?;
    Ok(Json(PageView::of(page, |o| OrderView::new(&o, false).for_viewer(caller.0.as_ref()))))
}

/// Narrows an order list to what the caller may see: a member their own, store staff and
/// partners a store of theirs they name (`store_code` or `pickup_store_code`; store staff of
/// one store may leave it out).
async fn scope_orders(app: &AppState, caller: &Caller, filter: &mut OrderFilter) -> ApiResult<()> {
    let who = caller.signed()?;
    let names_a_store = filter.store_code.is_some() || filter.pickup_store_code.is_some();
    match who.order_list(filter.customer.as_ref(), names_a_store).map_err(denied)? {
        OrderListScope::Any => Ok(()),
        OrderListScope::Member(me) => {
            filter.customer = Some(me);
            Ok(())
        }
        OrderListScope::Named(default) => {
            if let Some(only) = default {
                filter.store_code = Some(only.to_string());
            }
            for code in filter.store_code.iter().chain(filter.pickup_store_code.iter()) {
                scope::read_at(app, caller, Some(&LocationCode::parse(code)?)).await?;
            }
            Ok(())
        }
    }
}

#[utoipa::path(get, path = "/api/v1/orders/{order_id}", tag = "orders", responses((status = 200, body = OrderView), (status = 404, body = Problem)))]
async fn get_order(State(app): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<OrderView>> {
    let o = scope::order_for(&app, &caller, order_id(&id)?, OrderAccess::Read).await?;
    Ok(Json(OrderView::new(&o, false).for_viewer(caller.0.as_ref())))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PaymentInput {
    /// Exactly the order's total.
    amount_fen: i64,
    /// The till's receipt or the card terminal's reference.
    external_reference: String,
    /// `cash` or `card`: what a till takes itself. Online payments are not recorded here;
    /// they arrive as their provider's signed notification (`/payment-notifications/{provider}`).
    method: String,
}

#[utoipa::path(post, path = "/api/v1/orders/{order_id}/payments", tag = "orders", request_body = PaymentInput, params(IdempotencyKey),
    responses((status = 201, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn pay_order(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<PaymentInput>) -> ApiResult<Response> {
    let (order, places) = scope::order_with_places(&app, &caller, order_id(&id)?, OrderAccess::Work).await?;
    let id = order.id;
    let b = &m.body;
    caller.signed()?.may_record_payment(&places, b.method.trim()).map_err(denied)?;
    if b.amount_fen < 0 {
        return Err(ApiError::field("amount_fen", "invalid_amount", "an amount cannot be negative"));
    }
    let payment = NewPayment {
        amount: Fen::new(b.amount_fen),
        external_reference: check_text("external_reference", &b.external_reference, 120)?,
        method: check_text("method", &b.method, 32)?,
    };
    let policy = app.policy;
    Ok(app.mutate(&m, StatusCode::CREATED, &render, async |idem| app.db.pay_order(id, payment, &policy, idem).await).await)
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NoInput {}

async fn advance(app: &AppState, caller: &Caller, id: &str, m: &Mutation<NoInput>, action: OrderAction) -> ApiResult<Response> {
    let id = scope::order_for(app, caller, order_id(id)?, OrderAccess::Work).await?.id;
    let policy = app.policy;
    Ok(app.mutate(m, StatusCode::OK, &render, async |idem| app.db.advance_order(id, action, &policy, idem).await).await)
}

/// Staff start picking a paid order.
#[utoipa::path(post, path = "/api/v1/orders/{order_id}/fulfilment", tag = "orders", params(IdempotencyKey),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn start_fulfilment(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    m: Mutation<NoInput>,
) -> ApiResult<Response> {
    advance(&app, &caller, &id, &m, OrderAction::Fulfil).await
}

/// The goods leave: held units become sales at the fulfilling locations.
#[utoipa::path(post, path = "/api/v1/orders/{order_id}/shipment", tag = "orders", params(IdempotencyKey),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn ship_order(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<NoInput>) -> ApiResult<Response> {
    advance(&app, &caller, &id, &m, OrderAction::Ship).await
}

/// Delivered: the order completes and the member earns points.
#[utoipa::path(post, path = "/api/v1/orders/{order_id}/delivery", tag = "orders", params(IdempotencyKey),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn deliver_order(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<NoInput>) -> ApiResult<Response> {
    advance(&app, &caller, &id, &m, OrderAction::Complete).await
}

/// Staff mark a pickup ready: goods in transit arrive and are held at the pickup store.
#[utoipa::path(post, path = "/api/v1/orders/{order_id}/ready", tag = "orders", params(IdempotencyKey),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn mark_ready(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<NoInput>) -> ApiResult<Response> {
    advance(&app, &caller, &id, &m, OrderAction::MarkReady).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HandoverInput {
    /// The code sent with the order.
    pickup_code: String,
}

#[utoipa::path(post, path = "/api/v1/orders/{order_id}/handover", tag = "orders", request_body = HandoverInput, params(IdempotencyKey),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn hand_over(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<HandoverInput>) -> ApiResult<Response> {
    let id = scope::order_for(&app, &caller, order_id(&id)?, OrderAccess::Work).await?.id;
    let code = m.body.pickup_code.clone();
    let policy = app.policy;
    Ok(app.mutate(&m, StatusCode::OK, &render, async |idem| app.db.hand_over_order(id, &code, &policy, idem).await).await)
}

#[utoipa::path(post, path = "/api/v1/orders/{order_id}/cancellation", tag = "orders", params(IdempotencyKey),
    responses((status = 200, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem)))]
async fn cancel_order(State(app): State<AppState>, caller: Caller, Path(id): Path<String>, m: Mutation<NoInput>) -> ApiResult<Response> {
    let (order, places) = scope::order_with_places(&app, &caller, order_id(&id)?, OrderAccess::Work).await?;
    let id = order.id;
    caller.signed()?.may_cancel(&places).map_err(denied)?;
    let policy = app.policy;
    Ok(app.mutate(&m, StatusCode::OK, &render, async |idem| app.db.cancel_order(id, &policy, idem).await).await)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderReturnLineInput {
    line_no: i64,
    quantity: i64,
    /// Damaged goods go to the store's damaged balance, not back on sale.
    #[serde(default)]
    damaged: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OrderReturnInput {
    /// The store taking the goods back: any open store.
    store_code: String,
    lines: Vec<OrderReturnLineInput>,
}

#[utoipa::path(post, path = "/api/v1/orders/{order_id}/returns", tag = "orders", request_body = OrderReturnInput, params(IdempotencyKey),
    responses((status = 201, body = OrderView), (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn return_lines(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    m: Mutation<OrderReturnInput>,
) -> ApiResult<Response> {
    let id = order_id(&id)?;
    let store = LocationCode::parse(&m.body.store_code).map_err(|e| e.at("store_code"))?;
    // Any store takes a return of any order: the clerk must work at the store taking it, and
    // is answered only what they may see of an order not theirs.
    scope::act_at(&caller, &store)?;
    let masked = scope::order_hidden(&app, &caller, id).await?;
    let lines = m
        .body
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| Ok((l.line_no, Quantity::new(l.quantity).map_err(|e| e.at(format!("lines[{i}].quantity")))?, l.damaged)))
        .collect::<Result<Vec<_>, DomainError>>()?;
    let policy = app.policy;
    let render = if masked { render_masked } else { render };
    Ok(app.mutate(&m, StatusCode::CREATED, &render, async |idem| app.db.return_order_lines(id, &store, &lines, &policy, idem).await).await)
}

/// A member's account.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CustomerView {
    customer_mobile: String,
    points_balance: i64,
    order_count: i64,
    created_at: Timestamp,
}

fn mobile(raw: &str) -> ApiResult<Mobile> {
    Mobile::parse(raw).map_err(ApiError::from)
}

#[utoipa::path(get, path = "/api/v1/customers/{customer_mobile}", tag = "orders", responses((status = 200, body = CustomerView), (status = 404, body = Problem)))]
async fn get_customer(State(app): State<AppState>, caller: Caller, Path(raw): Path<String>) -> ApiResult<Json<CustomerView>> {
    let m = mobile(&raw)?;
    scope::member(&caller, &m)?;
    let c = app.db.customer(&m).await?.ok_or_else(|| ApiError::not_found("customer_not_found", format!("no member {}", m.masked())))?;
    Ok(Json(CustomerView {
        customer_mobile: c.mobile,
        points_balance: c.points_balance,
        order_count: c.order_count,
        created_at: c.created_at,
    }))
}

#[utoipa::path(get, path = "/api/v1/customers/{customer_mobile}/orders", tag = "orders", params(Paging),
    responses((status = 200, body = PageView<OrderView>), (status = 422, body = Problem)))]
async fn customer_orders(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Params(p): Params<Paging>,
) -> ApiResult<Json<PageView<OrderView>>> {
    let m = mobile(&raw)?;
    scope::member(&caller, &m)?;
    let filter = OrderFilter { customer: Some(m), ..Default::default() };
    let page = app.db.orders(&filter, &p.request()).await?;
    Ok(Json(PageView::of(page, |o| OrderView::new(&o, false))))
}

/// One change to a points balance.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PointsView {
    seq: i64,
    order_id: Option<String>,
    delta: i64,
    reason: String,
    recorded_at: Timestamp,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PointsQuery {
    limit: Option<u32>,
    after: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/customers/{customer_mobile}/points", tag = "orders", params(PointsQuery),
    responses((status = 200, body = PageView<PointsView>), (status = 422, body = Problem)))]
async fn customer_points(
    State(app): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
    Params(q): Params<PointsQuery>,
) -> ApiResult<Json<PageView<PointsView>>> {
    let m = mobile(&raw)?;
    scope::member(&caller, &m)?;
    let page = app.db.points_history(&m, &Paging { limit: q.limit, after: q.after }.request()).await?;
    Ok(Json(PageView::of(page, |p: PointsEntry| PointsView {
        seq: p.seq,
        order_id: p.order_id,
        delta: p.delta,
        reason: p.reason,
        recorded_at: p.recorded_at,
    })))
}
