//! `/partners`, `/stores` and `/warehouses`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use tongjia_domain::DomainError;
use tongjia_domain::codes::{LocationCode, PartnerCode};
use tongjia_domain::location::{Capabilities, CountyCode, GeoPoint, Location, LocationKind, LocationStatus, TownshipCode};
use tongjia_storage::{LocationFilter, LocationRecord, Partner};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{IdempotencyKey, PageView, Paging, code_filter, opt, to_json};
use crate::AppState;
use crate::extract::{Mutation, Params};
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_partner, list_partners))
        .routes(routes!(create_store, list_stores))
        .routes(routes!(store_counts))
        .routes(routes!(get_store, update_store))
        .routes(routes!(create_warehouse, list_warehouses))
        .routes(routes!(get_warehouse))
}

/// A partner that runs authorized stores.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PartnerView {
    partner_code: String,
    name: String,
}

/// A warehouse or store.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LocationView {
    location_code: String,
    name: String,
    /// `warehouse`, `direct`, `authorized` or `township_authorized`.
    kind: String,
    province_code: String,
    prefecture_code: String,
    county_code: String,
    township_code: Option<String>,
    longitude: f64,
    latitude: f64,
    /// `planned`, `open` or `closed`.
    status: String,
    opened_on: Option<Date>,
    closed_on: Option<Date>,
    pickup: bool,
    ship_from_store: bool,
    delivery_radius_km: u32,
    partner_code: Option<String>,
    created_at: jiff::Timestamp,
    updated_at: jiff::Timestamp,
}

impl From<&LocationRecord> for LocationView {
    fn from(r: &LocationRecord) -> Self {
        let l = &r.location;
        LocationView {
            location_code: l.code.to_string(),
            name: l.name.clone(),
            kind: l.kind.to_string(),
            province_code: format!("{}0000", l.county_code.province()),
            prefecture_code: format!("{}00", l.county_code.prefecture()),
            county_code: l.county_code.to_string(),
            township_code: l.township_code.as_ref().map(ToString::to_string),
            longitude: l.point.longitude,
            latitude: l.point.latitude,
            status: l.status.as_str().to_owned(),
            opened_on: l.opened_on,
            closed_on: l.closed_on,
            pickup: l.capabilities.pickup,
            ship_from_store: l.capabilities.ship_from_store,
            delivery_radius_km: l.capabilities.delivery_radius_km,
            partner_code: l.partner_code.as_ref().map(ToString::to_string),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new store.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreInput {
    store_code: String,
    name: String,
    /// `direct`, `authorized` or `township_authorized`.
    kind: String,
    /// 6-digit county-level division code.
    county_code: String,
    /// 9-digit township code within the county.
    township_code: Option<String>,
    longitude: f64,
    latitude: f64,
    /// `planned` (default), `open` or `closed`.
    status: Option<String>,
    opened_on: Option<Date>,
    closed_on: Option<Date>,
    #[serde(default)]
    pickup: bool,
    #[serde(default)]
    ship_from_store: bool,
    #[serde(default)]
    delivery_radius_km: u32,
    /// Required for authorized kinds; refused for direct stores.
    partner_code: Option<String>,
}

/// A new warehouse.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct WarehouseInput {
    warehouse_code: String,
    name: String,
    county_code: String,
    township_code: Option<String>,
    longitude: f64,
    latitude: f64,
    /// `planned`, `open` (default) or `closed`.
    status: Option<String>,
    opened_on: Option<Date>,
}

/// Changes to a store; absent fields stay as they are. The result is checked as a whole.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StorePatch {
    name: Option<String>,
    kind: Option<String>,
    /// `null` removes the township.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    township_code: Option<Option<String>>,
    longitude: Option<f64>,
    latitude: Option<f64>,
    status: Option<String>,
    opened_on: Option<Date>,
    /// `null` removes the closing date (to reopen a store, with `status: open`).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Date>)]
    closed_on: Option<Option<Date>>,
    pickup: Option<bool>,
    ship_from_store: Option<bool>,
    delivery_radius_km: Option<u32>,
    /// `null` removes the partner (a store turning direct).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    partner_code: Option<Option<String>>,
}

/// Tells a field sent as `null` (`Some(None)`: clear it) from a field left out (`None`:
/// keep it).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LocationQuery {
    kind: Option<String>,
    status: Option<String>,
    /// A province (2 digits), prefecture (4) or county (6) code prefix; `330000` and `330100` work too.
    division: Option<String>,
    partner_code: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

/// Parses a division filter into the county-code prefix it means.
fn division_prefix(raw: &str) -> Result<String, DomainError> {
    let ok = raw.bytes().all(|b| b.is_ascii_digit()) && matches!(raw.len(), 2 | 4 | 6);
    if !ok {
        return Err(DomainError::invalid("division", "invalid_division", "a division is 2, 4 or 6 digits (province, prefecture, county)"));
    }
    let trimmed = if raw.len() == 6 && raw.ends_with("0000") {
        &raw[..2]
    } else if raw.len() == 6 && raw.ends_with("00") {
        &raw[..4]
    } else {
        raw
    };
    Ok(trimmed.to_owned())
}

fn filter(q: &LocationQuery, stores: bool) -> Result<LocationFilter, DomainError> {
    let kind = opt(q.kind.as_deref(), LocationKind::parse)?;
    if let Some(k) = kind
        && k.is_store() != stores
    {
        return Err(DomainError::invalid("kind", "invalid_kind", format!("{k} is not a kind listed here")));
    }
    Ok(LocationFilter {
        stores: Some(stores),
        kind,
        status: opt(q.status.as_deref(), LocationStatus::parse)?,
        division: opt(q.division.as_deref(), division_prefix)?,
        partner_code: code_filter("partner_code", q.partner_code.clone())?,
    })
}

#[utoipa::path(post, path = "/api/v1/partners", tag = "locations", request_body = PartnerView,
    params(IdempotencyKey),
    responses((status = 201, body = PartnerView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_partner(State(app): State<AppState>, m: Mutation<PartnerView>) -> ApiResult<Response> {
    let p = Partner { code: PartnerCode::parse(&m.body.partner_code)?, name: m.body.name.clone() };
    let render = |p: &Partner| to_json(&PartnerView { partner_code: p.code.to_string(), name: p.name.clone() });
    Ok(app.mutate(&m, StatusCode::CREATED, &render, async |idem| app.db.create_partner(p, idem).await).await)
}

#[utoipa::path(get, path = "/api/v1/partners", tag = "locations", params(Paging), responses((status = 200, body = PageView<PartnerView>)))]
async fn list_partners(State(app): State<AppState>, Params(p): Params<Paging>) -> ApiResult<Json<PageView<PartnerView>>> {
    let page = app.db.partners(&p.request()).await?;
    Ok(Json(PageView::of(page, |p| PartnerView { partner_code: p.code.to_string(), name: p.name })))
}

fn render_location(r: &LocationRecord) -> String {
    to_json(&LocationView::from(r))
}

#[utoipa::path(post, path = "/api/v1/stores", tag = "locations", request_body = StoreInput,
    params(IdempotencyKey),
    responses((status = 201, body = LocationView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_store(State(app): State<AppState>, m: Mutation<StoreInput>) -> ApiResult<Response> {
    let b = &m.body;
    let kind = LocationKind::parse(&b.kind)?;
    if !kind.is_store() {
        return Err(ApiError::field(
            "kind",
            "invalid_kind",
            "a store is direct, authorized or township_authorized; create warehouses at /warehouses",
        ));
    }
    let location = Location::new(Location {
        code: LocationCode::parse(&b.store_code).map_err(|e| e.at("store_code"))?,
        name: b.name.clone(),
        kind,
        county_code: CountyCode::parse(&b.county_code)?,
        township_code: opt(b.township_code.as_deref(), TownshipCode::parse)?,
        point: GeoPoint::new(b.longitude, b.latitude)?,
        status: opt(b.status.as_deref(), LocationStatus::parse)?.unwrap_or(LocationStatus::Planned),
        opened_on: b.opened_on,
        closed_on: b.closed_on,
        capabilities: Capabilities { pickup: b.pickup, ship_from_store: b.ship_from_store, delivery_radius_km: b.delivery_radius_km },
        partner_code: opt(b.partner_code.as_deref(), PartnerCode::parse)?,
    })?;
    Ok(app.mutate(&m, StatusCode::CREATED, &render_location, async |idem| app.db.create_location(location, idem).await).await)
}

#[utoipa::path(post, path = "/api/v1/warehouses", tag = "locations", request_body = WarehouseInput,
    params(IdempotencyKey),
    responses((status = 201, body = LocationView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_warehouse(State(app): State<AppState>, m: Mutation<WarehouseInput>) -> ApiResult<Response> {
    let b = &m.body;
    let status = opt(b.status.as_deref(), LocationStatus::parse)?.unwrap_or(LocationStatus::Open);
    let opened_on = b.opened_on.or_else(|| (status != LocationStatus::Planned).then(|| jiff::Zoned::now().date()));
    let location = Location::new(Location {
        code: LocationCode::parse(&b.warehouse_code).map_err(|e| e.at("warehouse_code"))?,
        name: b.name.clone(),
        kind: LocationKind::Warehouse,
        county_code: CountyCode::parse(&b.county_code)?,
        township_code: opt(b.township_code.as_deref(), TownshipCode::parse)?,
        point: GeoPoint::new(b.longitude, b.latitude)?,
        status,
        opened_on,
        closed_on: None,
        capabilities: Capabilities { pickup: false, ship_from_store: true, delivery_radius_km: 0 },
        partner_code: None,
    })?;
    Ok(app.mutate(&m, StatusCode::CREATED, &render_location, async |idem| app.db.create_location(location, idem).await).await)
}

#[utoipa::path(get, path = "/api/v1/stores", tag = "locations", params(LocationQuery), responses((status = 200, body = PageView<LocationView>), (status = 422, body = Problem)))]
async fn list_stores(State(app): State<AppState>, Params(q): Params<LocationQuery>) -> ApiResult<Json<PageView<LocationView>>> {
    let page = app.db.locations(&filter(&q, true)?, &Paging { limit: q.limit, after: q.after.clone() }.request()).await?;
    Ok(Json(PageView::of(page, |r| LocationView::from(&r))))
}

#[utoipa::path(get, path = "/api/v1/warehouses", tag = "locations", params(LocationQuery), responses((status = 200, body = PageView<LocationView>), (status = 422, body = Problem)))]
async fn list_warehouses(State(app): State<AppState>, Params(q): Params<LocationQuery>) -> ApiResult<Json<PageView<LocationView>>> {
    let page = app.db.locations(&filter(&q, false)?, &Paging { limit: q.limit, after: q.after.clone() }.request()).await?;
    Ok(Json(PageView::of(page, |r| LocationView::from(&r))))
}

/// How many stores of each kind and status.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoreCount {
    kind: String,
    status: String,
    count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StoreCounts {
    division: Option<String>,
    total: i64,
    items: Vec<StoreCount>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CountQuery {
    /// A province (2 digits), prefecture (4) or county (6) code prefix.
    division: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/stores/counts", tag = "locations", params(CountQuery), responses((status = 200, body = StoreCounts), (status = 422, body = Problem)))]
async fn store_counts(State(app): State<AppState>, Params(q): Params<CountQuery>) -> ApiResult<Json<StoreCounts>> {
    let division = opt(q.division.as_deref(), division_prefix)?;
    let counts = app.db.location_counts(division.as_deref()).await?;
    let items: Vec<StoreCount> = counts
        .into_iter()
        .filter(|(k, _, _)| k.is_store())
        .map(|(k, s, n)| StoreCount { kind: k.to_string(), status: s.as_str().to_owned(), count: n })
        .collect();
    Ok(Json(StoreCounts { division, total: items.iter().map(|c| c.count).sum(), items }))
}

async fn location_of(app: &AppState, code: &str, store: bool) -> ApiResult<LocationRecord> {
    let what = if store { "store" } else { "warehouse" };
    match app.db.location(code).await? {
        Some(r) if r.location.kind.is_store() == store => Ok(r),
        _ => Err(ApiError::not_found(&format!("{what}_not_found"), format!("no {what} {code}"))),
    }
}

#[utoipa::path(get, path = "/api/v1/stores/{store_code}", tag = "locations", responses((status = 200, body = LocationView), (status = 404, body = Problem)))]
async fn get_store(State(app): State<AppState>, Path(code): Path<String>) -> ApiResult<Json<LocationView>> {
    Ok(Json(LocationView::from(&location_of(&app, &code, true).await?)))
}

#[utoipa::path(get, path = "/api/v1/warehouses/{warehouse_code}", tag = "locations", responses((status = 200, body = LocationView), (status = 404, body = Problem)))]
async fn get_warehouse(State(app): State<AppState>, Path(code): Path<String>) -> ApiResult<Json<LocationView>> {
    Ok(Json(LocationView::from(&location_of(&app, &code, false).await?)))
}

#[utoipa::path(patch, path = "/api/v1/stores/{store_code}", tag = "locations", request_body = StorePatch,
    params(IdempotencyKey),
    responses((status = 200, body = LocationView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_store(State(app): State<AppState>, Path(code): Path<String>, m: Mutation<StorePatch>) -> ApiResult<Response> {
    let current = location_of(&app, &code, true).await?.location;
    let b = &m.body;
    let kind = opt(b.kind.as_deref(), LocationKind::parse)?.unwrap_or(current.kind);
    let partner_code = match &b.partner_code {
        Some(Some(p)) => Some(PartnerCode::parse(p)?),
        Some(None) => None,
        None => current.partner_code.clone(),
    };
    let location = Location::new(Location {
        name: b.name.clone().unwrap_or(current.name.clone()),
        kind,
        township_code: match &b.township_code {
            Some(Some(t)) => Some(TownshipCode::parse(t)?),
            Some(None) => None,
            None => current.township_code.clone(),
        },
        point: GeoPoint::new(b.longitude.unwrap_or(current.point.longitude), b.latitude.unwrap_or(current.point.latitude))?,
        status: opt(b.status.as_deref(), LocationStatus::parse)?.unwrap_or(current.status),
        opened_on: b.opened_on.or(current.opened_on),
        closed_on: b.closed_on.unwrap_or(current.closed_on),
        capabilities: Capabilities {
            pickup: b.pickup.unwrap_or(current.capabilities.pickup),
            ship_from_store: b.ship_from_store.unwrap_or(current.capabilities.ship_from_store),
            delivery_radius_km: b.delivery_radius_km.unwrap_or(current.capabilities.delivery_radius_km),
        },
        partner_code,
        ..current
    })?;
    Ok(app.mutate(&m, StatusCode::OK, &render_location, async |idem| app.db.update_location(location, idem).await).await)
}
