//! The API's routes, one module per resource. Each handler parses, converts into domain
//! values, calls one storage method and renders a view.

mod accounts;
mod audit;
mod catalog;
mod event_sight;
mod events;
mod health;
mod locations;
mod members;
mod network;
mod orders;
pub(crate) mod payments;
mod prices;
pub(crate) mod scope;
pub(crate) mod sessions;
mod stock;

pub(crate) use events::{StreamCounts, StreamPlace, credentials_of};
pub(crate) use health::watch_damage;
pub(crate) use network::{NearbyStore, nearest_with_stock, today};
pub(crate) use stock::RADIUS_KM_MAX;

use serde::Serialize;
use tongjia_domain::DomainError;
use tongjia_storage::PageRequest;
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;

use crate::AppState;
use crate::problem::Problem;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tongjia API", description = "One price book, one stock ledger, one order flow for every channel and store."),
    components(schemas(Problem)),
    tags(
        (name = "catalog", description = "Products and SKUs"),
        (name = "locations", description = "Partners, warehouses and stores"),
        (name = "prices", description = "The one price book: channel-blind, versioned"),
        (name = "stock", description = "The one stock ledger"),
        (name = "orders", description = "One order flow and one customer across every channel"),
        (name = "network", description = "The store network on China's real map: coverage, gaps, planner, locator"),
        (name = "events", description = "The outbox"),
        (name = "access", description = "Signing in, API tokens and staff accounts"),
    )
)]
struct ApiDoc;

/// Every API route with its OpenAPI description.
pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(catalog::router())
        .merge(locations::router())
        .merge(prices::router())
        .merge(stock::router())
        .merge(orders::router())
        .merge(payments::router())
        .merge(network::router())
        .merge(events::router())
        .merge(sessions::router())
        .merge(accounts::router())
        .merge(members::router())
        .merge(audit::router())
}

/// `?limit=&after=` on every list.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct Paging {
    /// Items per page, 1–500 (default 50).
    limit: Option<u32>,
    /// The `next_cursor` of the previous page.
    after: Option<String>,
}

impl Paging {
    fn request(&self) -> PageRequest {
        PageRequest { limit: self.limit, after: self.after.clone() }
    }
}

/// A page of items and the cursor of the next page (null on the last).
#[derive(Serialize, ToSchema)]
pub(crate) struct PageView<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

impl<T> PageView<T> {
    fn of<U>(page: tongjia_storage::Page<U>, f: impl FnMut(U) -> T) -> Self {
        let page = page.map(f);
        PageView { items: page.items, next_cursor: page.next_cursor }
    }
}

/// JSON text of a view (views always serialize).
pub(crate) fn to_json<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
}

/// Parses an optional value with a domain parser.
fn opt<T>(raw: Option<&str>, parse: impl Fn(&str) -> Result<T, DomainError>) -> Result<Option<T>, DomainError> {
    raw.map(parse).transpose()
}

/// A code given as a list filter, checked like the code it is compared with, so a filter
/// that can match nothing (`location_code=wh-1`) is refused rather than answered empty.
fn code_filter(field: &str, raw: Option<String>) -> Result<Option<String>, DomainError> {
    if let Some(code) = &raw {
        tongjia_domain::codes::check_code(field, code)?;
    }
    Ok(raw)
}

/// The `Idempotency-Key` header every mutation accepts.
#[derive(Debug, serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Header)]
#[allow(dead_code)]
pub(crate) struct IdempotencyKey {
    /// A key of the caller's choosing (1–255 visible ASCII characters): a repeat of the same
    /// request replays the first answer; the same key with another request is refused (422).
    #[serde(rename = "Idempotency-Key")]
    idempotency_key: Option<String>,
}
