//! The one price book: `/skus/{sku_code}/prices` and `/skus/{sku_code}/quote`.
//! There is deliberately no route or field that sets a price for one channel or store:
//! the fields a caller might try are named in the schema and refused with
//! `price_is_channel_blind`, and so is `/stores/{store_code}/prices`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use tongjia_domain::codes::{LocationCode, SkuCode};
use tongjia_domain::pricing::{Channel, PRICE_IS_CHANNEL_BLIND, PriceChange, PriceVersion, Quote};
use tongjia_domain::{DomainError, Fen};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{IdempotencyKey, to_json};
use crate::AppState;
use crate::extract::{Mutation, Params};
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(schedule_price, price_history)).routes(routes!(get_quote)).routes(routes!(store_price))
}

/// A price to schedule for every channel and store at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PriceInput {
    list_price_fen: i64,
    /// What members pay; at most the list price.
    member_price_fen: Option<i64>,
    /// When the price takes effect (RFC 3339); default now; never in the past.
    effective_at: Option<Timestamp>,
    note: Option<String>,
    /// Refused: a price is the same in every channel (`price_is_channel_blind`).
    channel: Option<serde_json::Value>,
    /// Refused: a price is the same in every store (`price_is_channel_blind`).
    store_code: Option<serde_json::Value>,
    /// Refused: a price is the same in every location (`price_is_channel_blind`).
    location_code: Option<serde_json::Value>,
}

/// One immutable version of a SKU's price.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PriceVersionView {
    sku_code: String,
    price_version: i64,
    list_price_fen: i64,
    member_price_fen: Option<i64>,
    effective_at: Timestamp,
    scheduled_at: Timestamp,
    note: Option<String>,
}

impl From<&PriceVersion> for PriceVersionView {
    fn from(v: &PriceVersion) -> Self {
        PriceVersionView {
            sku_code: v.sku_code.to_string(),
            price_version: v.version,
            list_price_fen: v.list_price.get(),
            member_price_fen: v.member_price.map(Fen::get),
            effective_at: v.effective_at,
            scheduled_at: v.scheduled_at,
            note: v.note.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PriceHistory {
    sku_code: String,
    items: Vec<PriceVersionView>,
}

/// The one price of a SKU at an instant, for the channel asked about.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct QuoteView {
    sku_code: String,
    /// `online` or `store:CODE` — echoed; the amount never depends on it.
    channel: String,
    at: Timestamp,
    unit_price_fen: i64,
    list_price_fen: i64,
    member_price_fen: Option<i64>,
    price_version: i64,
    effective_at: Timestamp,
    currency: &'static str,
}

impl QuoteView {
    fn new(q: &Quote, channel: &Channel) -> Self {
        QuoteView {
            sku_code: q.sku_code.to_string(),
            channel: channel.label(),
            at: q.at,
            unit_price_fen: q.unit_price.get(),
            list_price_fen: q.list_price.get(),
            member_price_fen: q.member_price.map(Fen::get),
            price_version: q.price_version,
            effective_at: q.effective_at,
            currency: "CNY",
        }
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct QuoteQuery {
    /// `online` (default) or `store`.
    channel: Option<String>,
    /// The store, for the `store` channel.
    store_code: Option<String>,
    /// The instant (RFC 3339); default now.
    at: Option<Timestamp>,
    /// Quote the member price when one is set.
    #[serde(default)]
    member: bool,
}

fn channel_blind(field: &str) -> DomainError {
    DomainError::rule(PRICE_IS_CHANNEL_BLIND, "a SKU has one price for every channel and store: schedule it without a channel or store")
        .at(field)
}

#[utoipa::path(post, path = "/api/v1/skus/{sku_code}/prices", tag = "prices", request_body = PriceInput,
    params(IdempotencyKey),
    responses((status = 201, body = PriceVersionView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn schedule_price(State(app): State<AppState>, Path(sku): Path<String>, m: Mutation<PriceInput>) -> ApiResult<Response> {
    let b = &m.body;
    for (field, v) in [("channel", &b.channel), ("store_code", &b.store_code), ("location_code", &b.location_code)] {
        if v.is_some() {
            return Err(channel_blind(field).into());
        }
    }
    let change = PriceChange {
        sku_code: SkuCode::parse(&sku)?,
        list_price: Fen::price(b.list_price_fen, "list_price_fen")?,
        member_price: b.member_price_fen.map(|m| Fen::price(m, "member_price_fen")).transpose()?,
        effective_at: b.effective_at,
        note: b.note.clone(),
    };
    let render = |v: &PriceVersion| to_json(&PriceVersionView::from(v));
    Ok(app.mutate(&m, StatusCode::CREATED, &render, async |idem| app.db.schedule_price(change, idem).await).await)
}

#[utoipa::path(get, path = "/api/v1/skus/{sku_code}/prices", tag = "prices", responses((status = 200, body = PriceHistory), (status = 404, body = Problem)))]
async fn price_history(State(app): State<AppState>, Path(sku): Path<String>) -> ApiResult<Json<PriceHistory>> {
    let code = SkuCode::parse(&sku)?;
    if app.db.sku(&sku).await?.is_none() {
        return Err(ApiError::not_found("sku_not_found", format!("no SKU {sku}")));
    }
    let versions = app.db.price_versions(&code).await?;
    Ok(Json(PriceHistory { sku_code: sku, items: versions.iter().map(PriceVersionView::from).collect() }))
}

#[utoipa::path(get, path = "/api/v1/skus/{sku_code}/quote", tag = "prices", params(QuoteQuery),
    responses((status = 200, body = QuoteView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn get_quote(State(app): State<AppState>, Path(sku): Path<String>, Params(q): Params<QuoteQuery>) -> ApiResult<Json<QuoteView>> {
    let code = SkuCode::parse(&sku)?;
    let channel = match (q.channel.as_deref(), q.store_code.as_deref()) {
        (None | Some("online"), None) => Channel::Online,
        (None | Some("store"), Some(store)) => {
            let store = LocationCode::parse(store).map_err(|e| e.at("store_code"))?;
            match app.db.location(store.as_str()).await? {
                Some(r) if r.location.kind.is_store() => Channel::Store(store),
                _ => return Err(ApiError::not_found("store_not_found", format!("no store {store}"))),
            }
        }
        (Some("store"), None) => return Err(ApiError::field("store_code", "store_code_required", "the store channel needs store_code")),
        _ => return Err(ApiError::field("channel", "invalid_channel", "channel is online, or store with store_code")),
    };
    let quote = app.db.quote(&code, q.at.unwrap_or_else(Timestamp::now), q.member).await?;
    Ok(Json(QuoteView::new(&quote, &channel)))
}

/// Always refused: there is no store-specific price.
#[utoipa::path(post, path = "/api/v1/stores/{store_code}/prices", tag = "prices",
    responses((status = 422, body = Problem, description = "Always `price_is_channel_blind`")))]
async fn store_price(Path(_store): Path<String>) -> ApiError {
    channel_blind("store_code").into()
}
