//! `/network`: coverage of China's counties, gaps, the expansion planner, divisions, and the
//! store locator (`/stores/nearest`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tongjia_domain::DomainError;
use tongjia_domain::codes::SkuCode;
use tongjia_domain::location::GeoPoint;
use tongjia_domain::network::coverage::{Gap, Share, trend, trend_months};
use tongjia_domain::network::{Coverage, DivisionLevel, TOWNSHIP_TARGET_DEFAULT, TOWNSHIP_TARGET_MAX, coverage, gaps, plan};
use tongjia_storage::reference::divisions;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::extract::Params;
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_coverage))
        .routes(routes!(coverage_svg))
        .routes(routes!(get_gaps))
        .routes(routes!(get_plan))
        .routes(routes!(get_division))
        .routes(routes!(nearest_stores))
}

/// Today's date on this server: what "open now" means for a store.
pub(crate) fn today() -> Date {
    jiff::Zoned::now().date()
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CoverageQuery {
    /// The date (YYYY-MM-DD); default today.
    at: Option<Date>,
    /// Township stores aimed for (default 10,000).
    township_target: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ShareView {
    code: String,
    name: String,
    counties: i64,
    covered: i64,
    /// covered / counties in basis points (6125 = 61.25%).
    share_bp: i64,
    share_percent: String,
    stores: i64,
}

impl From<&Share> for ShareView {
    fn from(s: &Share) -> Self {
        ShareView {
            code: s.code.clone(),
            name: s.name.clone(),
            counties: s.counties,
            covered: s.covered,
            share_bp: s.share_bp,
            share_percent: s.percent(),
            stores: s.stores,
        }
    }
}

/// Coverage of county-level divisions by open stores on a date.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CoverageView {
    at: Date,
    overall: ShareView,
    by_province: Vec<ShareView>,
    /// Counties covered by stores of each kind.
    by_kind: Vec<ShareView>,
    township_stores: i64,
    townships_covered: i64,
    township_target: i64,
    /// Township stores against the target, in basis points.
    township_progress_bp: i64,
}

impl From<&Coverage> for CoverageView {
    fn from(c: &Coverage) -> Self {
        CoverageView {
            at: c.at,
            overall: ShareView::from(&c.overall),
            by_province: c.by_province.iter().map(ShareView::from).collect(),
            by_kind: c.by_kind.iter().map(ShareView::from).collect(),
            township_stores: c.township_stores,
            townships_covered: c.townships_covered,
            township_target: c.township_target,
            township_progress_bp: if c.township_target > 0 { c.township_stores * 10_000 / c.township_target } else { 0 },
        }
    }
}

fn target(t: Option<i64>) -> ApiResult<i64> {
    match t {
        None => Ok(TOWNSHIP_TARGET_DEFAULT),
        Some(t) if (1..=TOWNSHIP_TARGET_MAX).contains(&t) => Ok(t),
        Some(_) => {
            Err(ApiError::field("township_target", "invalid_target", format!("township_target is between 1 and {TOWNSHIP_TARGET_MAX}")))
        }
    }
}

#[utoipa::path(get, path = "/api/v1/network/coverage", tag = "network", params(CoverageQuery),
    responses((status = 200, body = CoverageView), (status = 422, body = Problem), (status = 503, body = Problem, description = "Busy computing other heavy answers: retry shortly")))]
async fn get_coverage(State(app): State<AppState>, Params(q): Params<CoverageQuery>) -> ApiResult<Json<CoverageView>> {
    let (at, target) = (q.at.unwrap_or_else(today), target(q.township_target)?);
    let sites = app.db.store_sites().await?;
    let c = app.heavy.run(move |_| Some(coverage(divisions(), &sites, at, target))).await?;
    Ok(Json(CoverageView::from(&c)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ChartQuery {
    at: Option<Date>,
    /// First month of the trend line (default two years before `at`; at most 120 months
    /// before it).
    from: Option<Date>,
}

/// An SVG chart: coverage by province on `at`, and the national share month by month.
#[utoipa::path(get, path = "/api/v1/network/coverage.svg", tag = "network", params(ChartQuery),
    responses((status = 200, content_type = "image/svg+xml", description = "The chart"), (status = 422, body = Problem), (status = 503, body = Problem, description = "Busy computing other heavy answers: retry shortly")))]
async fn coverage_svg(State(app): State<AppState>, Params(q): Params<ChartQuery>) -> ApiResult<Response> {
    let at = q.at.unwrap_or_else(today);
    let from = q.from.unwrap_or_else(|| at.checked_sub(jiff::Span::new().years(2)).unwrap_or(at));
    let months = trend_months(from, at)?;
    let sites = app.db.store_sites().await?;
    let chart = app
        .heavy
        .run(move |stop| {
            let now = coverage(divisions(), &sites, at, TOWNSHIP_TARGET_DEFAULT);
            let months = trend(divisions(), &sites, &months, TOWNSHIP_TARGET_DEFAULT, || stop.requested())?;
            Some(crate::network_chart::render(&now, &months))
        })
        .await?;
    let mut res = chart.into_response();
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml"));
    Ok(res)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct GapQuery {
    at: Option<Date>,
    /// Counties listed, 1–500 (default 50).
    limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GapView {
    county_code: String,
    name: String,
    province: String,
    nearest_store_m: Option<i64>,
    nearest_store_code: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GapsView {
    at: Date,
    uncovered: usize,
    items: Vec<GapView>,
}

fn limit(l: Option<usize>, default: usize, max: usize) -> ApiResult<usize> {
    match l {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::field("limit", "invalid_limit", format!("limit is between 1 and {max}"))),
    }
}

/// Uncovered counties, farthest from any open store first.
#[utoipa::path(get, path = "/api/v1/network/gaps", tag = "network", params(GapQuery), responses((status = 200, body = GapsView), (status = 422, body = Problem), (status = 503, body = Problem, description = "Busy computing other heavy answers: retry shortly")))]
async fn get_gaps(State(app): State<AppState>, Params(q): Params<GapQuery>) -> ApiResult<Json<GapsView>> {
    let n = limit(q.limit, 50, 500)?;
    let at = q.at.unwrap_or_else(today);
    let sites = app.db.store_sites().await?;
    let all = app.heavy.run(move |_| Some(gaps(divisions(), &sites, at))).await?;
    let items = all
        .iter()
        .take(n)
        .map(|g: &Gap| GapView {
            county_code: g.county_code.clone(),
            name: g.name.clone(),
            province: g.province.clone(),
            nearest_store_m: g.nearest_store_m,
            nearest_store_code: g.nearest_store_code.clone(),
        })
        .collect();
    Ok(Json(GapsView { at, uncovered: all.len(), items }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PlanQuery {
    /// New sites wanted, 1–500.
    stores: usize,
    at: Option<Date>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SiteView {
    county_code: String,
    county_name: String,
    township_code: Option<String>,
    longitude: f64,
    latitude: f64,
    distance_before_m: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PlanView {
    sites: Vec<SiteView>,
    new_counties_covered: i64,
    worst_after_m: i64,
    mean_after_m: i64,
}

/// Proposes new sites: most new counties, then the lowest worst and mean distance.
#[utoipa::path(get, path = "/api/v1/network/plan", tag = "network", params(PlanQuery), responses((status = 200, body = PlanView), (status = 422, body = Problem), (status = 503, body = Problem, description = "Busy computing other heavy answers: retry shortly")))]
async fn get_plan(State(app): State<AppState>, Params(q): Params<PlanQuery>) -> ApiResult<Json<PlanView>> {
    let n = limit(Some(q.stores), 10, 500).map_err(|_| ApiError::field("stores", "invalid_stores", "stores is between 1 and 500"))?;
    let at = q.at.unwrap_or_else(today);
    let open: Vec<_> = app.db.store_sites().await?.iter().filter(|s| s.open_on(at)).cloned().collect();
    let p = app.heavy.run(move |_| Some(plan(divisions(), &open, n, &HashMap::new()))).await?;
    Ok(Json(PlanView {
        sites: p
            .sites
            .into_iter()
            .map(|s| SiteView {
                county_code: s.county_code,
                county_name: s.county_name,
                township_code: s.township_code,
                longitude: s.longitude,
                latitude: s.latitude,
                distance_before_m: s.distance_before_m,
            })
            .collect(),
        new_counties_covered: p.new_counties_covered,
        worst_after_m: p.worst_after_m,
        mean_after_m: p.mean_after_m,
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct DivisionView {
    code: String,
    name: String,
    /// `province`, `prefecture`, `county` or `township`.
    level: &'static str,
    /// For county-level codes: `county`, `city` (without counties) or `zone` (not an
    /// administrative division).
    kind: Option<&'static str>,
    parent_code: Option<String>,
    longitude: Option<f64>,
    latitude: Option<f64>,
    stores: i64,
}

#[utoipa::path(get, path = "/api/v1/network/divisions/{code}", tag = "network", responses((status = 200, body = DivisionView), (status = 404, body = Problem)))]
async fn get_division(State(app): State<AppState>, Path(code): Path<String>) -> ApiResult<Json<DivisionView>> {
    let d = divisions().get(&code).ok_or_else(|| ApiError::not_found("division_not_found", format!("no division {code}")))?;
    let point = divisions().point_of(&code);
    let stores = app
        .db
        .store_sites()
        .await?
        .iter()
        .filter(|s| s.kind.is_store() && s.township_code.as_deref().unwrap_or(&s.county_code).starts_with(&code))
        .count() as i64;
    let level = match d.level {
        DivisionLevel::Province => "province",
        DivisionLevel::Prefecture => "prefecture",
        DivisionLevel::County => "county",
        DivisionLevel::Township => "township",
    };
    let kind = d.kind.map(|k| match k {
        tongjia_domain::network::DivisionKind::County => "county",
        tongjia_domain::network::DivisionKind::City => "city",
        tongjia_domain::network::DivisionKind::Zone => "zone",
    });
    Ok(Json(DivisionView {
        code: d.code.clone(),
        name: d.name.clone(),
        level,
        kind,
        parent_code: d.parent.clone(),
        longitude: point.map(|p| p.longitude),
        latitude: point.map(|p| p.latitude),
        stores,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct NearestQuery {
    longitude: Option<f64>,
    latitude: Option<f64>,
    /// Instead of a point: a county-level or township code.
    division_code: Option<String>,
    /// Only stores that can promise this SKU now.
    sku_code: Option<String>,
    /// Stores listed, 1–50 (default 5).
    limit: Option<usize>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NearbyStore {
    pub(crate) store_code: String,
    pub(crate) distance_m: i64,
    /// Available to promise of the SKU asked about.
    pub(crate) available: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NearestView {
    longitude: f64,
    latitude: f64,
    items: Vec<NearbyStore>,
}

/// The `k` nearest stores open today to `point`; with `sku`, only those that can promise it
/// now, with how many (the storefront's and the price check's "in stock near you" too).
pub(crate) async fn nearest_with_stock(app: &AppState, point: &GeoPoint, sku: Option<&SkuCode>, k: usize) -> ApiResult<Vec<NearbyStore>> {
    let locator = app.locators.open_today(&app.db).await?;
    let Some(sku) = sku else {
        let near = locator.nearest(point, k, |_| true);
        return Ok(near.into_iter().map(|(code, d)| NearbyStore { store_code: code.to_owned(), distance_m: d, available: None }).collect());
    };
    if app.db.sku(sku.as_str()).await?.is_none() {
        return Err(ApiError::not_found("sku_not_found", format!("no SKU {sku}")));
    }
    let k = k.min(tongjia_domain::network::NEAREST_MAX);
    let mut found = Vec::with_capacity(k);
    // Nearest first, a batch of open stores at a time, their availability in one query each,
    // until `k` can promise it; past a few batches, one query for the SKU across the network.
    let mut near = locator.by_distance(point);
    for _ in 0..NEAREST_BATCHES {
        let batch: Vec<(&str, i64)> = near.by_ref().take(NEAREST_BATCH).collect();
        if batch.is_empty() {
            return Ok(found);
        }
        let codes: Vec<&str> = batch.iter().map(|(c, _)| *c).collect();
        let available = app.db.available_at(sku, &codes).await?;
        for (code, d) in batch {
            if let Some(&a) = available.get(code).filter(|a| **a > 0) {
                found.push(NearbyStore { store_code: code.to_owned(), distance_m: d, available: Some(a) });
                if found.len() == k {
                    return Ok(found);
                }
            }
        }
    }
    let everywhere: HashMap<String, i64> = app
        .db
        .availability(sku, None)
        .await?
        .into_iter()
        .filter(|(_, _, a)| a.available > 0)
        .map(|(l, _, a)| (l.to_string(), a.available))
        .collect();
    for (code, d) in near {
        if let Some(&a) = everywhere.get(code) {
            found.push(NearbyStore { store_code: code.to_owned(), distance_m: d, available: Some(a) });
            if found.len() == k {
                break;
            }
        }
    }
    Ok(found)
}

/// Stores whose availability one query reads, nearest first.
const NEAREST_BATCH: usize = 32;
/// Batches read before the locator reads the SKU across the network at once.
const NEAREST_BATCHES: usize = 4;

/// The nearest open stores to a point or division, optionally only those with a SKU
/// available to promise.
#[utoipa::path(get, path = "/api/v1/stores/nearest", tag = "network", params(NearestQuery),
    responses((status = 200, body = NearestView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn nearest_stores(State(app): State<AppState>, Params(q): Params<NearestQuery>) -> ApiResult<Json<NearestView>> {
    let k = limit(q.limit, 5, 50)?;
    let point = match (q.longitude, q.latitude, q.division_code.as_deref()) {
        (Some(lon), Some(lat), None) => GeoPoint::new(lon, lat)?,
        (None, None, Some(code)) => {
            divisions().point_of(code).ok_or_else(|| ApiError::not_found("division_not_found", format!("no division {code}")))?
        }
        _ => return Err(DomainError::invalid("longitude", "invalid_point", "give longitude and latitude, or division_code").into()),
    };
    let sku = q.sku_code.as_deref().map(|raw| SkuCode::parse(raw).map_err(|e| e.at("sku_code"))).transpose()?;
    let items = nearest_with_stock(&app, &point, sku.as_ref(), k).await?;
    Ok(Json(NearestView { longitude: point.longitude, latitude: point.latitude, items }))
}
