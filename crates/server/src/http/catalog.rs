//! `/products` and `/skus`.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tongjia_domain::catalog::{Gtin13, Product, Sku, check_category};
use tongjia_domain::codes::{ProductCode, SkuCode};
use tongjia_storage::{SkuFilter, SkuPatch, SkuRecord};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{IdempotencyKey, PageView, Paging, code_filter, opt, to_json};
use crate::AppState;
use crate::extract::{Mutation, Params};
use crate::problem::{ApiError, ApiResult, Problem};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_product, list_products))
        .routes(routes!(get_product))
        .routes(routes!(create_sku, list_skus))
        .routes(routes!(get_sku, update_sku))
}

/// A product: the model SKUs are variants of.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductView {
    product_code: String,
    name: String,
    /// Lower-case category code: `phone`, `tv`, `wearable`, `smart_home`...
    category: String,
}

impl From<&Product> for ProductView {
    fn from(p: &Product) -> Self {
        ProductView { product_code: p.code.to_string(), name: p.name.clone(), category: p.category.clone() }
    }
}

/// A SKU: one sellable variant.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SkuView {
    sku_code: String,
    product_code: String,
    product_name: String,
    category: String,
    name: String,
    attributes: BTreeMap<String, String>,
    /// GTIN-13 barcode.
    gtin: String,
    active: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl From<&SkuRecord> for SkuView {
    fn from(r: &SkuRecord) -> Self {
        SkuView {
            sku_code: r.sku.code.to_string(),
            product_code: r.sku.product_code.to_string(),
            product_name: r.product_name.clone(),
            category: r.category.clone(),
            name: r.sku.name.clone(),
            attributes: r.sku.attributes.clone(),
            gtin: r.sku.gtin.to_string(),
            active: r.sku.active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A new SKU of an existing product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkuInput {
    sku_code: String,
    product_code: String,
    name: String,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    /// GTIN-13 barcode; its check digit is verified.
    gtin: String,
    /// Default true.
    active: Option<bool>,
}

/// Changes to a SKU; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SkuPatchInput {
    name: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    gtin: Option<String>,
    active: Option<bool>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SkuQuery {
    product_code: Option<String>,
    category: Option<String>,
    active: Option<bool>,
    /// Substring of the name or code, any case, or the exact barcode.
    q: Option<String>,
    /// The SKU with this barcode (GTIN-13), as a till's scanner reads it.
    gtin: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ProductQuery {
    category: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/products", tag = "catalog", request_body = ProductView,
    params(IdempotencyKey),
    responses((status = 201, body = ProductView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_product(State(app): State<AppState>, m: Mutation<ProductView>) -> ApiResult<Response> {
    let p = Product::new(ProductCode::parse(&m.body.product_code)?, &m.body.name, &m.body.category)?;
    Ok(app
        .mutate(&m, StatusCode::CREATED, &|p: &Product| to_json(&ProductView::from(p)), async |idem| app.db.create_product(p, idem).await)
        .await)
}

#[utoipa::path(get, path = "/api/v1/products", tag = "catalog", params(ProductQuery), responses((status = 200, body = PageView<ProductView>), (status = 422, body = Problem)))]
async fn list_products(State(app): State<AppState>, Params(q): Params<ProductQuery>) -> ApiResult<Json<PageView<ProductView>>> {
    if let Some(category) = &q.category {
        check_category(category)?;
    }
    let paging = Paging { limit: q.limit, after: q.after };
    let page = app.db.products(q.category.as_deref(), &paging.request()).await?;
    Ok(Json(PageView::of(page, |p| ProductView::from(&p))))
}

#[utoipa::path(get, path = "/api/v1/products/{product_code}", tag = "catalog", responses((status = 200, body = ProductView), (status = 404, body = Problem)))]
async fn get_product(State(app): State<AppState>, Path(code): Path<String>) -> ApiResult<Json<ProductView>> {
    let p = app.db.product(&code).await?.ok_or_else(|| ApiError::not_found("product_not_found", format!("no product {code}")))?;
    Ok(Json(ProductView::from(&p)))
}

#[utoipa::path(post, path = "/api/v1/skus", tag = "catalog", request_body = SkuInput,
    params(IdempotencyKey),
    responses((status = 201, body = SkuView), (status = 409, body = Problem), (status = 422, body = Problem)))]
async fn create_sku(State(app): State<AppState>, m: Mutation<SkuInput>) -> ApiResult<Response> {
    let b = &m.body;
    let sku = Sku::new(
        SkuCode::parse(&b.sku_code)?,
        ProductCode::parse(&b.product_code).map_err(|e| e.at("product_code"))?,
        &b.name,
        b.attributes.clone(),
        Gtin13::parse(&b.gtin)?,
        b.active.unwrap_or(true),
    )?;
    Ok(app.mutate(&m, StatusCode::CREATED, &render_sku, async |idem| app.db.create_sku(sku, idem).await).await)
}

fn render_sku(r: &SkuRecord) -> String {
    to_json(&SkuView::from(r))
}

#[utoipa::path(get, path = "/api/v1/skus", tag = "catalog", params(SkuQuery), responses((status = 200, body = PageView<SkuView>), (status = 422, body = Problem)))]
async fn list_skus(State(app): State<AppState>, Params(q): Params<SkuQuery>) -> ApiResult<Json<PageView<SkuView>>> {
    if let Some(category) = &q.category {
        check_category(category)?;
    }
    let gtin = q.gtin.as_deref().map(|g| Gtin13::parse(g.trim()).map(|g| g.to_string())).transpose()?;
    let filter =
        SkuFilter { product_code: code_filter("product_code", q.product_code)?, category: q.category, active: q.active, q: q.q, gtin };
    let paging = Paging { limit: q.limit, after: q.after };
    let page = app.db.skus(&filter, &paging.request()).await?;
    Ok(Json(PageView::of(page, |r| SkuView::from(&r))))
}

#[utoipa::path(get, path = "/api/v1/skus/{sku_code}", tag = "catalog", responses((status = 200, body = SkuView), (status = 404, body = Problem)))]
async fn get_sku(State(app): State<AppState>, Path(code): Path<String>) -> ApiResult<Json<SkuView>> {
    let r = app.db.sku(&code).await?.ok_or_else(|| ApiError::not_found("sku_not_found", format!("no SKU {code}")))?;
    Ok(Json(SkuView::from(&r)))
}

#[utoipa::path(patch, path = "/api/v1/skus/{sku_code}", tag = "catalog", request_body = SkuPatchInput,
    params(IdempotencyKey),
    responses((status = 200, body = SkuView), (status = 404, body = Problem), (status = 422, body = Problem)))]
async fn update_sku(State(app): State<AppState>, Path(code): Path<String>, m: Mutation<SkuPatchInput>) -> ApiResult<Response> {
    let code = SkuCode::parse(&code)?;
    let b = &m.body;
    let patch =
        SkuPatch { name: b.name.clone(), attributes: b.attributes.clone(), gtin: opt(b.gtin.as_deref(), Gtin13::parse)?, active: b.active };
    Ok(app.mutate(&m, StatusCode::OK, &render_sku, async |idem| app.db.update_sku(&code, patch, idem).await).await)
}
