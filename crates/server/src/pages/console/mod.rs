//! `/console`: headquarters' screens, by role — the dashboard, prices (schedule a change,
//! a SKU's history, how many stores' open tills have it), the coverage map of China, orders
//! with their sourcing and ledger entries, the audit trail (`hq_admin`), and shelf labels.
//! Like every page, each reads and writes through the storage and domain calls the API uses.

mod dashboard;
mod labels;
mod map;
mod network;
mod orders;
mod prices;

use axum::Router;
use axum::routing::get;
use maud::{Markup, html};

use super::{Lang, Shell, layout};
pub(super) use super::{fields, first};
use crate::AppState;
use crate::auth::{Caller, SessionCsrf};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(dashboard::show))
        .route("/console/prices", get(prices::show).post(prices::schedule))
        .route("/console/prices/batch", axum::routing::post(prices::schedule_batch))
        .route("/console/prices/{sku_code}", get(prices::history))
        .route("/console/stores", get(network::stores))
        .route("/console/stores/{store_code}", get(network::store))
        .route("/console/stock", get(network::stock))
        .route("/console/map", get(map::show))
        .route("/console/orders", get(orders::list))
        .route("/console/orders/{order_id}", get(orders::one))
        .route("/console/audit", get(orders::audit))
        .route("/console/labels", get(labels::sheet_page))
}

/// The console's own links, under the landing bar.
const SECTIONS: &[(&str, &str)] = &[
    ("/console", "dashboard"),
    ("/console/prices", "prices"),
    ("/console/stores", "stores"),
    ("/console/stock", "stock"),
    ("/console/map", "coverage_map"),
    ("/console/orders", "orders"),
    ("/console/audit", "audit"),
    ("/console/labels", "shelf_labels"),
];

/// A console page: the section links, then `body`.
pub(super) fn frame(lang: Lang, caller: &Caller, csrf: &SessionCsrf, title: &str, here: &str, body: Markup) -> Markup {
    let signed = caller.0.as_ref().map(|p| (p.name.as_str(), csrf.0.as_deref().unwrap_or("")));
    let body = html! {
        nav.card.sections {
            @for (path, key) in SECTIONS {
                a href=(lang.link(path)) aria-current=[(*path == here.split('?').next().unwrap_or("")).then_some("page")] { (lang.t(key)) }
            }
        }
        (body)
    };
    layout(&Shell { signed, ..Shell::public(lang, title, here) }, body)
}

/// A time as headquarters in China reads it.
pub(super) fn local(t: jiff::Timestamp) -> String {
    t.to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8))).strftime("%Y-%m-%d %H:%M").to_string()
}
